import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore } from "../feature_store.ts";
import { readParquetFile } from "../offline/mod.ts";
import { ObjectStore, setDefaultObjectStore } from "../object_store/mod.ts";
import { startS3rver } from "../../tests/support/s3rver.ts";
import { tempRepo } from "../../tests/support/repo.ts";
import { FeatureLogger } from "./feature_logger.ts";
import { featureLogSchema } from "./log_schema.ts";
import type { LogSink } from "./log_sink.ts";

const FEATURES = `
import { entity, featureService, featureView, fileSource, onDemandFeatureView, requestSource } from "larder";
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
export const source = fileSource({ name: "s", path: "data/s.parquet", timestampField: "ts" });
export const stats = featureView({
  name: "stats",
  entities: [driver],
  schema: { x: "float64", tags: "string[]", flag: "bool", blob: "bytes", seen: "timestamp" },
  source,
});
export const req = requestSource({ name: "req", schema: { k: "float64" } });
export const scaled = onDemandFeatureView({
  name: "scaled",
  sources: [stats.select(["x"]), req],
  schema: { y: "float64" },
  transform: (c) => ({ y: c.x.map((x, i) => (x === null || c.k[i] == null ? null : x * c.k[i]!)) }),
});
export const pair = featureService({
  name: "pair",
  features: [
    stats.withName("rider").withJoinKeyMap({ driver_id: "rider_id" }).select(["x"]),
    stats,
    scaled,
  ],
  logging: { destination: { path: "logs/pair" } },
});
`;

async function withRepo(
  fn: (store: FeatureStore, dir: string) => Promise<void>,
): Promise<void> {
  const repo = await tempRepo({ "larder.yaml": "project: p\n", "features.ts": FEATURES });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply({ skipSourceValidation: true });
    await store.writeToOnlineStore("stats", {
      driver_id: [1, 2],
      ts: ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"],
      x: [1.5, 2.5],
      tags: [["a", "b"], []],
      flag: [true, null],
      blob: [new Uint8Array([1, 2]), new Uint8Array([])],
      seen: ["2025-06-01T00:00:00.000007Z", null],
    });
    await fn(store, repo.dir);
  } finally {
    await store.close();
    await repo.remove();
  }
}

async function served(store: FeatureStore) {
  const entities = { driver_id: [1, 2], rider_id: [2, 3], k: [10, 100] };
  // Two features named "x": the service is read with full names only.
  const response = await store.getOnlineFeatures({
    featureService: "pair",
    entities,
    fullFeatureNames: true,
  });
  return { service: "pair", entities, response, fullFeatureNames: true };
}

Deno.test("featureLogSchema() names join keys as requests do, and logs request fields", async () => {
  await withRepo(async (store) => {
    const schema = featureLogSchema(await store.registry.read(), "pair");
    assert.deepEqual(schema.columns.map((c) => `${c.name}:${c.type}`), [
      "rider_id:int64",
      "driver_id:int64",
      "k:float64",
      "rider__x:float64",
      "rider__x__timestamp:timestamp",
      "rider__x__status:int32",
      "stats__x:float64",
      "stats__x__timestamp:timestamp",
      "stats__x__status:int32",
      "stats__tags:string[]",
      "stats__tags__timestamp:timestamp",
      "stats__tags__status:int32",
      "stats__flag:bool",
      "stats__flag__timestamp:timestamp",
      "stats__flag__status:int32",
      "stats__blob:bytes",
      "stats__blob__timestamp:timestamp",
      "stats__blob__status:int32",
      "stats__seen:timestamp",
      "stats__seen__timestamp:timestamp",
      "stats__seen__status:int32",
      "scaled__y:float64",
      "scaled__y__timestamp:timestamp",
      "scaled__y__status:int32",
      "__log_timestamp:timestamp",
      "__log_date:string",
      "__request_id:string",
    ]);
  });
});

Deno.test("FeatureLogger writes projections, lists and on-demand outputs as served", async () => {
  await withRepo(async (store, dir) => {
    const doc = await store.registry.read();
    const logger = new FeatureLogger({
      repoDir: dir,
      flushIntervalMs: 0,
      now: () => new Date("2026-12-03T23:59:59.5Z"),
    });
    assert.equal(logger.log(doc, { ...await served(store), requestId: "r1" }), true);
    await logger.close();
    const dates = [...Deno.readDirSync(join(dir, "logs/pair"))].map((e) => e.name);
    assert.deepEqual(dates, ["date=2026-12-03"]);
    const [part] = [...Deno.readDirSync(join(dir, "logs/pair/date=2026-12-03"))];
    const table = await readParquetFile(join(dir, "logs/pair/date=2026-12-03", part!.name));
    // deno-lint-ignore no-explicit-any
    const rows = table.toArray().map((r: any) => r.toJSON());
    assert.deepEqual(rows.map((r) => [Number(r.rider_id), Number(r.driver_id), r.k]), [
      [2, 1, 10],
      [3, 2, 100],
    ]);
    assert.deepEqual(rows.map((r) => [r.rider__x, r.rider__x__status]), [[2.5, 1], [null, 3]]);
    assert.deepEqual(rows.map((r) => [r.stats__x, r.stats__x__status]), [[1.5, 1], [2.5, 1]]);
    assert.deepEqual(rows.map((r) => [...r.stats__tags]), [["a", "b"], []]);
    assert.deepEqual(rows.map((r) => [r.stats__flag, r.stats__flag__status]), [[true, 1], [
      null,
      2,
    ]]);
    assert.deepEqual(rows.map((r) => [...r.stats__blob]), [[1, 2], []]);
    // A timestamp feature as online reads serve it (a Date: milliseconds).
    assert.deepEqual(rows.map((r) => r.stats__seen), [Date.parse("2025-06-01T00:00:00Z"), null]);
    assert.deepEqual(rows.map((r) => [r.scaled__y, r.scaled__y__timestamp, r.scaled__y__status]), [
      [15, null, 1],
      [250, null, 1],
    ]);
    assert.deepEqual(rows.map((r) => r.__request_id), ["r1", "r1"]);
    assert.equal(logger.stats.writtenRows, 2);
  });
});

Deno.test("FeatureLogger writes on its interval, and reports rows it cannot write at close", async () => {
  await withRepo(async (store, dir) => {
    const doc = await store.registry.read();
    const written: string[] = [];
    let fail = false;
    let wrote: () => void = () => {};
    const sink: LogSink = {
      location: "memory",
      write: (key) => {
        if (fail) return Promise.reject(new Error("disk on fire"));
        written.push(key);
        wrote();
        return Promise.resolve();
      },
    };
    const errors: unknown[] = [];
    const logger = new FeatureLogger({
      repoDir: dir,
      flushIntervalMs: 20,
      sinks: () => sink,
      logError: (err) => errors.push(err),
    });
    const done = new Promise<void>((resolve) => (wrote = resolve));
    logger.log(doc, await served(store));
    // The logger's timer does not keep a process alive; a server's listener would.
    const alive = setTimeout(() => {}, 10_000);
    await done;
    clearTimeout(alive);
    assert.equal(written.length, 1);
    assert.match(
      written[0]!,
      /^date=\d{4}-\d{2}-\d{2}\/part-\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{8}\.parquet$/,
    );
    fail = true;
    logger.log(doc, await served(store));
    await logger.close();
    assert.equal(logger.stats.lostRows, 2);
    assert.equal(logger.stats.queuedRows, 0);
    assert.ok(logger.stats.failedWrites >= 1);
    const last = errors.at(-1) as { code: string; message: string };
    assert.equal(last.code, "IO_FAILED");
    assert.equal(
      last.message,
      "Feature logging stopped with 2 logged rows that could not be written",
    );
    // Closed: nothing more is queued.
    assert.equal(logger.log(doc, await served(store)), false);
  });
});

Deno.test("FeatureLogger writes s3:// destinations to object storage, refuses other URLs in the log", async () => {
  const s3 = await startS3rver({ buckets: ["logs"] });
  try {
    await withRepo(async (store, dir) => {
      const doc = await store.registry.read();
      const service = doc.objects.featureService.pair!;
      const at = (path: string) => {
        const copy = structuredClone(doc);
        copy.objects.featureService.pair = {
          ...service,
          spec: { ...service.spec, logging: { sampleRate: 1, destination: { path } } },
        };
        return copy;
      };
      // The default sinks write s3:// through the client the feature store configures.
      const objects = new ObjectStore(s3.settings);
      setDefaultObjectStore(objects);
      const errors: unknown[] = [];
      const logger = new FeatureLogger({
        repoDir: dir,
        flushIntervalMs: 0,
        logError: (err) => errors.push(err),
      });
      assert.equal(logger.log(at("s3://logs/served/"), await served(store)), true);
      assert.equal(logger.log(at("gs://b/logs"), await served(store)), true);
      await logger.close();
      // The s3:// part is one object under date=…/, readable as Parquet with the served rows.
      const parts = (await objects.list("s3://logs/served/")).map((o) => o.url);
      assert.equal(parts.length, 1);
      assert.match(parts[0]!, /^s3:\/\/logs\/served\/date=\d{4}-\d{2}-\d{2}\/part-[^/]+\.parquet$/);
      const local = join(dir, "part.parquet");
      await Deno.writeFile(local, (await objects.get(parts[0]!)).bytes);
      assert.equal((await readParquetFile(local)).numRows, 2);
      // The gs:// one is refused in the log, never to the caller, its rows counted as lost.
      assert.equal(logger.stats.lostRows, 2);
      const error = errors[0] as { code: string; message: string };
      assert.equal(error.code, "CONFIG_INVALID");
      assert.equal(
        error.message,
        'Feature service "pair": logging destination "gs://b/logs" is a gs:// URL; feature logging writes to local folders and s3:// URLs only',
      );
      // A read of a service the document does not have is not logged, and does not throw.
      assert.equal(logger.log(doc, { ...await served(store), service: "nope" }), false);
    });
  } finally {
    setDefaultObjectStore(ObjectStore.fromEnv());
    await s3.stop();
  }
});

Deno.test("FeatureLogger writes a part as soon as a service has batchSize rows waiting", async () => {
  await withRepo(async (store, dir) => {
    const doc = await store.registry.read();
    const sizes: number[] = [];
    let wrote: () => void = () => {};
    const sink: LogSink = {
      location: "memory",
      write: (_key, data) => {
        sizes.push(data.length);
        wrote();
        return Promise.resolve();
      },
    };
    // No interval: only the batch size triggers a write.
    const logger = new FeatureLogger({
      repoDir: dir,
      flushIntervalMs: 0,
      batchSize: 4,
      sinks: () => sink,
    });
    const done = new Promise<void>((resolve) => (wrote = resolve));
    const alive = setTimeout(() => {}, 10_000);
    assert.equal(logger.log(doc, await served(store)), true);
    assert.equal(logger.stats.queuedRows, 2);
    assert.equal(logger.log(doc, await served(store)), true);
    // Not in the request's turn: the write starts after it.
    assert.equal(sizes.length, 0);
    await done;
    clearTimeout(alive);
    assert.equal(sizes.length, 1);
    await logger.close();
    assert.equal(logger.stats.writtenRows, 4);
    assert.equal(logger.stats.writtenParts, 1);
  });
});

Deno.test("FeatureLogger encodes a large part in its worker", async () => {
  await withRepo(async (store, dir) => {
    const doc = await store.registry.read();
    const n = 2_500;
    const entities = {
      driver_id: Array.from({ length: n }, (_, i) => 1 + (i % 3)),
      rider_id: Array.from({ length: n }, () => 2),
      k: Array.from({ length: n }, (_, i) => i),
    };
    const response = await store.getOnlineFeatures({
      featureService: "pair",
      entities,
      fullFeatureNames: true,
    });
    const logger = new FeatureLogger({ repoDir: dir, flushIntervalMs: 0 });
    assert.equal(
      logger.log(doc, { service: "pair", entities, response, fullFeatureNames: true }),
      true,
    );
    await logger.close();
    assert.equal(logger.stats.writtenRows, n);
    const [folder] = [...Deno.readDirSync(join(dir, "logs/pair"))];
    const [part] = [...Deno.readDirSync(join(dir, "logs/pair", folder!.name))];
    const table = await readParquetFile(join(dir, "logs/pair", folder!.name, part!.name));
    assert.equal(table.numRows, n);
    const y = table.getChild("scaled__y")!;
    assert.deepEqual([y.get(0), y.get(1), y.get(2), y.get(n - 1)], [0, 2.5, null, 1.5 * (n - 1)]);
    const status = table.getChild("stats__x__status")!;
    assert.deepEqual([status.get(0), status.get(1), status.get(2)], [1, 1, 3]);
  });
});
