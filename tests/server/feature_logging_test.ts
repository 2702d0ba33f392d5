/**
 * Feature logging through the real feature server: online reads of services with `logging`
 * become Parquet parts under `date=…/` folders (real files), sampled, bounded, flushed on
 * demand and at `serve`'s graceful stop, never failing or slowing the read; and the parts read
 * back as a file source for historical retrieval (logged features as training data).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type FeatureLogger,
  FeatureStore,
  LocalLogSink,
  type LogSinkFactory,
} from "../../engine/mod.ts";
import { readParquetFile } from "../../engine/offline/mod.ts";
import { createApp, depsFromFeatureStore, type WiredDeps } from "../../server/mod.ts";
import { prng } from "../support/prng.ts";
import { type TempRepo, tempRepo } from "../support/repo.ts";
import { SERVER_FEATURES, statsRows, writeStatsData } from "./_harness.ts";

const FEATURES = `${SERVER_FEATURES}
export const logged = featureService({
  name: "logged",
  features: [stats, trips.select(["trips_today"])],
  logging: { destination: { path: "data/logs/logged" } },
});
export const sampled = featureService({
  name: "sampled",
  features: [trips],
  logging: { sampleRate: 0.25, destination: { path: "data/logs/sampled" } },
});
export const failing = featureService({
  name: "failing",
  features: [trips.select(["rating"])],
  logging: { destination: { path: "data/logs/failing" } },
});
export const blocked = featureService({
  name: "blocked",
  features: [trips.select(["rating"])],
  logging: { destination: { path: "data/logs/blocked" } },
});
export const shutdown = featureService({
  name: "shutdown",
  features: [trips.select(["trips_today"])],
  logging: { destination: { path: "data/logs/shutdown" } },
});
// The log of "logged", read back as a source for training.
export const loggedSource = fileSource({
  name: "logged_source",
  path: "data/logs/logged",
  timestampField: "__log_timestamp",
});
export const loggedView = featureView({
  name: "logged_features",
  entities: [driver],
  schema: {
    driver_hourly_stats__conv_rate: "float32",
    driver_hourly_stats__conv_rate__status: "int32",
    driver_trips__trips_today: "int64",
  },
  source: loggedSource,
  online: false,
});
`;

const YAML = `project: test_project
feature_server:
  logging:
    queue_size: 40
    batch_size: 40
    flush_interval_seconds: 3600
`;

const DAY1 = Date.parse("2026-12-03T12:00:00Z");
const DAY2 = Date.parse("2026-12-04T08:00:00Z");

// deno-lint-ignore no-explicit-any
type Json = any;

interface Setup {
  readonly repo: TempRepo;
  readonly store: FeatureStore;
  readonly wired: WiredDeps;
  readonly logger: FeatureLogger;
  readonly app: ReturnType<typeof createApp>;
  readonly errors: unknown[];
  /** The clock of the server, in epoch ms. */
  now: number;
  /** The sampling draw. */
  random: () => number;
  /** While set, writes under data/logs/blocked wait for it. */
  gate: Promise<void> | undefined;
}

let setup: Promise<Setup> | undefined;

function server(): Promise<Setup> {
  setup ??= (async () => {
    const repo = await tempRepo({ "larder.yaml": YAML, "features.ts": FEATURES });
    await writeStatsData(repo.dir);
    const store = await FeatureStore.open({ repo: repo.dir });
    // Validated: a source over a log no server has written yet has nothing to check.
    await store.apply();
    const errors: unknown[] = [];
    const s = { now: DAY1, random: Math.random, gate: undefined } as Setup;
    const sinks: LogSinkFactory = (path, { repoDir }) => {
      const local = new LocalLogSink(join(repoDir, path));
      return {
        location: local.location,
        write: async (key, data) => {
          if (path.endsWith("blocked")) await s.gate;
          await local.write(key, data);
        },
      };
    };
    const wired = await depsFromFeatureStore(store, {
      clock: () => new Date(s.now),
      random: () => s.random(),
      logSinks: sinks,
      logError: (err) => errors.push(err),
    });
    const app = createApp(wired.deps);
    Object.assign(s, { repo, store, wired, logger: wired.featureLogger!, app, errors });
    const written = await post(s, "/write-to-online-store", {
      feature_view_name: "driver_hourly_stats",
      df: statsRows([1001, 1002], "2026-12-03T10:00:00.000001Z", 0.5),
    });
    assert.equal(written.status, 200);
    const trips = await post(s, "/write-to-online-store", {
      feature_view_name: "driver_trips",
      df: {
        driver_id: [1001, 1002],
        event_timestamp: ["2026-12-03T09:00:00Z", "2026-12-03T09:00:00Z"],
        trips_today: [7, 3],
        rating: [4.5, 4.9],
      },
    });
    assert.equal(trips.status, 200);
    return s;
  })();
  return setup;
}

async function post(
  s: Setup,
  path: string,
  body: unknown,
): Promise<{ status: number; json: Json }> {
  const res = await s.app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

function read(s: Setup, service: string, ids: unknown[], full = false) {
  return post(s, "/get-online-features", {
    feature_service: service,
    entities: { driver_id: ids },
    full_feature_names: full,
  });
}

async function metric(s: Setup, name: string): Promise<number> {
  const text = await (await s.app.request("/metrics")).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  assert.ok(line, `no metric ${name} in:\n${text}`);
  return Number(line.split(" ")[1]);
}

/** The parts under a service's log folder, relative to it, sorted. */
async function parts(s: Setup, service: string): Promise<string[]> {
  const root = join(s.repo.dir, "data/logs", service);
  const out: string[] = [];
  const walk = async (dir: string, prefix: string) => {
    try {
      for await (const e of Deno.readDir(dir)) {
        if (e.isDirectory) await walk(join(dir, e.name), `${prefix}${e.name}/`);
        else if (e.name.endsWith(".parquet")) out.push(`${prefix}${e.name}`);
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  };
  await walk(root, "");
  return out.sort();
}

async function rowsOf(s: Setup, service: string, part: string): Promise<Json[]> {
  const table = await readParquetFile(join(s.repo.dir, "data/logs", service, part));
  return table.toArray().map((r: Json) => r.toJSON());
}

Deno.test("feature logging: a served read becomes a Parquet part with Feast's logging schema", async () => {
  const s = await server();
  s.now = DAY1;
  const res = await read(s, "logged", [1001, 9999, 1002]);
  assert.equal(res.status, 200);
  // Another request, with full feature names: the same log columns.
  assert.equal((await read(s, "logged", [1002], true)).status, 200);
  // Not a service with logging: nothing logged.
  assert.equal((await read(s, "driver_activity", [1001])).status, 200);
  await s.logger.flush();

  const files = await parts(s, "logged");
  assert.equal(files.length, 1);
  assert.match(files[0]!, /^date=2026-12-03\/part-20261203T120000\.000Z-[0-9a-f]{8}\.parquet$/);
  const table = await readParquetFile(join(s.repo.dir, "data/logs/logged", files[0]!));
  assert.deepEqual(
    table.schema.fields.map((f) => `${f.name}:${f.type}`),
    [
      "driver_id:Int64",
      "driver_hourly_stats__conv_rate:Float32",
      "driver_hourly_stats__conv_rate__timestamp:Timestamp<MICROSECOND, UTC>",
      "driver_hourly_stats__conv_rate__status:Int32",
      "driver_hourly_stats__acc_rate:Float32",
      "driver_hourly_stats__acc_rate__timestamp:Timestamp<MICROSECOND, UTC>",
      "driver_hourly_stats__acc_rate__status:Int32",
      "driver_trips__trips_today:Int64",
      "driver_trips__trips_today__timestamp:Timestamp<MICROSECOND, UTC>",
      "driver_trips__trips_today__status:Int32",
      "__log_timestamp:Timestamp<MICROSECOND, UTC>",
      "__log_date:Utf8",
      "__request_id:Utf8",
    ],
  );
  const rows = await rowsOf(s, "logged", files[0]!);
  assert.deepEqual(rows.map((r) => Number(r.driver_id)), [1001, 9999, 1002, 1002]);
  assert.deepEqual(
    rows.map((r) => r.driver_hourly_stats__conv_rate),
    [0.5, null, Math.fround(0.6), Math.fround(0.6)],
  );
  // PRESENT = 1, NOT_FOUND = 3 (Feast's FieldStatus numbers).
  assert.deepEqual(rows.map((r) => r.driver_hourly_stats__conv_rate__status), [1, 3, 1, 1]);
  assert.deepEqual(rows.map((r) => r.driver_trips__trips_today), [7n, null, 3n, 3n]);
  // Event times keep their microseconds (Arrow gives epoch ms as a float here).
  const served = Date.parse("2026-12-03T10:00:00Z") + 0.001;
  assert.deepEqual(
    rows.map((r) => r.driver_hourly_stats__conv_rate__timestamp),
    [served, null, served, served],
  );
  assert.deepEqual(new Set(rows.map((r) => r.__log_timestamp)), new Set([DAY1]));
  assert.deepEqual(new Set(rows.map((r) => r.__log_date)), new Set(["2026-12-03"]));
  const ids = rows.map((r) => r.__request_id as string);
  assert.equal(ids[0], ids[2]);
  assert.notEqual(ids[0], ids[3]);
  // What the caller got is what was logged.
  assert.deepEqual(res.json.results[1].values, [0.5, null, 0.6]);
  assert.equal(await metric(s, "larder_feature_log_written_rows_total"), 4);
  assert.equal(await metric(s, "larder_feature_log_queued_rows"), 0);
});

Deno.test("feature logging: logged features are a source for historical retrieval", async () => {
  const s = await server();
  const job = await s.store.getHistoricalFeatures({
    entities: [
      { driver_id: 1001, event_timestamp: new Date(DAY1 + 60_000) },
      { driver_id: 1002, event_timestamp: new Date(DAY1 + 60_000) },
      { driver_id: 9999, event_timestamp: new Date(DAY1 + 60_000) },
      // Before anything was served.
      { driver_id: 1001, event_timestamp: new Date(DAY1 - 60_000) },
    ],
    features: [
      "logged_features:driver_hourly_stats__conv_rate",
      "logged_features:driver_hourly_stats__conv_rate__status",
      "logged_features:driver_trips__trips_today",
    ],
  });
  const rows = await job.toRows();
  assert.deepEqual(rows.map((r) => r.driver_hourly_stats__conv_rate), [0.5, 0.6, null, null]);
  assert.deepEqual(rows.map((r) => r.driver_hourly_stats__conv_rate__status), [1, 1, 3, null]);
  assert.deepEqual(rows.map((r) => r.driver_trips__trips_today), [7, 3, null, null]);
});

Deno.test("feature logging: requests are sampled by the service's rate, one draw each", async () => {
  const s = await server();
  const seed = 42;
  s.random = prng(seed);
  const before = await metric(s, "larder_feature_log_sampled_out_total");
  const dropped = await metric(s, "larder_feature_log_dropped_rows_total");
  for (let i = 0; i < 200; i++) {
    assert.equal((await read(s, "sampled", [1001])).status, 200);
    if (i % 20 === 19) await s.logger.flush();
  }
  s.random = Math.random;
  const draws = prng(seed);
  let expected = 0;
  for (let i = 0; i < 200; i++) if (draws() < 0.25) expected++;
  assert.ok(expected > 30 && expected < 70, `${expected} of 200 at 0.25`);
  let logged = 0;
  for (const part of await parts(s, "sampled")) logged += (await rowsOf(s, "sampled", part)).length;
  assert.equal(logged, expected);
  assert.equal(await metric(s, "larder_feature_log_sampled_out_total") - before, 200 - expected);
  assert.equal(await metric(s, "larder_feature_log_dropped_rows_total"), dropped);
});

Deno.test("feature logging: a full queue drops requests (counted), never the reads", async () => {
  const s = await server();
  let release!: () => void;
  s.gate = new Promise((resolve) => (release = resolve));
  const ids = (n: number) => Array.from({ length: n }, (_, i) => 1001 + (i % 2));
  assert.equal((await read(s, "blocked", ids(30))).status, 200);
  // The part of those 30 rows is being written (held at the gate): they still count.
  const flushing = s.logger.flush();
  const dropped = await metric(s, "larder_feature_log_dropped_rows_total");
  const droppedRequests = await metric(s, "larder_feature_log_dropped_requests_total");
  const started = performance.now();
  for (let i = 0; i < 20; i++) {
    const res = await read(s, "blocked", ids(20));
    assert.equal(res.status, 200);
    assert.deepEqual(res.json.results[1].values.slice(0, 2), [4.5, 4.9]);
  }
  // Twenty reads while the writer is stuck: answered, not waiting for it.
  assert.ok(performance.now() - started < 5_000);
  assert.equal(await metric(s, "larder_feature_log_dropped_rows_total") - dropped, 400);
  assert.equal(await metric(s, "larder_feature_log_dropped_requests_total") - droppedRequests, 20);
  assert.equal(await metric(s, "larder_feature_log_queued_rows"), 30);
  release();
  await flushing;
  s.gate = undefined;
  const files = await parts(s, "blocked");
  assert.equal(files.length, 1);
  assert.equal((await rowsOf(s, "blocked", files[0]!)).length, 30);
  assert.equal(await metric(s, "larder_feature_log_queued_rows"), 0);
});

Deno.test("feature logging: a failed write keeps earlier parts and its rows, and tells only the log", async () => {
  const s = await server();
  s.now = DAY1;
  assert.equal((await read(s, "failing", [1001])).status, 200);
  await s.logger.flush();
  const first = await parts(s, "failing");
  assert.equal(first.length, 1);
  // The next day's folder cannot be made: a file is in its place.
  const day2 = join(s.repo.dir, "data/logs/failing/date=2026-12-04");
  await Deno.writeTextFile(day2, "in the way");
  s.now = DAY2;
  const failures = await metric(s, "larder_feature_log_write_failures_total");
  s.errors.length = 0;
  const res = await read(s, "failing", [1001, 1002]);
  assert.equal(res.status, 200);
  await s.logger.flush();
  assert.equal(await metric(s, "larder_feature_log_write_failures_total") - failures, 1);
  assert.equal(await metric(s, "larder_feature_log_queued_rows"), 2);
  assert.equal(s.errors.length, 1);
  const error = s.errors[0] as { code: string; message: string };
  assert.equal(error.code, "IO_FAILED");
  assert.match(error.message, /feature log of "failing".*2 rows are kept to try again/);
  assert.deepEqual(await parts(s, "failing"), first);
  assert.equal((await rowsOf(s, "failing", first[0]!)).length, 1);
  // Once the folder can be made, the kept rows are written.
  await Deno.remove(day2);
  await s.logger.flush();
  const after = await parts(s, "failing");
  assert.equal(after.length, 2);
  assert.match(after[1]!, /^date=2026-12-04\//);
  assert.deepEqual(
    (await rowsOf(s, "failing", after[1]!)).map((
      r,
    ) => [Number(r.driver_id), r.driver_trips__rating]),
    [[1001, 4.5], [1002, 4.9]],
  );
  assert.equal(await metric(s, "larder_feature_log_queued_rows"), 0);
  s.now = DAY1;
});

const MAIN = new URL("../../server/main.ts", import.meta.url).pathname;

Deno.test("feature logging: serve's graceful stop writes what waits", async () => {
  const s = await server();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "--repo", s.repo.dir, "--port", "0", "--no-ui"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    const url = /(http:\/\/\S+)/.exec(text)?.[1];
    assert.ok(url, `no URL in: ${text}`);
    for (let i = 0; i < 3; i++) {
      const res: Response = await fetch(`${url}/get-online-features`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          feature_service: "shutdown",
          entities: { driver_id: [1001, 1002] },
        }),
      });
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    // The interval is an hour: only the stop writes.
    assert.deepEqual(await parts(s, "shutdown"), []);
  } finally {
    child.kill("SIGTERM");
    await reader.cancel().catch(() => {});
  }
  const status = await child.status;
  const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
  assert.equal(status.code, 0, stderr);
  const files = await parts(s, "shutdown");
  assert.equal(files.length, 1);
  const rows = await rowsOf(s, "shutdown", files[0]!);
  assert.deepEqual(rows.map((r) => r.driver_trips__trips_today), [7n, 3n, 7n, 3n, 7n, 3n]);
  assert.equal(new Set(rows.map((r) => r.__request_id)).size, 3);

  // The last test stops the shared server.
  await s.wired.close();
  await s.store.close();
  await s.repo.remove();
});
