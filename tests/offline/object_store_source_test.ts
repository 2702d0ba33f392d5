/**
 * File sources in object storage, against a real s3rver (and fauxqs for one read): s3:// objects, globs and https://
 * URLs; Parquet read by ranges (footer, then only the row groups and columns a query needs);
 * CSV fetched whole; the same answers as the local file.
 */
import assert from "node:assert/strict";
import { DuckDBOfflineStore, encodeParquet, resolveSourceFiles } from "../../engine/offline/mod.ts";
import { pushOffline } from "../../engine/mod.ts";
import { documentWith, pushSource } from "../online/_fixtures.ts";
import { tableFromRows } from "../../engine/offline/_values.ts";
import { ObjectStore, setDefaultObjectStore } from "../../engine/object_store/mod.ts";
import { startS3rver } from "../support/s3rver.ts";
import { startS3Double } from "../support/s3_double.ts";
import { startFauxqs } from "../support/fauxqs.ts";
import { remoteParquet } from "../../engine/offline/_remote_parquet.ts";
import { entity, featureView, fileSource, t, tempDir } from "./_fixtures.ts";

const s3 = await startS3rver({ buckets: ["larder-src"] });
const objects = new ObjectStore(s3.settings);
setDefaultObjectStore(objects);
const offline = new DuckDBOfflineStore({ memoryLimit: "512MB" });
const dir = await tempDir();

// Four days of rows, one row group per day (each in the day's first minute): a retrieval at
// noon on day 4 with a one-day ttl needs only the row group of day 4.
let seed = 7;
const noise = () => (seed = (seed * 1103515245 + 12345) % 2147483648).toString(36);
const rows = Array.from({ length: 4 * 1000 }, (_, i) => ({
  driver_id: 1000 + (i % 50),
  event_timestamp: new Date(Date.UTC(2024, 0, 1) + Math.floor(i / 1000) * 86_400_000 + i * 10),
  conv_rate: i / 4000,
  trips: i,
  // Incompressible text: most of the file's bytes, in a column the retrieval does not read.
  note: Array.from({ length: 40 }, noise).join(""),
}));
const bytes = encodeParquet(tableFromRows(rows), { rowGroupRows: 1000 });
await objects.put("s3://larder-src/stats/all.parquet", bytes);
await Deno.writeFile(`${dir}/all.parquet`, bytes);
await objects.put(
  "s3://larder-src/parts/a.parquet",
  encodeParquet(tableFromRows(rows.slice(0, 2000))),
);
await objects.put(
  "s3://larder-src/parts/b.parquet",
  encodeParquet(tableFromRows(rows.slice(2000))),
);
await objects.put("s3://larder-src/parts/_skip.csv", new TextEncoder().encode("x"));
await objects.put(
  "s3://larder-src/stats.csv",
  new TextEncoder().encode(
    "driver_id,event_timestamp,conv_rate,trips\n1001,2024-01-01 00:00:00,0.5,3\n",
  ),
);

const driver = entity("driver", ["driver_id"]);
const view = featureView("stats", {
  entities: ["driver"],
  source: "stats",
  ttlSeconds: 86_400,
  features: [{ name: "conv_rate", type: "float64" }, { name: "trips", type: "int64" }],
});
const entities = [1001, 1002, 1049].map((driver_id) => ({
  driver_id,
  event_timestamp: t("2024-01-04T12:00:00"),
}));

async function retrieve(path: string) {
  const job = await offline.getHistoricalFeatures({
    repoDir: dir,
    entityTable: entities,
    views: [{ view, source: fileSource("stats", path), entities: [driver], features: ["trips"] }],
  });
  return await job.toRows();
}

Deno.test("an s3:// Parquet source reads only the footer and the needed row groups", async () => {
  const local = await retrieve(`${dir}/all.parquet`);
  const before = objects.stats.bytesFetched;
  const remote = await retrieve("s3://larder-src/stats/all.parquet");
  const fetched = objects.stats.bytesFetched - before;
  assert.deepEqual(remote, local);
  assert.equal(remote.length, 3);
  assert.deepEqual(remote.map((r) => r.trips), [3951, 3952, 3999]);
  // The footer's tail, the page indexes, then the three needed columns of the last row group
  // (the others end before entity time - ttl): each byte once.
  const meta = await remoteParquet("s3://larder-src/stats/all.parquet", objects);
  const span = (r: readonly [number, number] | undefined) => r ? r[1] - r[0] : 0;
  const indexes = meta.rowGroups.flatMap((g) => g.pageIndex ?? []);
  const expected = Math.min(64 * 1024, bytes.length) +
    (indexes.length ? Math.max(...indexes) - Math.min(...indexes) : 0) +
    [3].flatMap((g) =>
      ["driver_id", "event_timestamp", "trips"].map((c) => span(meta.rowGroups[g]!.chunks!.get(c)))
    ).reduce((a, b) => a + b, 0);
  assert.equal(fetched, expected);
  assert.ok(fetched < bytes.length / 4, `fetched ${fetched} of ${bytes.length} bytes`);
});

Deno.test("describeSource() and checkSource() on s3:// and https:// sources", async () => {
  for (
    const path of [
      "s3://larder-src/stats/all.parquet",
      `${s3.endpoint}/larder-src/stats/all.parquet`,
    ]
  ) {
    const columns = await offline.describeSource(fileSource("stats", path), dir);
    assert.deepEqual(columns.map((c) => c.name), [
      "driver_id",
      "event_timestamp",
      "conv_rate",
      "trips",
      "note",
    ]);
    assert.deepEqual(
      await offline.checkSource({
        repoDir: dir,
        source: fileSource("stats", path),
        view,
        entities: [driver],
      }),
      [],
    );
  }
});

Deno.test("the same ranged read against fauxqs gives the local answer", async () => {
  const fauxqs = await startFauxqs({ buckets: ["larder-fq"] });
  const store = new ObjectStore(fauxqs.settings);
  try {
    await store.put("s3://larder-fq/stats/all.parquet", bytes);
    setDefaultObjectStore(store);
    assert.deepEqual(
      await retrieve("s3://larder-fq/stats/*.parquet"),
      await retrieve(`${dir}/all.parquet`),
    );
    assert.ok(store.stats.bytesFetched < bytes.length / 4);
  } finally {
    setDefaultObjectStore(objects);
    await fauxqs.stop();
  }
});

Deno.test("an https:// Parquet source gives the local answer", async () => {
  assert.deepEqual(
    await retrieve(`${s3.endpoint}/larder-src/stats/all.parquet`),
    await retrieve(`${dir}/all.parquet`),
  );
});

Deno.test("a glob over s3:// lists the objects and reads them all", async () => {
  assert.deepEqual(
    await retrieve("s3://larder-src/parts/*.parquet"),
    await retrieve(`${dir}/all.parquet`),
  );
  await assert.rejects(() => retrieve("s3://larder-src/parts/*.nothing"), {
    code: "SOURCE_INVALID",
    message: 'Data source "stats": "s3://larder-src/parts/*.nothing" matches no object',
  });
});

Deno.test("an entity table in object storage is fetched whole", async () => {
  await objects.put("s3://larder-src/entities.parquet", encodeParquet(tableFromRows(entities)));
  const job = await offline.getHistoricalFeatures({
    repoDir: dir,
    entityTable: "s3://larder-src/entities.parquet",
    views: [{
      view,
      source: fileSource("stats", "s3://larder-src/stats/all.parquet"),
      entities: [driver],
      features: ["trips"],
    }],
  });
  assert.deepEqual((await job.toRows()).map((r) => r.trips), [3951, 3952, 3999]);
  await assert.rejects(
    () =>
      offline.getHistoricalFeatures({
        repoDir: dir,
        entityTable: "s3://larder-src/none.parquet",
        views: [{
          view,
          source: fileSource("stats", `${dir}/all.parquet`),
          entities: [driver],
          features: ["trips"],
        }],
      }),
    { code: "INPUT_INVALID", message: 'Cannot find entity file "s3://larder-src/none.parquet"' },
  );
});

Deno.test("a CSV source in object storage is fetched whole", async () => {
  const job = await offline.getHistoricalFeatures({
    repoDir: dir,
    entityTable: [{ driver_id: 1001, event_timestamp: t("2024-01-01T06:00:00") }],
    views: [{
      view,
      source: fileSource("stats", "s3://larder-src/stats.csv"),
      entities: [driver],
      features: ["conv_rate"],
    }],
  });
  assert.deepEqual((await job.toRows()).map((r) => r.conv_rate), [0.5]);
});

Deno.test("a missing or broken object, a missing bucket: a clear SOURCE_INVALID or NOT_FOUND", async () => {
  await assert.rejects(() => retrieve("s3://larder-src/stats/none.parquet"), {
    code: "SOURCE_INVALID",
    message: 'Data source "stats": "s3://larder-src/stats/none.parquet" does not exist',
  });
  await objects.put("s3://larder-src/bad/x.parquet", new TextEncoder().encode("not parquet"));
  await assert.rejects(() => retrieve("s3://larder-src/bad/*.parquet"), {
    code: "SOURCE_INVALID",
    message:
      'Cannot read Parquet file "s3://larder-src/bad/x.parquet": file is too small to be Parquet',
  });
  await assert.rejects(() => retrieve("s3://no-such-bucket/x.parquet"), {
    code: "NOT_FOUND",
    message:
      'Cannot find "s3://no-such-bucket/x.parquet" in object storage: the bucket does not exist',
  });
});

Deno.test("push to offline onto a single s3:// file adds a part that retrieval reads", async () => {
  const url = "s3://larder-src/pushed/stats.parquet";
  await objects.put(url, encodeParquet(tableFromRows(rows.slice(0, 10))));
  const batch = fileSource("batch", url);
  const doc = documentWith({
    entities: [driver],
    sources: [batch, pushSource("push", "batch")],
    views: [featureView("stats", {
      entities: ["driver"],
      source: "push",
      features: [{ name: "trips", type: "int64" }],
    })],
  });
  const pushed = await pushOffline(dir, doc, {
    pushSource: "push",
    columns: { driver_id: [1001], event_timestamp: [t("2024-02-01T00:00:00")], trips: [77] },
  });
  assert.equal(pushed.files.length, 1);
  assert.match(pushed.files[0]!, /^s3:\/\/larder-src\/pushed\/\.stats\.parquet\.pushed\/push-/);
  assert.deepEqual(await resolveSourceFiles(batch, dir), [url, pushed.files[0]!]);
  const job = await offline.getHistoricalFeatures({
    repoDir: dir,
    entityTable: [{ driver_id: 1001, event_timestamp: t("2024-02-01T01:00:00") }],
    views: [{ view, source: batch, entities: [driver], features: ["trips"] }],
  });
  assert.deepEqual((await job.toRows()).map((r) => r.trips), [77]);
});

Deno.test("a read that times out mid-file is UNAVAILABLE naming the object, and writes nothing", async () => {
  const double = await startS3Double({ buckets: ["stalls"] });
  const stalling = new ObjectStore({ ...double.settings, timeoutMs: 300 });
  try {
    await stalling.put("s3://stalls/all.parquet", bytes);
    // The footer is read (and cached) without the short timeout: on a loaded machine its HEAD
    // alone may take longer.
    await remoteParquet("s3://stalls/all.parquet", new ObjectStore(double.settings));
    // The footer (the last 64 KiB) answers; the column chunks never do.
    double.stall = (req) => {
      const from = Number(/^bytes=(\d+)-/.exec(req.headers.get("range") ?? "")?.[1] ?? NaN);
      return from < bytes.length - 64 * 1024;
    };
    setDefaultObjectStore(stalling);
    const out = `${dir}/out.parquet`;
    const job = await offline.getHistoricalFeatures({
      repoDir: dir,
      entityTable: entities,
      views: [{
        view,
        source: fileSource("stats", "s3://stalls/all.parquet"),
        entities: [driver],
        features: ["trips"],
      }],
    });
    await assert.rejects(() => job.write(out), {
      code: "UNAVAILABLE",
      message: /^Object storage did not answer GET "s3:\/\/stalls\/all\.parquet" within 0\.3 s/,
    });
    await assert.rejects(() => Deno.stat(out), Deno.errors.NotFound);
  } finally {
    setDefaultObjectStore(objects);
    await double.stop();
  }
});

Deno.test({
  name: "object store source tests: cleanup",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await offline.close();
    await s3.stop();
    await Deno.remove(dir, { recursive: true });
  },
});
