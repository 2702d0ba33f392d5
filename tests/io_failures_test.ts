/**
 * The machine refusing a write (a full disk, a read-only file system, a path through a file)
 * is reported as what it is: `IO_FAILED`, exit 1, a message naming the path, no stack trace,
 * and the previous file intact. On real file systems: tmpfs mounts of a few KiB (the tests
 * that need one are ignored, with the reason printed, where they may not mount one; never under
 * `CI=true`, where they fail instead).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { atomicWriteFile } from "../registry/mod.ts";
import { FeatureStore, writeTable } from "../mod.ts";
import { DRIVER_FEATURES, tempRepo } from "./support/repo.ts";
import { mountTmpfs, noTmpfs } from "./support/tmpfs.ts";

const MAIN = new URL("../cli/main.ts", import.meta.url).pathname;

async function larder(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  // deno-lint-ignore no-control-regex -- stripping ANSI color codes is the point
  const strip = (b: Uint8Array) => new TextDecoder().decode(b).replace(/\x1b\[[0-9;]*m/g, "");
  return { code: out.code, stdout: strip(out.stdout), stderr: strip(out.stderr) };
}

function noStack(text: string): void {
  assert.doesNotMatch(text, /^\s+at /m, `unexpected stack trace:\n${text}`);
  assert.doesNotMatch(text, /internal error/);
}

Deno.test({
  name: "atomicWriteFile() on a full disk or a read-only file system keeps the old file",
  ignore: noTmpfs,
}, async () => {
  const fs = await mountTmpfs(64);
  try {
    const path = join(fs.dir, "registry.json");
    await atomicWriteFile(path, "old");
    await fs.fill();
    await assert.rejects(() => atomicWriteFile(path, "x".repeat(100_000)), {
      code: "IO_FAILED",
      message: `Cannot write "${path}": no space left on device; nothing was changed`,
    });
    assert.equal(await Deno.readTextFile(path), "old");
    await Deno.remove(join(fs.dir, ".filler"));
    await fs.readOnly();
    await assert.rejects(() => atomicWriteFile(path, "new"), {
      code: "IO_FAILED",
      message: `Cannot write "${path}": read-only file system; nothing was changed`,
    });
    assert.equal(await Deno.readTextFile(path), "old");
    assert.deepEqual([...Deno.readDirSync(fs.dir)].map((e) => e.name), ["registry.json"]);
  } finally {
    await fs.remove();
  }
});

Deno.test({
  name:
    "larder apply on a full disk or a read-only registry folder exits 1; the registry is intact",
  ignore: noTmpfs,
}, async () => {
  const fs = await mountTmpfs(256);
  const registry = join(fs.dir, "registry.json");
  const repo = await tempRepo({
    "larder.yaml": `project: test_project\nregistry:\n  type: file\n  path: ${registry}\n`,
  });
  try {
    const first = await larder(["apply", "--repo", repo.dir, "--skip-source-validation"]);
    assert.equal(first.code, 0, first.stderr);
    const before = await Deno.readTextFile(registry);
    await repo.write(
      "features.ts",
      DRIVER_FEATURES.replace('acc_rate: "float32"', 'acc_rate: "float32", speed: "float32"'),
    );

    await fs.fill();
    const full = await larder(["apply", "--repo", repo.dir, "--skip-source-validation"]);
    assert.equal(full.code, 1, full.stderr);
    assert.equal(
      full.stderr.trim(),
      `error: Cannot write "${registry}": no space left on device; nothing was changed`,
    );
    noStack(full.stderr);
    assert.equal(await Deno.readTextFile(registry), before);
    const json = await larder(["apply", "--repo", repo.dir, "--skip-source-validation", "--json"]);
    assert.equal(json.code, 1);
    assert.equal(JSON.parse(json.stderr).error.code, "IO_FAILED");

    await Deno.remove(join(fs.dir, ".filler"));
    await fs.readOnly();
    const readOnly = await larder(["apply", "--repo", repo.dir, "--skip-source-validation"]);
    assert.equal(readOnly.code, 1, readOnly.stderr);
    assert.equal(
      readOnly.stderr.trim(),
      `error: Cannot write the registry at "${registry}": read-only file system; nothing was changed`,
    );
    noStack(readOnly.stderr);
    assert.equal(await Deno.readTextFile(registry), before);
  } finally {
    await repo.remove();
    await fs.remove();
  }
});

/** A repo with driver stats, applied, and a CSV entity file; `historical(output)` runs the CLI. */
async function historicalRepo() {
  const repo = await tempRepo();
  await writeTable(join(repo.dir, "data/driver_stats.parquet"), {
    driver_id: [1001],
    event_timestamp: ["2024-01-01T00:00:00Z"],
    created: ["2024-01-01T00:00:00Z"],
    conv_rate: [0.5],
    acc_rate: [0.25],
  }, {
    driver_id: "int64",
    event_timestamp: "timestamp",
    created: "timestamp",
    conv_rate: "float32",
    acc_rate: "float32",
  });
  const rows = ["driver_id,event_timestamp"];
  for (let i = 0; i < 5000; i++) rows.push(`1001,2024-01-01T01:00:00Z`);
  await repo.write("entities.csv", `${rows.join("\n")}\n`);
  const apply = await larder(["apply", "--repo", repo.dir]);
  assert.equal(apply.code, 0, apply.stderr);
  const historical = (output: string) =>
    larder([
      "get-historical-features",
      "--repo",
      repo.dir,
      "--entities",
      join(repo.dir, "entities.csv"),
      "--features",
      "driver_hourly_stats:conv_rate",
      "--output",
      output,
    ]);
  return { repo, historical };
}

Deno.test("larder get-historical-features through a file exits 1", async () => {
  const { repo, historical } = await historicalRepo();
  try {
    await repo.write("notes.txt", "not a folder");
    const through = join(repo.dir, "notes.txt", "train.csv");
    const notDir = await historical(through);
    assert.equal(notDir.code, 1, notDir.stderr);
    assert.equal(
      notDir.stderr.trim(),
      `error: Cannot write "${through}": a part of the path is a file, not a folder; nothing was changed`,
    );
    noStack(notDir.stderr);
  } finally {
    await repo.remove();
  }
});

Deno.test({
  name: "larder get-historical-features to a full disk exits 1; the old output stays",
  ignore: noTmpfs,
}, async () => {
  const { repo, historical } = await historicalRepo();
  const fs = await mountTmpfs(64);
  try {
    const output = join(fs.dir, "train.csv");
    await Deno.writeTextFile(output, "previous\n");
    await fs.fill();
    const full = await historical(output);
    assert.equal(full.code, 1, full.stderr);
    assert.match(
      full.stderr,
      new RegExp(
        `^error: Cannot write "${output}": no space left on device; nothing was changed$`,
        "m",
      ),
    );
    noStack(full.stderr);
    assert.equal(await Deno.readTextFile(output), "previous\n");
    assert.deepEqual(
      [...Deno.readDirSync(fs.dir)].map((e) => e.name).sort(),
      [".filler", "train.csv"],
    );
  } finally {
    await repo.remove();
    await fs.remove();
  }
});

Deno.test({
  name: "FeatureStore.push() to offline on a full disk is IO_FAILED and adds no file",
  ignore: noTmpfs,
}, async () => {
  const fs = await mountTmpfs(64);
  const repo = await tempRepo({
    "features.ts": `
import { entity, featureView, fileSource, pushSource } from "larder";
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
export const batch = fileSource({ name: "batch", path: "${fs.dir}/pushed", timestampField: "ts" });
export const push = pushSource({ name: "push", batchSource: batch });
export const stats = featureView({ name: "stats", entities: [driver], schema: { x: "float64" }, source: push });
`,
  });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply({ skipSourceValidation: true });
    await Deno.mkdir(join(fs.dir, "pushed"));
    await fs.fill();
    const rows = 2000;
    await assert.rejects(
      store.push("push", {
        driver_id: Array.from({ length: rows }, (_, i) => i),
        ts: Array.from({ length: rows }, () => "2024-01-01T00:00:00Z"),
        x: Array.from({ length: rows }, (_, i) => i / 3),
      }, { to: "offline" }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, "IO_FAILED", err.message);
        assert.match(
          err.message,
          new RegExp(
            `^Cannot write "${fs.dir}/pushed/push-.*\\.parquet": no space left on device; nothing was changed$`,
          ),
        );
        return true;
      },
    );
    assert.deepEqual([...Deno.readDirSync(join(fs.dir, "pushed"))], []);
  } finally {
    await store.close();
    await repo.remove();
    await fs.remove();
  }
});

Deno.test("larder init through a file exits 1 naming the path", async () => {
  const repo = await tempRepo();
  try {
    await repo.write("notes.txt", "not a folder");
    for (const target of [join(repo.dir, "notes.txt"), join(repo.dir, "notes.txt", "new_repo")]) {
      const out = await larder(["init", target, "--no-data"]);
      assert.equal(out.code, 1, out.stderr);
      assert.match(
        out.stderr,
        /^error: Cannot read ".*": a part of the path is a file, not a folder$/m,
      );
      noStack(out.stderr);
    }
  } finally {
    await repo.remove();
  }
});
