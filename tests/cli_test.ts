import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore } from "../mod.ts";
import { writeTable } from "../engine/mod.ts";
import { DRIVER_FEATURES, tempRepo } from "./support/repo.ts";
import { latestWeather, T0, tripData, writeTripData } from "./support/trip_data.ts";

const MAIN = new URL("../cli/main.ts", import.meta.url).pathname;

async function larder(args: string[], cwd?: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    ...(cwd ? { cwd, env: { INIT_CWD: cwd } } : {}),
  }).output();
  // deno-lint-ignore no-control-regex -- stripping ANSI color codes is the point
  const strip = (b: Uint8Array) => new TextDecoder().decode(b).replace(/\x1b\[[0-9;]*m/g, "");
  return { code: out.code, stdout: strip(out.stdout), stderr: strip(out.stderr) };
}

function noStack(text: string): void {
  assert.doesNotMatch(text, /^\s+at /m, `unexpected stack trace:\n${text}`);
}

Deno.test("larder plan/apply --json: plan, apply, then nothing to apply", async () => {
  const repo = await tempRepo();
  try {
    const plan = await larder(["plan", "--repo", repo.dir, "--json"]);
    assert.equal(plan.code, 0, plan.stderr);
    const planned = JSON.parse(plan.stdout);
    assert.deepEqual(planned.changes.map((c: { action: string }) => c.action), [
      "create",
      "create",
      "create",
      "create",
    ]);
    assert.equal(await repo.read("data/registry.json"), null);

    const apply = await larder(["apply", "--repo", repo.dir, "--skip-source-validation", "--json"]);
    assert.equal(apply.code, 0, apply.stderr);
    assert.deepEqual(JSON.parse(apply.stdout).written, true);
    const again = await larder(["apply", "--skip-source-validation"], repo.dir);
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      again.stdout,
      /Nothing to apply: the registry \(version 1\) already matches the repo\./,
    );

    const list = await larder(["feature-views", "list", "--repo", repo.dir]);
    assert.match(
      list.stdout,
      /^NAME +ENTITIES +FEATURES +TTL +SOURCE +ONLINE\ndriver_hourly_stats +driver +2 +7200s/,
    );
    const describe = await larder(["entities", "describe", "driver", "--repo", repo.dir]);
    assert.deepEqual(JSON.parse(describe.stdout).spec.joinKeys, ["driver_id"]);
    const dump = await larder(["registry-dump", "--repo", repo.dir]);
    assert.equal(JSON.parse(dump.stdout).version, 1);
  } finally {
    await repo.remove();
  }
});

Deno.test("larder apply with a bad larder.yaml exits 1 naming the file and field", async () => {
  const repo = await tempRepo({ "larder.yaml": "project: demo\nonline_store:\n  type: reddis\n" });
  try {
    const result = await larder(["apply", "--repo", repo.dir, "--skip-source-validation"]);
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr.trim(),
      'error: larder.yaml: online_store.type: expected "deno_kv", "sqlite" or "redis", got "reddis"',
    );
    noStack(result.stderr);
    assert.equal(await repo.read("data/registry.json"), null);
  } finally {
    await repo.remove();
  }
});

Deno.test("larder apply with bad definitions exits 1 and writes nothing", async () => {
  const repo = await tempRepo({
    "features.ts": DRIVER_FEATURES.replace("entities: [driver]", 'entities: ["drivr"]'),
  });
  try {
    const result = await larder(["apply", "--repo", repo.dir, "--skip-source-validation"]);
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr.trim(),
      'error: features.ts: Feature view "driver_hourly_stats": entity "drivr" is not defined: the repo has "driver"',
    );
    noStack(result.stderr);
    assert.equal(await repo.read("data/registry.json"), null);
    const json = await larder(["plan", "--repo", repo.dir, "--json"]);
    assert.equal(json.code, 1);
    assert.equal(JSON.parse(json.stderr).error.code, "DEFINITION_INVALID");
  } finally {
    await repo.remove();
  }
});

Deno.test("larder rejects unknown commands, flags and arguments with exit 1", async () => {
  const unknown = await larder(["aply"]);
  assert.equal(unknown.code, 1);
  assert.match(
    unknown.stderr,
    /^error: Unknown command "aply" \(did you mean "apply"\?\): run "larder --help" for the list/,
  );
  const far = await larder(["deploy"]);
  assert.match(far.stderr, /^error: Unknown command "deploy": run "larder --help"/);
  const flag = await larder(["plan", "--repoo", "x"]);
  assert.equal(flag.code, 1);
  assert.match(
    flag.stderr,
    /^error: plan: Unknown option '--repoo': did you mean "--repo"\? \(see "larder plan --help"\)/,
  );
  noStack(flag.stderr);
  const yaml = await tempRepo({ "larder.yaml": "project: demo\nregisty:\n  type: file\n" });
  try {
    const config = await larder(["plan", "--repo", yaml.dir]);
    assert.equal(config.code, 1);
    assert.equal(
      config.stderr.trim(),
      'error: larder.yaml: unknown key "registy" (did you mean "registry"?)',
    );
  } finally {
    await yaml.remove();
  }
  const extra = await larder(["plan", "extra"]);
  assert.equal(extra.code, 1);
  assert.match(extra.stderr, /^error: plan: takes no arguments$/m);
  const verb = await larder(["entities", "lst"]);
  assert.equal(verb.code, 1);
  assert.match(verb.stderr, /^error: entities: expected "list" or "describe", got "lst"/);
  const missing = await larder(["plan", "--repo", "/nonexistent/larder"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^error: Cannot find larder\.yaml in "\/nonexistent\/larder"/);
});

Deno.test("larder --version prints the version", async () => {
  const { VERSION } = await import("../cli/version.ts");
  assert.match(VERSION, /^\d+\.\d+\.\d+/);
  for (const flag of ["--version", "-V"]) {
    const out = await larder([flag]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, `larder ${VERSION}\n`);
  }
  const json = await larder(["--version", "--json"]);
  assert.deepEqual(JSON.parse(json.stdout), { version: VERSION });
});

Deno.test("larder --help lists every command and each command has --help", async () => {
  const help = await larder(["--help"]);
  assert.equal(help.code, 0);
  for (
    const name of [
      "init",
      "plan",
      "apply",
      "teardown",
      "registry-dump",
      "entities",
      "feature-views",
    ]
  ) {
    assert.match(help.stdout, new RegExp(`^${name} `, "m"));
  }
  const planHelp = await larder(["plan", "--help"]);
  assert.equal(planHelp.code, 0);
  assert.match(planHelp.stdout, /^Usage: larder plan \[--repo DIR\] \[--json\]/);
});

Deno.test("larder init --no-data scaffolds a repo that plans and applies without data", async () => {
  const dir = await Deno.makeTempDir({ prefix: "larder-init-" });
  try {
    const target = join(dir, "my_repo");
    const init = await larder(["init", target, "--no-data"]);
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, /put your Parquet or CSV files under .*data\//);
    const yaml = await Deno.readTextFile(join(target, "larder.yaml"));
    assert.match(yaml, /^project: my_repo$/m);
    const denoJson = JSON.parse(await Deno.readTextFile(join(target, "deno.json")));
    // An absolute URL of this Larder, not a path relative to where the repo was made.
    assert.equal(denoJson.imports.larder, new URL("../mod.ts", import.meta.url).href);
    // The native offline engine (offline_store.engine: native) loads it from the repo's map.
    assert.equal(denoJson.imports["@duckdb/node-api"], "npm:@duckdb/node-api@1.4.4-r.3");
    assert.equal(denoJson.imports["puppeteer-core"], undefined, "test-only");
    assert.equal(
      denoJson.tasks.larder,
      `deno run -A ${new URL("../cli/main.ts", import.meta.url).href}`,
    );
    assert.equal(denoJson.tasks["generate-data"], undefined, "no script without data");
    // Nothing points at data that is not there.
    const features = await Deno.readTextFile(join(target, "features.ts"));
    assert.doesNotMatch(
      features.split("\n").filter((l) => !/^\s*(\/\/|\*)/.test(l)).join("\n"),
      /path:/,
    );
    assert.doesNotMatch(await Deno.readTextFile(join(target, ".gitignore")), /^\/?data\/?$/m);
    const plan = await larder(["plan", "--repo", target, "--json"]);
    assert.equal(plan.code, 0, plan.stderr);
    const planned = JSON.parse(plan.stdout).changes as {
      kind: string;
      name: string;
      action: string;
    }[];
    assert.deepEqual(planned.map((c) => `${c.kind}:${c.name}:${c.action}`), [
      "entity:driver:create",
    ]);
    const apply = await larder(["apply", "--repo", target]);
    assert.equal(apply.code, 0, apply.stderr);
    const again = await larder(["init", target, "--no-data"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /is not empty \(use --force/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("larder apply warns when the registry is empty but the online store holds data", async () => {
  const repo = await tempRepo();
  try {
    const first = await larder(["apply", "--repo", repo.dir, "--skip-source-validation"]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stderr, "");
    const store = await FeatureStore.open({ repo: repo.dir });
    await (await store.onlineStore()).write("driver_hourly_stats", [
      { entityKey: "driver_id=1", record: { eventMicros: 1, createdMicros: null, values: {} } },
    ]);
    await store.close();
    await Deno.remove(join(repo.dir, "data/registry.json"));
    const again = await larder(["apply", "--repo", repo.dir, "--skip-source-validation", "--json"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      again.stderr,
      /^Warning: The registry \(.*\) is empty, but the online store \(sqlite .*\) holds data of feature views "driver_hourly_stats": the registry may have been reset; /,
    );
    const out = JSON.parse(again.stdout);
    assert.equal(out.warnings.length, 1);
    assert.match(out.warnings[0], /materialize-incremental starts again from each view's ttl$/);
  } finally {
    await repo.remove();
  }
});

Deno.test("larder materialize --disable-event-timestamp: from 1970 to now, as Feast's CLI; no START or END", async () => {
  const repo = await tempRepo();
  try {
    await writeTable(join(repo.dir, "data/driver_stats.parquet"), {
      driver_id: [1001, 1002],
      event_timestamp: ["2024-01-01T00:00:00Z", "2999-01-01T00:00:00Z"],
      created: [null, null],
      conv_rate: [0.5, 0.25],
      acc_rate: [0.9, 0.9],
    }, {
      driver_id: "int64",
      event_timestamp: "timestamp",
      created: "timestamp",
      conv_rate: "float32",
      acc_rate: "float32",
    });
    const apply = await larder(["apply", "--repo", repo.dir]);
    assert.equal(apply.code, 0, apply.stderr);
    const both = await larder([
      "materialize",
      "2024-01-01",
      "2024-01-02",
      "--disable-event-timestamp",
      "--repo",
      repo.dir,
    ]);
    assert.equal(both.code, 1, both.stderr);
    assert.equal(
      both.stderr.trim(),
      "error: materialize: START and END cannot be given with --disable-event-timestamp",
    );
    const neither = await larder(["materialize", "--repo", repo.dir]);
    assert.equal(neither.code, 1, neither.stderr);
    assert.equal(
      neither.stderr.trim(),
      "error: materialize: expected START and END (or --disable-event-timestamp)",
    );
    const before = Date.now();
    const run = await larder([
      "materialize",
      "--disable-event-timestamp",
      "--repo",
      repo.dir,
      "--json",
    ]);
    assert.equal(run.code, 0, run.stderr);
    const [view] = JSON.parse(run.stdout).views;
    assert.equal(view.view, "driver_hourly_stats");
    assert.equal(view.start, "1970-01-01T00:00:00.000Z");
    const end = Date.parse(view.end);
    assert.ok(end >= before - 1000 && end <= Date.now(), `end ${view.end} is now`);
    assert.equal(view.rows, 1, "the row dated after now is outside the window");
  } finally {
    await repo.remove();
  }
});

Deno.test("larder materialize before apply and after teardown exits 1: the registry is empty", async () => {
  const repo = await tempRepo();
  try {
    const expected = "error: Cannot materialize: the registry is empty: run apply first";
    const before = await larder(["materialize", "2024-01-01", "2024-01-02", "--repo", repo.dir]);
    assert.equal(before.code, 1, before.stderr);
    assert.equal(before.stderr.trim(), expected);
    const incremental = await larder(["materialize-incremental", "2024-01-02", "--repo", repo.dir]);
    assert.equal(incremental.code, 1, incremental.stderr);
    assert.equal(incremental.stderr.trim(), expected);
    const apply = await larder(["apply", "--repo", repo.dir, "--skip-source-validation"]);
    assert.equal(apply.code, 0, apply.stderr);
    const teardown = await larder(["teardown", "--repo", repo.dir]);
    assert.equal(teardown.code, 0, teardown.stderr);
    const after = await larder([
      "materialize",
      "2024-01-01",
      "2024-01-02",
      "--repo",
      repo.dir,
      "--json",
    ]);
    assert.equal(after.code, 1, after.stderr);
    assert.deepEqual(JSON.parse(after.stderr), {
      error: {
        code: "NOT_FOUND",
        message: "Cannot materialize: the registry is empty: run apply first",
      },
    });
  } finally {
    await repo.remove();
  }
});

Deno.test("larder get-online-features and apply with a service joining one view twice", async () => {
  const features = await Deno.readTextFile(new URL("./support/trip_features.ts", import.meta.url));
  const repo = await tempRepo({ "features.ts": features });
  try {
    const { weather } = tripData(51);
    await writeTripData(repo.dir, weather);
    const store = await FeatureStore.open({ repo: repo.dir });
    try {
      await store.apply();
      await store.materialize({
        start: new Date(T0 - 86_400_000),
        end: new Date(T0 + 3 * 86_400_000),
      });
    } finally {
      await store.close();
    }
    const online = await larder([
      "get-online-features",
      "--repo",
      repo.dir,
      "--feature-service",
      "trip_weather",
      "--entities",
      '{"origin_id": [2], "destination_id": [4]}',
      "--full-feature-names",
      "--json",
    ]);
    assert.equal(online.code, 0, online.stderr);
    const body = JSON.parse(online.stdout);
    assert.deepEqual(body.metadata.feature_names, [
      "origin_id",
      "destination_id",
      "origin__temperature",
      "origin__humidity",
      "destination__temperature",
    ]);
    assert.deepEqual(body.results[4].values, [latestWeather(weather, 4)?.temperature ?? null]);
    const listed = await larder(["feature-services", "list", "--repo", repo.dir]);
    assert.match(
      listed.stdout,
      /trip_weather +origin=weather:temperature,humidity destination=weather:temperature /,
    );

    await repo.write(
      "features.ts",
      features.replace('withName("destination")', 'withName("origin")'),
    );
    const apply = await larder(["apply", "--repo", repo.dir]);
    assert.equal(apply.code, 1, apply.stderr);
    noStack(apply.stderr);
    assert.match(
      apply.stderr,
      /features\.ts: Feature service "trip_weather": two projections are named "origin" \(both of feature view "weather", with different join-key maps\): give each a distinct name with withName\(\)/,
    );
  } finally {
    await repo.remove();
  }
});

Deno.test("larder plan shows the old and new value of each changed field", async () => {
  const repo = await tempRepo();
  try {
    const apply = await larder(["apply", "--repo", repo.dir, "--skip-source-validation"]);
    assert.equal(apply.code, 0, apply.stderr);
    await repo.write("features.ts", DRIVER_FEATURES.replace('ttl: "2h"', 'ttl: "3h"'));
    const plan = await larder(["plan", "--repo", repo.dir]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(
      plan.stdout,
      /^~ +feature view +driver_hourly_stats +update +ttlSeconds\n +ttl: 2h → 3h$/m,
    );
    const json = await larder(["plan", "--repo", repo.dir, "--json"]);
    const change = JSON.parse(json.stdout).changes.find((c: { name: string }) =>
      c.name === "driver_hourly_stats"
    );
    assert.deepEqual(change.diff, { ttlSeconds: { old: 7200, new: 10800 } });
  } finally {
    await repo.remove();
  }
});

Deno.test("larder materialize lists the write-time on-demand views written with each view", async () => {
  const repo = await tempRepo({
    "features.ts": `${DRIVER_FEATURES}
import { onDemandFeatureView } from "larder";
export const convPct = onDemandFeatureView({
  name: "conv_pct",
  sources: [stats.select(["conv_rate"])],
  schema: { conv_pct: "float64" },
  writeToOnlineStore: true,
  transform: (c) => ({ conv_pct: c.conv_rate.map((r) => r === null ? null : r * 100) }),
});
`,
  });
  try {
    await writeTable(join(repo.dir, "data/driver_stats.parquet"), {
      driver_id: [1001, 1002],
      event_timestamp: ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"],
      created: [null, null],
      conv_rate: [0.5, 0.25],
      acc_rate: [0.9, 0.9],
    }, {
      driver_id: "int64",
      event_timestamp: "timestamp",
      created: "timestamp",
      conv_rate: "float32",
      acc_rate: "float32",
    });
    const apply = await larder(["apply", "--repo", repo.dir]);
    assert.equal(apply.code, 0, apply.stderr);
    const window = ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"];
    const text = await larder(["materialize", ...window, "--repo", repo.dir]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /^driver_hourly_stats +\S+ +\S+ +2 +2 +0 +0\n {2}conv_pct \(on demand\) +2 +0$/m,
    );
    const json = await larder(["materialize", ...window, "--repo", repo.dir, "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const [view] = JSON.parse(json.stdout).views;
    assert.deepEqual(view.onDemand, [{ view: "conv_pct", written: 0, skipped: 2 }]);
  } finally {
    await repo.remove();
  }
});
