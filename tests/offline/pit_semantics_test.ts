/**
 * Point-in-time semantics (docs: shared/reference/feast-semantics.md), one named test each,
 * on real Parquet/CSV files. One DuckDB instance is shared by the file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  Field,
  Int64,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  Timestamp,
  TimeUnit,
} from "apache-arrow";
import { DuckDBOfflineStore, type ViewRequest } from "../../engine/offline/mod.ts";
import type { EntitySpec, FeatureViewSpec, FileSourceSpec } from "../../registry/mod.ts";
import {
  entity,
  featureView,
  fileSource,
  t,
  tempDir,
  writeRowsParquet,
  writeText,
} from "./_fixtures.ts";

const store = new DuckDBOfflineStore({ memoryLimit: "1GB" });
const dir = await tempDir();
const driver = entity("driver", ["driver_id"]);
const customer = entity("customer", ["customer_id"]);

function request(
  view: FeatureViewSpec,
  source: FileSourceSpec,
  entities: EntitySpec[],
  features = view.features.map((f) => f.name),
): ViewRequest {
  return { view, source, entities, features };
}

/** A view over one Parquet file of rows. */
async function parquetView(
  name: string,
  rows: Record<string, unknown>[],
  options: {
    entities?: string[];
    ttlSeconds?: number;
    created?: boolean;
    features?: { name: string; type: "float64" | "int64" | "string" | "float32" }[];
  } = {},
): Promise<{ view: FeatureViewSpec; source: FileSourceSpec }> {
  await writeRowsParquet(dir, `${name}.parquet`, rows);
  const source = fileSource(`${name}_source`, `${name}.parquet`, {
    ...(options.created ? { createdTimestampColumn: "created" } : {}),
  });
  const view = featureView(name, {
    entities: options.entities ?? ["driver"],
    source: source.name,
    ttlSeconds: options.ttlSeconds ?? 0,
    features: options.features ?? [{ name: "value", type: "float64" }],
  });
  return { view, source };
}

async function rowsOf(
  views: ViewRequest[],
  entityTable: Record<string, unknown>[] | string | Table | { sql: string },
  options: { fullFeatureNames?: boolean; filterByCreatedTimestamp?: boolean } = {},
) {
  const job = await store.getHistoricalFeatures({ repoDir: dir, entityTable, views, ...options });
  return await job.toRows();
}

function values(rows: Record<string, unknown>[], column = "value"): unknown[] {
  return rows.map((r) => r[column]);
}

Deno.test("getHistoricalFeatures() includes a row exactly ttl old and excludes an older one", async () => {
  const { view, source } = await parquetView("ttl_low", [
    { driver_id: 1, event_timestamp: t("2024-01-01T00:00:00"), value: 1 },
    { driver_id: 2, event_timestamp: new Date(t("2024-01-01T00:00:00").getTime() - 1), value: 2 },
  ], { ttlSeconds: 3600 });
  const rows = await rowsOf([request(view, source, [driver])], [
    { driver_id: 1, event_timestamp: t("2024-01-01T01:00:00") },
    { driver_id: 2, event_timestamp: t("2024-01-01T01:00:00") },
  ]);
  assert.deepEqual(values(rows), [1, null]);
});

Deno.test("getHistoricalFeatures() includes a row at the entity timestamp and excludes later rows", async () => {
  const { view, source } = await parquetView("ttl_high", [
    { driver_id: 1, event_timestamp: t("2024-01-01T00:00:00"), value: 1 },
    { driver_id: 1, event_timestamp: t("2024-01-01T01:00:00"), value: 2 },
    { driver_id: 1, event_timestamp: new Date(t("2024-01-01T01:00:00").getTime() + 1), value: 3 },
  ], { ttlSeconds: 86400 });
  const rows = await rowsOf([request(view, source, [driver])], [
    { driver_id: 1, event_timestamp: t("2024-01-01T01:00:00") },
    { driver_id: 1, event_timestamp: t("2024-01-01T00:59:59") },
  ]);
  assert.deepEqual(values(rows), [2, 1]);
});

Deno.test("getHistoricalFeatures() treats ttl 0 as unlimited lookback", async () => {
  const { view, source } = await parquetView("ttl_zero", [
    { driver_id: 1, event_timestamp: t("2000-01-01T00:00:00"), value: 7 },
  ]);
  const rows = await rowsOf([request(view, source, [driver])], [
    { driver_id: 1, event_timestamp: t("2024-01-01T00:00:00") },
    { driver_id: 1, event_timestamp: t("1999-12-31T23:59:59") },
  ]);
  assert.deepEqual(values(rows), [7, null]);
});

Deno.test("getHistoricalFeatures() breaks ties on event time by the greatest created time", async () => {
  const ts = t("2024-01-01T00:00:00");
  const { view, source } = await parquetView("ties", [
    { driver_id: 1, event_timestamp: ts, created: t("2024-01-01T00:00:05"), value: 1 },
    { driver_id: 1, event_timestamp: ts, created: t("2024-01-01T00:00:09"), value: 2 },
    { driver_id: 1, event_timestamp: ts, created: null, value: 3 },
    { driver_id: 1, event_timestamp: ts, created: t("2024-01-01T00:00:01"), value: 4 },
  ], { created: true });
  const rows = await rowsOf([request(view, source, [driver])], [
    { driver_id: 1, event_timestamp: t("2024-01-01T00:00:00") },
  ]);
  assert.deepEqual(values(rows), [2]);
});

Deno.test("getHistoricalFeatures() with filterByCreatedTimestamp requires created <= entity time", async () => {
  const { view, source } = await parquetView("created_filter", [
    {
      driver_id: 1,
      event_timestamp: t("2024-01-01T00:00:00"),
      created: t("2024-01-01T00:00:00"),
      value: 1,
    },
    // Newer event, but created after the entity row's time: must be skipped.
    {
      driver_id: 1,
      event_timestamp: t("2024-01-01T01:00:00"),
      created: t("2024-01-01T03:00:00"),
      value: 2,
    },
    // NULL created drops out with the filter.
    { driver_id: 1, event_timestamp: t("2024-01-01T01:30:00"), created: null, value: 3 },
  ], { created: true });
  const entityRows = [{ driver_id: 1, event_timestamp: t("2024-01-01T02:00:00") }];
  const views = [request(view, source, [driver])];
  assert.deepEqual(values(await rowsOf(views, entityRows, { filterByCreatedTimestamp: true })), [
    1,
  ]);
  // Without the filter, created only breaks ties: the newest event wins.
  assert.deepEqual(values(await rowsOf(views, entityRows)), [3]);
});

Deno.test("getHistoricalFeatures() keeps duplicated entity rows, in input order", async () => {
  const { view, source } = await parquetView("dups", [
    { driver_id: 1, event_timestamp: t("2024-01-01T00:00:00"), value: 1 },
    { driver_id: 2, event_timestamp: t("2024-01-01T00:00:00"), value: 2 },
  ]);
  const rows = await rowsOf([request(view, source, [driver])], [
    { driver_id: 2, event_timestamp: t("2024-01-02T00:00:00"), n: 0 },
    { driver_id: 1, event_timestamp: t("2024-01-02T00:00:00"), n: 1 },
    { driver_id: 2, event_timestamp: t("2024-01-02T00:00:00"), n: 2 },
    { driver_id: 2, event_timestamp: t("2024-01-02T00:00:00"), n: 3 },
  ]);
  assert.deepEqual(rows.map((r) => [r.n, r.value]), [[0, 2], [1, 1], [2, 2], [3, 2]]);
});

Deno.test("getHistoricalFeatures() keeps unmatched entity rows with null features", async () => {
  const { view, source } = await parquetView("unmatched", [
    { driver_id: 1, event_timestamp: t("2024-01-01T00:00:00"), value: 1 },
  ]);
  const rows = await rowsOf([request(view, source, [driver])], [
    { driver_id: 99, event_timestamp: t("2024-01-02T00:00:00") },
    { driver_id: 1, event_timestamp: t("2024-01-02T00:00:00") },
    { driver_id: null, event_timestamp: t("2024-01-02T00:00:00") },
  ]);
  assert.equal(rows.length, 3);
  assert.deepEqual(rows.map((r) => r.driver_id), [99, 1, null]);
  assert.deepEqual(values(rows), [null, 1, null]);
});

Deno.test("getHistoricalFeatures() rejects an entity row without a timestamp, naming the row", async () => {
  const { view, source } = await parquetView("no_time", [
    { driver_id: 1, event_timestamp: t("2024-01-01T00:00:00"), value: 1 },
  ]);
  const views = [request(view, source, [driver])];
  const rows = [
    { driver_id: 1, event_timestamp: t("2024-01-02T00:00:00") },
    { driver_id: 2, event_timestamp: t("2024-01-02T00:00:00") },
    { driver_id: 1, event_timestamp: null },
  ];
  const noTimestamp = {
    code: "INPUT_INVALID",
    message:
      'Entity row 2 (counting from 0) has no "event_timestamp": every entity row needs a timestamp',
  };
  await assert.rejects(rowsOf(views, rows), noTimestamp);
  await assert.rejects(
    rowsOf(views, [rows[0]!, { driver_id: 1, event_timestamp: new Date("not a date") }]),
    {
      code: "INPUT_INVALID",
      message:
        'Entity rows: row 1 (counting from 0), column "event_timestamp": the Date is invalid',
    },
  );
  const parquetPath = await writeRowsParquet(dir, "no_time_entities.parquet", rows);
  await assert.rejects(rowsOf(views, parquetPath), noTimestamp);
  await writeText(
    dir,
    "no_time_entities.csv",
    "driver_id,event_timestamp\n1,2024-01-02T00:00:00Z\n2,\n",
  );
  await assert.rejects(rowsOf(views, "no_time_entities.csv"), {
    code: "INPUT_INVALID",
    message: `Entity file "${
      join(dir, "no_time_entities.csv")
    }", line 3: column "event_timestamp" is empty`,
  });
});

Deno.test("getHistoricalFeatures() joins several views with different entities in one request", async () => {
  const a = await parquetView("multi_driver", [
    { driver_id: 1, event_timestamp: t("2024-01-01T00:00:00"), conv: 0.5 },
  ], { features: [{ name: "conv", type: "float64" }] });
  const b = await parquetView("multi_customer", [
    { customer_id: 10, event_timestamp: t("2024-01-01T06:00:00"), spend: 42 },
    { customer_id: 10, event_timestamp: t("2024-01-03T00:00:00"), spend: 43 },
  ], { entities: ["customer"], features: [{ name: "spend", type: "int64" }] });
  const rows = await rowsOf(
    [request(a.view, a.source, [driver]), request(b.view, b.source, [customer])],
    [
      { driver_id: 1, customer_id: 10, event_timestamp: t("2024-01-02T00:00:00") },
      { driver_id: 2, customer_id: 10, event_timestamp: t("2024-01-02T00:00:00") },
    ],
  );
  assert.deepEqual(rows.map((r) => [r.conv, r.spend]), [[0.5, 42], [null, 42]]);
});

Deno.test("getHistoricalFeatures() joins a view with two entities on both keys", async () => {
  const { view, source } = await parquetView("pair", [
    { driver_id: 1, customer_id: 10, event_timestamp: t("2024-01-01T00:00:00"), value: 1 },
    { driver_id: 1, customer_id: 11, event_timestamp: t("2024-01-01T00:00:00"), value: 2 },
    { driver_id: 2, customer_id: 10, event_timestamp: t("2024-01-01T00:00:00"), value: 3 },
  ], { entities: ["driver", "customer"] });
  const rows = await rowsOf([request(view, source, [driver, customer])], [
    { driver_id: 1, customer_id: 11, event_timestamp: t("2024-01-02T00:00:00") },
    { driver_id: 2, customer_id: 10, event_timestamp: t("2024-01-02T00:00:00") },
    { driver_id: 2, customer_id: 11, event_timestamp: t("2024-01-02T00:00:00") },
  ]);
  assert.deepEqual(values(rows), [2, 3, null]);
});

Deno.test("getHistoricalFeatures() joins on an entity with two join keys", async () => {
  const location = entity("location", ["country", "city"], "string");
  const { view, source } = await parquetView("city_stats", [
    { country: "FR", city: "Paris", event_timestamp: t("2024-01-01T00:00:00"), value: 1 },
    { country: "US", city: "Paris", event_timestamp: t("2024-01-01T00:00:00"), value: 2 },
  ], { entities: ["location"] });
  const rows = await rowsOf([request(view, source, [location])], [
    { country: "US", city: "Paris", event_timestamp: t("2024-01-02T00:00:00") },
    { country: "FR", city: "Paris", event_timestamp: t("2024-01-02T00:00:00") },
    { country: "FR", city: "Lyon", event_timestamp: t("2024-01-02T00:00:00") },
  ]);
  assert.deepEqual(values(rows), [2, 1, null]);
});

Deno.test("getHistoricalFeatures() joins an entityless view on time only", async () => {
  const { view, source } = await parquetView("global", [
    { event_timestamp: t("2024-01-01T00:00:00"), value: 1 },
    { event_timestamp: t("2024-01-02T00:00:00"), value: 2 },
  ], { entities: [], ttlSeconds: 86400 });
  const rows = await rowsOf([request(view, source, [])], [
    { driver_id: 5, event_timestamp: t("2024-01-01T12:00:00") },
    { driver_id: 6, event_timestamp: t("2024-01-02T00:00:00") },
    { driver_id: 7, event_timestamp: t("2023-12-31T00:00:00") },
    { driver_id: 8, event_timestamp: t("2024-01-04T00:00:00") },
  ]);
  assert.deepEqual(values(rows), [1, 2, null, null]);
});

Deno.test("getHistoricalFeatures() applies fieldMapping to features, join keys and timestamps", async () => {
  await writeRowsParquet(dir, "mapped.parquet", [
    { id: 1, ts: t("2024-01-01T00:00:00"), cr: 0.25 },
  ]);
  const source = fileSource("mapped_source", "mapped.parquet", {
    timestampField: "ts",
    fieldMapping: { id: "driver_id", cr: "conv_rate" },
  });
  const view = featureView("mapped", {
    entities: ["driver"],
    source: source.name,
    features: [{ name: "conv_rate", type: "float64" }],
  });
  const rows = await rowsOf([request(view, source, [driver])], [
    { driver_id: 1, event_timestamp: t("2024-01-02T00:00:00") },
  ]);
  assert.deepEqual(values(rows, "conv_rate"), [0.25]);
});

Deno.test("retrieval and pullLatest() read a timestamp column that fieldMapping renames", async () => {
  await writeRowsParquet(dir, "mapped_ts.parquet", [
    { driver_id: 1, raw_ts: t("2024-01-01T00:00:00"), conv_rate: 0.5 },
  ]);
  const source = fileSource("mapped_ts_source", "mapped_ts.parquet", {
    timestampField: "ts",
    fieldMapping: { raw_ts: "ts" },
  });
  const view = featureView("mapped_ts", {
    entities: ["driver"],
    source: source.name,
    features: [{ name: "conv_rate", type: "float64" }],
  });
  // Validation (apply) accepts this source; retrieval and materialization must read it so too.
  const rows = await rowsOf([request(view, source, [driver])], [
    { driver_id: 1, event_timestamp: t("2024-01-02T00:00:00") },
    { driver_id: 1, event_timestamp: t("2023-12-31T00:00:00") },
  ]);
  assert.deepEqual(values(rows, "conv_rate"), [0.5, null]);
  const latest = await store.pullLatest({
    repoDir: dir,
    view,
    source,
    entities: [driver],
    start: t("2023-12-01T00:00:00"),
    end: t("2024-01-02T00:00:00"),
  });
  assert.equal(latest.count, 1);
  for await (const _ of latest) {
    // drained: the rows load without error
  }
});

Deno.test("getHistoricalFeatures() names features view__feature with fullFeatureNames", async () => {
  const { view, source } = await parquetView("full_names", [
    { driver_id: 1, event_timestamp: t("2024-01-01T00:00:00"), value: 1 },
  ]);
  const job = await store.getHistoricalFeatures({
    repoDir: dir,
    entityTable: [{ driver_id: 1, event_timestamp: t("2024-01-02T00:00:00") }],
    views: [request(view, source, [driver])],
    fullFeatureNames: true,
  });
  assert.deepEqual(job.columns, ["driver_id", "event_timestamp", "full_names__value"]);
  assert.deepEqual(await job.toRows(), [{
    driver_id: 1,
    event_timestamp: t("2024-01-02T00:00:00"),
    full_names__value: 1,
  }]);
});

Deno.test("getHistoricalFeatures() rejects the same feature name from two views, naming both", async () => {
  const a = await parquetView("clash_a", [{
    driver_id: 1,
    event_timestamp: t("2024-01-01"),
    value: 1,
  }]);
  const b = await parquetView("clash_b", [{
    driver_id: 1,
    event_timestamp: t("2024-01-01"),
    value: 2,
  }]);
  await assert.rejects(
    store.getHistoricalFeatures({
      repoDir: dir,
      entityTable: [{ driver_id: 1, event_timestamp: t("2024-01-02") }],
      views: [request(a.view, a.source, [driver]), request(b.view, b.source, [driver])],
    }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, "INPUT_INVALID");
      assert.match(err.message, /"clash_a"/);
      assert.match(err.message, /"clash_b"/);
      return true;
    },
  );
  // With full names both are fine.
  const rows = await rowsOf(
    [request(a.view, a.source, [driver]), request(b.view, b.source, [driver])],
    [{ driver_id: 1, event_timestamp: t("2024-01-02") }],
    { fullFeatureNames: true },
  );
  assert.deepEqual([rows[0]!.clash_a__value, rows[0]!.clash_b__value], [1, 2]);
});

Deno.test("getHistoricalFeatures() normalizes time-zone-aware timestamps to UTC (naive = UTC)", async () => {
  // Source in CSV with offsets: 02:00+02:00 is 00:00Z.
  await writeText(
    dir,
    "tz.csv",
    "driver_id,event_timestamp,value\n1,2024-01-01T02:00:00+02:00,1\n1,2024-01-01T01:00:00Z,2\n",
  );
  const source = fileSource("tz_source", "tz.csv");
  const view = featureView("tz", {
    entities: ["driver"],
    source: source.name,
    features: [{ name: "value", type: "int64" }],
  });
  // Entity table: an Arrow table with a zoned timestamp column (instants are UTC in Arrow).
  const tsType = new Timestamp(TimeUnit.MILLISECOND, "Asia/Tokyo");
  const fields = [
    new Field("driver_id", new Int64(), true),
    new Field("event_timestamp", tsType, true),
  ];
  const schema = new Schema(fields);
  const data = makeData({
    type: new Struct(fields),
    length: 2,
    nullCount: 0,
    children: [
      makeData({ type: new Int64(), length: 2, nullCount: 0, data: new BigInt64Array([1n, 1n]) }),
      makeData({
        type: tsType,
        length: 2,
        nullCount: 0,
        data: new BigInt64Array([
          BigInt(t("2024-01-01T00:30:00").getTime()),
          BigInt(t("2024-01-01T01:00:00").getTime()),
        ]),
      }),
    ],
  });
  const zoned = await rowsOf(
    [request(view, source, [driver])],
    new Table(schema, [new RecordBatch(schema, data)]),
  );
  assert.deepEqual(values(zoned), [1, 2]);
  // Naive timestamps in a CSV entity file are UTC.
  await writeText(dir, "tz_entities.csv", "driver_id,event_timestamp\n1,2024-01-01 00:59:59\n");
  assert.deepEqual(values(await rowsOf([request(view, source, [driver])], "tz_entities.csv")), [1]);
});

Deno.test("getHistoricalFeatures() finds the entity timestamp column: event_timestamp, else the only one", async () => {
  const { view, source } = await parquetView("infer", [
    { driver_id: 1, event_timestamp: t("2024-01-01T00:00:00"), value: 1 },
  ]);
  const views = [request(view, source, [driver])];
  const ts = t("2024-01-02T00:00:00");
  assert.deepEqual(values(await rowsOf(views, [{ driver_id: 1, when: ts }])), [1]);
  assert.deepEqual(
    values(await rowsOf(views, [{ driver_id: 1, event_timestamp: ts, other: t("2020-01-01") }])),
    [1],
  );
  await assert.rejects(
    rowsOf(views, [{ driver_id: 1, a: ts, b: ts }]),
    /several timestamp columns/,
  );
  await assert.rejects(rowsOf(views, [{ driver_id: 1, day: "2024-01-02" }]), /no timestamp column/);
});

Deno.test("getHistoricalFeatures() passes entity columns through first, then features in request order", async () => {
  const { view, source } = await parquetView("order", [
    { driver_id: 1, event_timestamp: t("2024-01-01T00:00:00"), a: 1, b: "x", c: 3 },
  ], {
    features: [{ name: "a", type: "int64" }, { name: "b", type: "string" }, {
      name: "c",
      type: "int64",
    }],
  });
  const job = await store.getHistoricalFeatures({
    repoDir: dir,
    entityTable: [{ label: true, event_timestamp: t("2024-01-02"), driver_id: 1, note: "n" }],
    views: [request(view, source, [driver], ["c", "a", "b"])],
  });
  assert.deepEqual(job.columns, ["label", "event_timestamp", "driver_id", "note", "c", "a", "b"]);
  const table = await job.toArrow();
  assert.deepEqual(table.schema.fields.map((f) => f.name), job.columns);
  assert.deepEqual(await job.toRows(), [{
    label: true,
    event_timestamp: t("2024-01-02"),
    driver_id: 1,
    note: "n",
    c: 3,
    a: 1,
    b: "x",
  }]);
});

Deno.test("getHistoricalFeatures() reads entity tables from Parquet, CSV, Arrow and SQL", async () => {
  const { view, source } = await parquetView("inputs", [
    { driver_id: 1, event_timestamp: t("2024-01-01T00:00:00"), value: 1 },
  ]);
  const views = [request(view, source, [driver])];
  const rows = [{ driver_id: 1, event_timestamp: t("2024-01-02T00:00:00") }];
  const parquetPath = await writeRowsParquet(dir, "entities.parquet", rows);
  await writeText(dir, "entities.csv", "driver_id,event_timestamp\n1,2024-01-02T00:00:00Z\n");
  assert.deepEqual(values(await rowsOf(views, parquetPath)), [1]);
  assert.deepEqual(values(await rowsOf(views, "entities.csv")), [1]);
  const { tableFromRows } = await import("../../engine/offline/_values.ts");
  const arrow = tableFromRows(rows);
  assert.deepEqual(values(await rowsOf(views, arrow)), [1]);
  await store.registerTable("my_entities", arrow);
  assert.deepEqual(values(await rowsOf(views, { sql: "SELECT * FROM my_entities" })), [1]);
  const csv = join(dir, "entities.csv").replaceAll("'", "''");
  assert.deepEqual(values(await rowsOf(views, { sql: `SELECT * FROM read_csv('${csv}')` })), [1]);
});

Deno.test("getHistoricalFeatures() without an entity table returns the latest value per key in [start, end]", async () => {
  const a = await parquetView("window_a", [
    { driver_id: 1, event_timestamp: t("2024-01-01T00:00:00"), value: 1 },
    { driver_id: 1, event_timestamp: t("2024-01-05T00:00:00"), value: 2 },
    { driver_id: 1, event_timestamp: t("2024-01-09T00:00:00"), value: 3 },
    { driver_id: 2, event_timestamp: t("2024-01-02T00:00:00"), value: 4 },
    { driver_id: 3, event_timestamp: t("2023-12-01T00:00:00"), value: 5 },
  ], { ttlSeconds: 60 });
  const job = await store.getHistoricalFeatures({
    repoDir: dir,
    start: t("2024-01-01T00:00:00"),
    end: t("2024-01-05T00:00:00"),
    views: [request(a.view, a.source, [driver])],
  });
  assert.deepEqual(job.columns, ["driver_id", "event_timestamp", "value"]);
  assert.deepEqual(await job.toRows(), [
    { driver_id: 1, event_timestamp: t("2024-01-05T00:00:00"), value: 2 },
    { driver_id: 2, event_timestamp: t("2024-01-05T00:00:00"), value: 4 },
  ]);
});

Deno.test("getHistoricalFeatures() reports bad input clearly", async () => {
  const { view, source } = await parquetView("bad", [
    { driver_id: 1, event_timestamp: t("2024-01-01T00:00:00"), value: 1 },
  ]);
  const views = [request(view, source, [driver])];
  const ts = t("2024-01-02");
  const code = (expected: string, pattern: RegExp) => (err: Error & { code?: string }) => {
    assert.equal(err.code, expected, err.message);
    assert.match(err.message, pattern);
    return true;
  };
  await assert.rejects(
    rowsOf(views, [{ customer: 1, event_timestamp: ts }]),
    code("INPUT_INVALID", /no column "driver_id"/),
  );
  await assert.rejects(
    rowsOf(views, [{ driver_id: "one", event_timestamp: ts }]),
    code("INPUT_INVALID", /"driver_id" is VARCHAR, expected int64/),
  );
  await assert.rejects(rowsOf(views, []), code("INPUT_INVALID", /empty/));
  await writeText(dir, "empty_entities.csv", "driver_id,event_timestamp\n");
  await assert.rejects(
    rowsOf(views, "empty_entities.csv"),
    code("INPUT_INVALID", /empty|timestamp/),
  );
  await assert.rejects(
    rowsOf(views, "nope.parquet"),
    code("INPUT_INVALID", /Cannot find entity file ".*nope.parquet"/),
  );
  await assert.rejects(
    rowsOf([request(view, source, [driver], ["nope"])], [{ driver_id: 1, event_timestamp: ts }]),
    code("NOT_FOUND", /Feature view "bad" has no feature "nope"/),
  );
  // A source whose file no longer matches its schema.
  await writeRowsParquet(dir, "drifted.parquet", [{
    driver_id: 1,
    event_timestamp: ts,
    value: "text",
  }]);
  const drifted = { ...source, name: "drifted_source", path: "drifted.parquet" };
  await assert.rejects(
    rowsOf([request(view, drifted, [driver])], [{ driver_id: 1, event_timestamp: ts }]),
    code(
      "SOURCE_INVALID",
      /source "drifted_source" column "value" for feature is VARCHAR \(string\), expected float64/,
    ),
  );
  const missing = { ...source, name: "gone_source", path: "gone/*.parquet" };
  await assert.rejects(
    rowsOf([request(view, missing, [driver])], [{ driver_id: 1, event_timestamp: ts }]),
    code("SOURCE_INVALID", /Data source "gone_source": path "gone\/\*.parquet" matches no file/),
  );
});

Deno.test("RetrievalJob.write() writes .parquet, .csv and .json, and leaves no file on failure", async () => {
  const { view, source } = await parquetView("writes", [
    { driver_id: 1, event_timestamp: t("2024-01-01T00:00:00"), value: 1.5 },
  ]);
  // Microseconds survive (a CSV entity file keeps them; a JavaScript Date could not).
  await writeText(dir, "micros.csv", "driver_id,event_timestamp\n1,2024-01-02 00:00:00.000001\n");
  const job = await store.getHistoricalFeatures({
    repoDir: dir,
    entityTable: "micros.csv",
    views: [request(view, source, [driver])],
  });
  const out = join(dir, "out");
  assert.deepEqual(await job.write(join(out, "train.csv")), { rows: 1 });
  assert.equal(
    await Deno.readTextFile(join(out, "train.csv")),
    "driver_id,event_timestamp,value\n1,2024-01-02T00:00:00.000001Z,1.5\n",
  );
  await job.write(join(out, "train.json"));
  assert.deepEqual(JSON.parse(await Deno.readTextFile(join(out, "train.json"))), [
    { driver_id: 1, event_timestamp: "2024-01-02T00:00:00.000001Z", value: 1.5 },
  ]);
  await job.write(join(out, "train.parquet"));
  const { readParquetFile } = await import("../../engine/offline/mod.ts");
  const back = await readParquetFile(join(out, "train.parquet"));
  assert.equal(back.numRows, 1);
  assert.deepEqual(back.schema.fields.map((f) => f.name), [
    "driver_id",
    "event_timestamp",
    "value",
  ]);
  await assert.rejects(job.write(join(out, "train.xlsx")), /extension must be/);
  // The source disappears after validation: the run fails and nothing is left behind.
  await Deno.remove(join(dir, "writes.parquet"));
  await assert.rejects(job.write(join(out, "broken.parquet")));
  const left = [...Deno.readDirSync(out)].map((e) => e.name).sort();
  assert.deepEqual(left, ["train.csv", "train.json", "train.parquet"]);
});

Deno.test("RetrievalJob.write() writes NaN and ±Infinity as the text NaN, Infinity, -Infinity in JSON and CSV", async () => {
  const { view, source } = await parquetView("non_finite", [
    { driver_id: 1, event_timestamp: t("2024-01-01T00:00:00"), value: NaN },
    { driver_id: 2, event_timestamp: t("2024-01-01T00:00:00"), value: Infinity },
    { driver_id: 3, event_timestamp: t("2024-01-01T00:00:00"), value: -Infinity },
    { driver_id: 4, event_timestamp: t("2024-01-01T00:00:00"), value: null },
  ]);
  const ts = t("2024-01-02");
  const job = await store.getHistoricalFeatures({
    repoDir: dir,
    entityTable: [1, 2, 3, 4].map((driver_id) => ({ driver_id, event_timestamp: ts })),
    views: [request(view, source, [driver])],
  });
  const out = join(dir, "non_finite_out");
  await job.write(join(out, "train.json"));
  const json = JSON.parse(await Deno.readTextFile(join(out, "train.json")));
  assert.deepEqual(json.map((r: { value: unknown }) => r.value), [
    "NaN",
    "Infinity",
    "-Infinity",
    null,
  ]);
  await job.write(join(out, "train.csv"));
  const csv = (await Deno.readTextFile(join(out, "train.csv"))).trim().split("\n");
  assert.deepEqual(csv.slice(1).map((line) => line.split(",")[2]), [
    "NaN",
    "Infinity",
    "-Infinity",
    "",
  ]);
  // Rows and Arrow keep the numbers.
  assert.deepEqual(values(await job.toRows()), [NaN, Infinity, -Infinity, null]);
});

Deno.test("RetrievalJob.batches() streams the result in entity order", async () => {
  const rows = Array.from({ length: 5000 }, (_, i) => ({
    driver_id: i % 50,
    event_timestamp: new Date(Date.UTC(2024, 0, 1) + i * 1000),
    value: i,
  }));
  const { view, source } = await parquetView("stream", rows);
  const entities = Array.from({ length: 6000 }, (_, i) => ({
    driver_id: (i * 7) % 60,
    event_timestamp: new Date(Date.UTC(2024, 0, 1) + ((i * 13) % 6000) * 1000),
    i,
  }));
  const job = await store.getHistoricalFeatures({
    repoDir: dir,
    entityTable: entities,
    views: [request(view, source, [driver])],
  });
  let seen = 0;
  let batches = 0;
  for await (const batch of job.batches({ batchRows: 1000 })) {
    assert.ok(batch.numRows <= 1000);
    const ids = batch.getChild("i")!.toArray();
    for (const id of ids) assert.equal(Number(id), seen++);
    batches++;
  }
  assert.equal(seen, 6000);
  assert.ok(batches >= 6);
});

Deno.test("pullLatest() yields the newest row per key within [start, end], in batches", async () => {
  const { view, source } = await parquetView("pull", [
    {
      driver_id: 1,
      event_timestamp: t("2024-01-01T00:00:00"),
      created: t("2024-01-01T00:00:00"),
      value: 1,
    },
    {
      driver_id: 1,
      event_timestamp: t("2024-01-02T00:00:00"),
      created: t("2024-01-02T00:00:00"),
      value: 2,
    },
    {
      driver_id: 1,
      event_timestamp: t("2024-01-02T00:00:00"),
      created: t("2024-01-02T05:00:00"),
      value: 3,
    },
    { driver_id: 1, event_timestamp: t("2024-01-03T00:00:00"), created: null, value: 4 },
    { driver_id: 2, event_timestamp: t("2024-01-01T00:00:00"), created: null, value: 5 },
    { driver_id: 3, event_timestamp: t("2023-12-31T23:59:59"), created: null, value: 6 },
  ], { created: true });
  const latest = await store.pullLatest({
    repoDir: dir,
    view,
    source,
    entities: [driver],
    start: t("2024-01-01T00:00:00"),
    end: t("2024-01-02T00:00:00"),
    batchRows: 1,
  });
  assert.equal(latest.count, 2);
  assert.deepEqual(latest.joinKeys, ["driver_id"]);
  const got: unknown[] = [];
  for await (const batch of latest) {
    assert.equal(batch.numRows, 1);
    const row = batch.get(0)!.toJSON();
    got.push([Number(row.driver_id), row.event_timestamp, row.created_timestamp, row.value]);
  }
  got.sort((a, b) => (a as number[])[0]! - (b as number[])[0]!);
  assert.deepEqual(got, [
    [1, t("2024-01-02").getTime(), t("2024-01-02T05:00:00").getTime(), 3],
    [2, t("2024-01-01").getTime(), null, 5],
  ]);
});

Deno.test("store.close() releases the shared DuckDB instance", async () => {
  await store.close();
  await Deno.remove(dir, { recursive: true });
});
