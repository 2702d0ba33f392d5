/**
 * The two DuckDB engines side by side: the same errors (code and message) for the same bad
 * input, the same values and column types out, and what only native DuckDB does (spilling to
 * its temporary directory under `memory_limit`, where WASM runs out of memory).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DuckDB, DuckDBOfflineStore, type ViewRequest } from "../../engine/offline/mod.ts";
import { isLarderError } from "../../registry/mod.ts";
import { tableFromRows } from "../../engine/offline/_values.ts";
import { tableToIPC } from "apache-arrow";
import { FeatureStore } from "../../mod.ts";
import { SCALED_FEATURES, tempRepo } from "../support/repo.ts";
import {
  entity,
  featureView,
  fileSource,
  t,
  tempDir,
  writeRowsParquet,
  writeText,
} from "./_fixtures.ts";

const stores = {
  wasm: new DuckDBOfflineStore({ memoryLimit: "512MB" }),
  native: new DuckDBOfflineStore({ engine: "native", memoryLimit: "512MB", threads: 2 }),
};
const dir = await tempDir();
const driver = entity("driver", ["driver_id"]);
const source = fileSource("stats", "stats/*.parquet");
const view = featureView("stats", {
  entities: ["driver"],
  source: source.name,
  features: [{ name: "conv_rate", type: "float32" }],
});
const request = (over: Partial<ViewRequest> = {}): ViewRequest => ({
  view,
  source,
  entities: [driver],
  features: ["conv_rate"],
  ...over,
});
const at = t("2024-01-02");
await writeRowsParquet(dir, "stats/a.parquet", [
  { driver_id: 1, event_timestamp: t("2024-01-01"), conv_rate: 0.5 },
]);

/** What a call gave: its rows, or its error's code and message. */
async function outcome(call: () => Promise<unknown>): Promise<unknown> {
  try {
    return { value: await call() };
  } catch (err) {
    if (!isLarderError(err)) throw err;
    return { code: err.code, message: err.message };
  }
}

type Store = DuckDBOfflineStore;
const CASES: Record<string, (store: Store) => Promise<unknown>> = {
  "a source path that matches no file": (store) =>
    store.describeSource(fileSource("gone", "gone/*.parquet"), dir),
  "a file that is not Parquet": async (store) => {
    await writeText(dir, "broken/x.parquet", "not parquet at all");
    return await store.describeSource(fileSource("broken", "broken/*.parquet"), dir);
  },
  "a column of another type than declared": async (store) => {
    await writeRowsParquet(dir, "typed/a.parquet", [
      { driver_id: 1, event_timestamp: t("2024-01-01"), conv_rate: "high" },
    ]);
    const typed = fileSource("typed", "typed/*.parquet");
    return await store.checkSource({ repoDir: dir, view, source: typed, entities: [driver] });
  },
  "a later file whose column does not cast": async (store) => {
    await writeRowsParquet(dir, "drift/a.parquet", [
      { driver_id: 1, event_timestamp: t("2024-01-01"), conv_rate: 0.5 },
    ]);
    await writeRowsParquet(dir, "drift/b.parquet", [
      { driver_id: 2, event_timestamp: t("2024-01-01"), conv_rate: "high" },
    ]);
    const job = await store.getHistoricalFeatures({
      repoDir: dir,
      entityTable: [{ driver_id: 2, event_timestamp: at }],
      views: [request({ source: fileSource("drift", "drift/*.parquet") })],
    });
    return await job.toRows();
  },
  "a later file without a needed column": async (store) => {
    await writeRowsParquet(dir, "short/a.parquet", [
      { driver_id: 1, event_timestamp: t("2024-01-01"), conv_rate: 0.5 },
    ]);
    await writeRowsParquet(dir, "short/b.parquet", [
      { driver_id: 2, event_timestamp: t("2024-01-01") },
    ]);
    const job = await store.getHistoricalFeatures({
      repoDir: dir,
      entityTable: [{ driver_id: 1, event_timestamp: at }],
      views: [request({ source: fileSource("short", "short/*.parquet") })],
    });
    return await job.toRows();
  },
  "a missing entity file": async (store) =>
    await store.getHistoricalFeatures({
      repoDir: dir,
      entityTable: "nope.parquet",
      views: [request()],
    }),
  "an entity query that fails": async (store) =>
    await (await store.getHistoricalFeatures({
      repoDir: dir,
      entityTable: { sql: "SELECT * FROM no_such_table" },
      views: [request()],
    })).toRows(),
  "an entity key of the wrong type": async (store) =>
    await store.getHistoricalFeatures({
      repoDir: dir,
      entityTable: [{ driver_id: "one", event_timestamp: at }],
      views: [request()],
    }),
  "a CSV value that does not parse as declared": async (store) => {
    await writeText(dir, "bad.csv", "driver_id,event_timestamp,conv_rate\n1,2024-01-01,x\n");
    const job = await store.getHistoricalFeatures({
      repoDir: dir,
      entityTable: [{ driver_id: 1, event_timestamp: at }],
      views: [request({ source: fileSource("bad_csv", "bad.csv") })],
    });
    return await job.toRows();
  },
};

Deno.test("both engines give the same error, code and message, for the same bad input", async (t) => {
  for (const [name, call] of Object.entries(CASES)) {
    await t.step(name, async () => {
      const wasm = await outcome(() => call(stores.wasm));
      const native = await outcome(() => call(stores.native));
      // An error, or (checkSource) the problems found.
      const { value } = wasm as { value?: unknown };
      assert.ok(
        value === undefined || (Array.isArray(value) && value.length > 0),
        `expected an error, got ${JSON.stringify(wasm)}`,
      );
      assert.deepEqual(native, wasm);
    });
  }
});

Deno.test("both engines return the same values and column types, batch by batch", async () => {
  // Entity columns pass through untouched: every common type, long and short strings, lists
  // with NULLs.
  const sql =
    `SELECT 1::BIGINT AS driver_id, TIMESTAMP '2024-01-02' + to_microseconds(i) AS event_timestamp,
    i::INTEGER AS i32, (i % 200)::UTINYINT AS u8, (i % 3 = 0) AS flag, i / 7.0 AS ratio,
    (i / 4)::FLOAT AS f32, CASE WHEN i % 5 = 0 THEN NULL ELSE 'row ' || i || repeat('x', i % 20) END AS label,
    DATE '2024-01-01' + (i % 30)::INTEGER AS day, TIMESTAMPTZ '2024-01-01 00:00:00+00' AS tz,
    CASE WHEN i % 4 = 0 THEN NULL ELSE [i, NULL, i + 1] END AS ints, ['a', 'bcdefghijklmnop'] AS words,
    '\\x01\\x02'::BLOB AS bytes, (i % 100 + 0.25)::DECIMAL(10, 2) AS price, TIMESTAMP_MS '2024-01-01' AS ms
    FROM range(3000) r(i)`;
  const results = [];
  for (const store of [stores.wasm, stores.native]) {
    const job = await store.getHistoricalFeatures({
      repoDir: dir,
      entityTable: { sql },
      views: [request()],
    });
    results.push({ table: await job.toArrow(), rows: await job.toRows() });
  }
  const [wasm, native] = results as [(typeof results)[0], (typeof results)[0]];
  assert.equal(native.rows.length, 3000);
  assert.deepEqual(native.rows, wasm.rows);
  // A DECIMAL is its value, not its unscaled digits (DuckDB-WASM's Arrow decimals once read 1.25 as 125).
  assert.deepEqual(wasm.rows.slice(0, 3).map((r) => r.price), [0.25, 1.25, 2.25]);
  // DuckDB-WASM gives DECIMAL as Arrow decimals, native as doubles: the same numbers in rows.
  const types = (table: typeof wasm.table) =>
    table.schema.fields.filter((f) => f.name !== "price").map((f) => `${f.name}: ${f.type}`);
  assert.deepEqual(types(native.table), types(wasm.table));
});

Deno.test("native DuckDB streams a large result in bounded batches, in order", async () => {
  const db = await DuckDB.open({ engine: "native", threads: 2 });
  try {
    const sizes: number[] = [];
    let next = 0n;
    await db.withSession(async (s) => {
      for await (const batch of s.stream("SELECT range AS i FROM range(150000)")) {
        sizes.push(batch.numRows);
        for (const value of batch.getChild("i")!) assert.equal(value, next++);
      }
    });
    assert.deepEqual(sizes, [65_536, 65_536, 18_928]);
  } finally {
    await db.close();
  }
});

Deno.test("native DuckDB spills to its temporary directory where WASM runs out of memory", async () => {
  const temp = join(dir, "spill");
  // A sort of 1M rows, about 40 MB of text, under a 32 MB limit.
  const sql = "SELECT count(*)::BIGINT AS n FROM (SELECT s FROM " +
    "(SELECT md5(i::VARCHAR) AS s FROM range(1000000) r(i)) ORDER BY s OFFSET 1)";
  const native = await DuckDB.open({
    engine: "native",
    memoryLimit: "32MB",
    threads: 2,
    tempDirectory: temp,
  });
  try {
    const rows = await native.withSession((s) => s.rows(sql));
    assert.equal(rows[0]!.n, 999_999n);
    // DuckDB made the folder when it spilled.
    assert.ok((await Deno.stat(temp)).isDirectory);
  } finally {
    await native.close();
  }
  const wasm = await DuckDB.open({ memoryLimit: "32MB" });
  try {
    await assert.rejects(
      wasm.withSession((s) => s.rows(sql)),
      /DuckDB ran out of memory: .*raise offline_store\.memory_limit/,
    );
  } finally {
    await wasm.close();
  }
});

Deno.test("native DuckDB removes the temporary directory it made, keeps a configured one", async () => {
  const configured = join(dir, "configured_temp");
  await Deno.mkdir(configured);
  const db = await DuckDB.open({ engine: "native", tempDirectory: configured });
  const own = await DuckDB.open({ engine: "native" });
  const setting = (d: DuckDB) =>
    d.withSession((s) => s.rows("SELECT current_setting('temp_directory') AS d"));
  const ownDir = String((await setting(own))[0]!.d);
  assert.equal(String((await setting(db))[0]!.d), configured);
  assert.match(ownDir, /larder-duckdb-/);
  // Arrow data goes in through a file in that directory, which makes it exist.
  await own.withSession((s) =>
    s.insertIPC("x", tableToIPC(tableFromRows([{ a: 1 }]), "stream"), { create: true })
  );
  assert.ok((await Deno.stat(ownDir)).isDirectory);
  await db.close();
  await own.close();
  assert.ok((await Deno.stat(configured)).isDirectory);
  await assert.rejects(Deno.stat(ownDir), Deno.errors.NotFound);
});

Deno.test("FeatureStore on offline_store.engine: native retrieves and materializes, its temp_directory in the repo", async () => {
  const repo = await tempRepo({
    "larder.yaml": "project: native_demo\noffline_store:\n  engine: native\n" +
      "  memory_limit: 256MB\n  threads: 2\n  temp_directory: tmp/duckdb\n",
    "features.ts": SCALED_FEATURES,
  });
  await writeRowsParquet(repo.dir, "data/s.parquet", [
    { user_id: 1, ts: t("2024-01-01"), x: 1.5 },
    { user_id: 2, ts: t("2024-01-01"), x: 2.5 },
  ]);
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply();
    const job = await store.getHistoricalFeatures({
      features: ["stats:x"],
      entities: [{ user_id: 2, ts: t("2024-01-02") }, { user_id: 1, ts: t("2024-01-02") }],
    });
    assert.deepEqual((await job.toRows()).map((r) => r.x), [2.5, 1.5]);
    // Arrow rows went to DuckDB through the configured folder, relative to the repo.
    assert.ok((await Deno.stat(join(repo.dir, "tmp", "duckdb"))).isDirectory);
    await store.materialize({ start: t("2023-12-31"), end: t("2024-01-02") });
    const online = await store.getOnlineFeatures({
      features: ["stats:x"],
      entities: { user_id: [1, 2] },
    });
    assert.deepEqual(online.toRows().map((r) => r.x), [1.5, 2.5]);
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("engines: close the stores", async () => {
  for (const store of Object.values(stores)) await store.close();
  await Deno.remove(dir, { recursive: true });
});
