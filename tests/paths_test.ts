/**
 * The paths rule, from a working folder that is not the repo: paths on the command line
 * (`--repo`, `--entities`, `--output`) are relative to the working folder; paths in
 * `larder.yaml` and the definitions (sources, registry, online store), and paths given to the
 * SDK's store methods (entity files, `job.write`), are relative to the repo.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore } from "../mod.ts";
import { writeTable } from "../engine/mod.ts";
import { DRIVER_FEATURES, tempRepo } from "./support/repo.ts";

const CLI = new URL("../cli/main.ts", import.meta.url).pathname;
const SERVER = new URL("../server/main.ts", import.meta.url).pathname;
const CHECKOUT = new URL("..", import.meta.url).pathname;

const YAML = `project: paths
registry:
  type: file
  path: state/registry.json
online_store:
  type: sqlite
  path: state/online.sqlite
`;

async function repoWithData() {
  const repo = await tempRepo({ "larder.yaml": YAML, "features.ts": DRIVER_FEATURES });
  await writeTable(join(repo.dir, "data/driver_stats.parquet"), {
    driver_id: [1001, 1002],
    event_timestamp: ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"],
    created: [null, null],
    conv_rate: [0.5, 0.25],
    acc_rate: [0.9, 0.8],
  }, {
    driver_id: "int64",
    event_timestamp: "timestamp",
    created: "timestamp",
    conv_rate: "float32",
    acc_rate: "float32",
  });
  await writeTable(join(repo.dir, "data/entities.parquet"), {
    driver_id: [1001],
    event_timestamp: ["2024-01-01T01:00:00Z"],
  }, { driver_id: "int64", event_timestamp: "timestamp" });
  return repo;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("larder run from another folder: flags relative to it, larder.yaml paths to the repo", async () => {
  const repo = await repoWithData();
  const work = await Deno.makeTempDir({ prefix: "larder-work-" });
  try {
    await writeTable(join(work, "mine/entities.csv"), {
      driver_id: [1002],
      event_timestamp: ["2024-01-01T01:00:00Z"],
    }, { driver_id: "int64", event_timestamp: "timestamp" });
    const larder = (...args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", CLI, ...args],
        cwd: work,
        env: { INIT_CWD: work },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const apply = await larder("apply", "--repo", repo.dir);
    assert.equal(apply.code, 0, new TextDecoder().decode(apply.stderr));
    assert.ok(await exists(join(repo.dir, "state/registry.json")), "registry in the repo");
    const historical = await larder(
      "get-historical-features",
      "--repo",
      repo.dir,
      "--entities",
      "mine/entities.csv",
      "--features",
      "driver_hourly_stats:conv_rate",
      "--output",
      "out/training.json",
    );
    assert.equal(historical.code, 0, new TextDecoder().decode(historical.stderr));
    const rows = JSON.parse(await Deno.readTextFile(join(work, "out/training.json")));
    assert.equal(rows[0].conv_rate, 0.25);
    const materialize = await larder(
      "materialize",
      "2024-01-01T00:00:00Z",
      "2024-01-02T00:00:00Z",
      "--repo",
      repo.dir,
    );
    assert.equal(materialize.code, 0, new TextDecoder().decode(materialize.stderr));
    assert.ok(await exists(join(repo.dir, "state/online.sqlite")), "online store in the repo");
    assert.ok(!await exists(join(work, "state")), "nothing under the working folder");
  } finally {
    await repo.remove();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("FeatureStore: entity files and job.write() are relative to the repo, not the working folder", async () => {
  const repo = await repoWithData();
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply();
    const job = await store.getHistoricalFeatures({
      entities: "data/entities.parquet",
      features: ["driver_hourly_stats:conv_rate"],
    });
    assert.deepEqual(await job.write("out/training.csv"), { rows: 1 });
    assert.match(await Deno.readTextFile(join(repo.dir, "out/training.csv")), /^driver_id,/);
    assert.ok(!await exists(join(Deno.cwd(), "out/training.csv")));
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("serve: --repo is relative to the folder the user ran deno task from", async () => {
  const repo = await repoWithData();
  const parent = join(repo.dir, "..");
  const name = repo.dir.slice(parent.length + 1);
  // As `deno task serve` runs it: in the checkout, with the user's folder in INIT_CWD.
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SERVER, "--repo", name, "--port", "0"],
    cwd: CHECKOUT,
    env: { INIT_CWD: parent },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stderr = new Response(child.stderr).text();
  try {
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    if (!/http:\/\/127\.0\.0\.1:\d+/.test(text)) {
      child.kill("SIGTERM");
      assert.fail(`the server did not start on the repo: ${await stderr}`);
    }
  } finally {
    try {
      child.kill("SIGTERM");
    } catch {
      // already ended
    }
    await child.status;
    await reader.cancel().catch(() => {});
    await stderr.catch(() => {});
    await repo.remove();
  }
});
