/** Source files, Parquet I/O, describeSource() and checkSourceCompatibility() on real files. */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  checkSourceCompatibility,
  DuckDBOfflineStore,
  pushedPartsFolder,
  readParquetFile,
  readParquetSchema,
  resolveSourceFiles,
  type SourceColumn,
  writeParquetFile,
} from "../../engine/offline/mod.ts";
import { tableFromRows } from "../../engine/offline/_values.ts";
import {
  entity,
  featureView,
  fileSource,
  t,
  tempDir,
  writeRowsParquet,
  writeText,
} from "./_fixtures.ts";

const store = new DuckDBOfflineStore({ memoryLimit: "512MB" });
const dir = await tempDir();
const rows = [
  {
    driver_id: 1001,
    event_timestamp: t("2024-01-01T00:00:00"),
    conv_rate: 0.5,
    trips: 3,
    city: "Paris",
  },
  {
    driver_id: 1002,
    event_timestamp: t("2024-01-01T01:00:00"),
    conv_rate: 0.25,
    trips: 4,
    city: "Lyon",
  },
];
await writeRowsParquet(dir, "data/2024/01.parquet", rows);
await writeRowsParquet(dir, "data/2024/02.parquet", rows);
await writeRowsParquet(dir, "data/top.parquet", rows);
await writeText(dir, "data/_ignored.parquet", "not parquet");
await writeText(
  dir,
  "stats.csv",
  "driver_id,event_timestamp,conv_rate,trips,city\n1001,2024-01-01 00:00:00,0.5,3,Paris\n",
);

const driver = entity("driver", ["driver_id"]);
const view = featureView("driver_hourly_stats", {
  entities: ["driver"],
  source: "driver_stats_source",
  features: [{ name: "conv_rate", type: "float32" }, { name: "trips", type: "int64" }],
});

Deno.test("resolveSourceFiles() resolves a file, a glob, a recursive glob and a folder", async () => {
  const rel = (files: string[]) => files.map((f) => f.slice(dir.length + 1));
  const resolve = (path: string) => resolveSourceFiles({ name: "s", path, format: "parquet" }, dir);
  assert.deepEqual(rel(await resolve("data/top.parquet")), ["data/top.parquet"]);
  assert.deepEqual(rel(await resolve(join(dir, "data/top.parquet"))), ["data/top.parquet"]);
  assert.deepEqual(rel(await resolve("data/*.parquet")), [
    "data/_ignored.parquet",
    "data/top.parquet",
  ]);
  assert.deepEqual(rel(await resolve("data/**/*.parquet")), [
    "data/2024/01.parquet",
    "data/2024/02.parquet",
    "data/_ignored.parquet",
    "data/top.parquet",
  ]);
  assert.deepEqual(rel(await resolve("data/2024/0?.parquet")), [
    "data/2024/01.parquet",
    "data/2024/02.parquet",
  ]);
  // A folder: every .parquet below it, skipping names that start with "_" or ".".
  assert.deepEqual(rel(await resolve("data")), [
    "data/2024/01.parquet",
    "data/2024/02.parquet",
    "data/top.parquet",
  ]);
});

Deno.test("resolveSourceFiles() reads a single file with its pushed parts, which no glob or folder reads", async () => {
  const base = await tempDir();
  try {
    await writeRowsParquet(base, "data/stats.parquet", rows);
    await writeRowsParquet(base, "data/other.parquet", rows);
    const parts = "data/.stats.parquet.pushed";
    await writeRowsParquet(base, `${parts}/push-20240102T000000000Z-bbbb.parquet`, rows);
    await writeRowsParquet(base, `${parts}/push-20240101T000000000Z-aaaa.parquet`, rows);
    // Not parts: a file being written, hidden or "_" names, another format, a folder.
    await writeText(base, `${parts}/push-20240103T000000000Z-cccc.parquet.tmp-1234`, "half");
    await writeText(base, `${parts}/.hidden.parquet`, "x");
    await writeText(base, `${parts}/_meta.parquet`, "x");
    await writeText(base, `${parts}/notes.csv`, "a\n1\n");
    await Deno.mkdir(join(base, parts, "sub.parquet"));
    const rel = (files: string[]) => files.map((f) => f.slice(base.length + 1));
    const resolve = (path: string) =>
      resolveSourceFiles({ name: "s", path, format: "parquet" }, base);
    assert.deepEqual(rel(await resolve("data/stats.parquet")), [
      "data/stats.parquet",
      `${parts}/push-20240101T000000000Z-aaaa.parquet`,
      `${parts}/push-20240102T000000000Z-bbbb.parquet`,
    ]);
    assert.equal(pushedPartsFolder(join(base, "data/stats.parquet")), join(base, parts));
    // Another source over the folder, or any glob, reads the file itself but not its parts.
    const plain = ["data/other.parquet", "data/stats.parquet"];
    assert.deepEqual(rel(await resolve("data")), plain);
    assert.deepEqual(rel(await resolve("data/*.parquet")), plain);
    assert.deepEqual(rel(await resolve("data/**/*.parquet")), plain);
    assert.deepEqual(rel(await resolve("**/*.parquet")), plain);
    await assert.rejects(resolve("data/*/*.parquet"), /matches no file/, "* skips hidden folders");
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("resolveSourceFiles() names the source and the path when nothing matches", async () => {
  for (const path of ["missing.parquet", "data/*.csv", "nowhere/**/*.parquet"]) {
    await assert.rejects(
      resolveSourceFiles({ name: "driver_stats_source", path, format: "parquet" }, dir),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, "SOURCE_INVALID");
        assert.match(
          err.message,
          /^Data source "driver_stats_source": path ".+" (does not exist|matches no file)/,
        );
        assert.ok(err.message.includes(path));
        return true;
      },
    );
  }
  await Deno.mkdir(join(dir, "empty_folder"), { recursive: true });
  await assert.rejects(
    resolveSourceFiles({ name: "s", path: "empty_folder", format: "parquet" }, dir),
    /is a folder with no .parquet file/,
  );
});

Deno.test("writeParquetFile() and readParquetFile() round-trip a table; readParquetSchema() reads the footer", async () => {
  const path = join(dir, "roundtrip.parquet");
  await writeParquetFile(path, tableFromRows(rows));
  const schema = await readParquetSchema(path);
  assert.deepEqual(schema.fields.map((f) => f.name), [
    "driver_id",
    "event_timestamp",
    "conv_rate",
    "trips",
    "city",
  ]);
  const table = await readParquetFile(path);
  assert.equal(table.numRows, 2);
  assert.deepEqual(table.getChild("city")!.toArray(), ["Paris", "Lyon"]);
  const some = await readParquetFile(path, { columns: ["trips"] });
  assert.deepEqual(some.schema.fields.map((f) => f.name), ["trips"]);
  // No temporary file is left beside it.
  assert.deepEqual([...Deno.readDirSync(dir)].filter((e) => e.name.includes(".tmp-")), []);
  await assert.rejects(readParquetSchema(join(dir, "stats.csv")), /not a Parquet file/);
  await assert.rejects(readParquetSchema(join(dir, "nope.parquet")), /Cannot find Parquet file/);
});

Deno.test("describeSource() maps Parquet columns to Larder types and lists CSV columns as text", async () => {
  const parquet = await store.describeSource(fileSource("p", "data/**/*.parquet"), dir);
  assert.deepEqual(parquet.map((c) => [c.name, c.physicalType, c.valueType]), [
    ["driver_id", "BIGINT", "int64"],
    ["event_timestamp", "TIMESTAMP", "timestamp"],
    ["conv_rate", "DOUBLE", "float64"],
    ["trips", "BIGINT", "int64"],
    ["city", "VARCHAR", "string"],
  ]);
  const csv = await store.describeSource(fileSource("c", "stats.csv"), dir);
  assert.deepEqual(csv.map((c) => [c.name, c.physicalType, c.valueType, c.textual]), [
    ["driver_id", "CSV text", undefined, true],
    ["event_timestamp", "CSV text", undefined, true],
    ["conv_rate", "CSV text", undefined, true],
    ["trips", "CSV text", undefined, true],
    ["city", "CSV text", undefined, true],
  ]);
  await assert.rejects(
    store.describeSource(fileSource("gone", "gone.parquet"), dir),
    (err: Error & { code?: string }) =>
      err.code === "SOURCE_INVALID" &&
      /Data source "gone": path "gone.parquet" does not exist/.test(err.message),
  );
  await assert.rejects(
    store.describeSource(fileSource("bad", "data/_ignored.parquet"), dir),
    (err: Error & { code?: string }) =>
      err.code === "SOURCE_INVALID" &&
      /not a Parquet file|too small to be Parquet/.test(err.message),
  );
});

Deno.test("describeSource() maps lists, dates and booleans", async () => {
  await writeRowsParquet(dir, "lists.parquet", [{ xs: [1.5, 2.5], tags: ["a"], n: 1 }]);
  const lists = await store.describeSource(fileSource("lists", "lists.parquet"), dir);
  assert.deepEqual(lists.map((c) => [c.physicalType, c.valueType]), [
    ["DOUBLE[]", "float64[]"],
    ["VARCHAR[]", "string[]"],
    ["BIGINT", "int64"],
  ]);
});

Deno.test("checkSourceCompatibility() accepts matching and widening columns", () => {
  const columns: SourceColumn[] = [
    { name: "driver_id", physicalType: "INTEGER", valueType: "int32" },
    { name: "event_timestamp", physicalType: "TIMESTAMP WITH TIME ZONE", valueType: "timestamp" },
    { name: "conv_rate", physicalType: "DOUBLE", valueType: "float64" },
    { name: "trips", physicalType: "INTEGER", valueType: "int32" },
  ];
  const source = fileSource("driver_stats_source", "x.parquet");
  assert.deepEqual(checkSourceCompatibility(view, source, [driver], columns), []);
});

Deno.test("checkSourceCompatibility() reports every missing or mistyped column, after fieldMapping", () => {
  const columns: SourceColumn[] = [
    { name: "id", physicalType: "VARCHAR", valueType: "string" },
    { name: "ts", physicalType: "VARCHAR", valueType: "string" },
    { name: "trips", physicalType: "DOUBLE", valueType: "float64" },
    { name: "created", physicalType: "TIMESTAMP", valueType: "timestamp" },
  ];
  const source = fileSource("driver_stats_source", "x.parquet", {
    timestampField: "ts",
    createdTimestampColumn: "created",
    fieldMapping: { id: "driver_id" },
  });
  const problems = checkSourceCompatibility(view, source, [driver], columns);
  assert.deepEqual(problems, [
    'Feature view "driver_hourly_stats": source "driver_stats_source" column "id" (mapped to "driver_id") for join key of entity "driver" is VARCHAR (string), expected int64',
    'Feature view "driver_hourly_stats": source "driver_stats_source" has no column "conv_rate" for feature (columns: "id", "ts", "trips", "created")',
    'Feature view "driver_hourly_stats": source "driver_stats_source" column "trips" for feature is DOUBLE (float64), expected int64',
    'Feature view "driver_hourly_stats": source "driver_stats_source" column "ts" for the event timestamp is VARCHAR (string), expected timestamp',
  ]);
  assert.deepEqual(
    checkSourceCompatibility(view, source, [], columns)[0],
    'Feature view "driver_hourly_stats": entity "driver" is not defined',
  );
});

Deno.test("checkSource() flags a real CSV whose value does not fit the view's type", async () => {
  const path = await writeText(
    dir,
    "mismatch.csv",
    "driver_id,event_timestamp,conv_rate,trips\n1,2024-01-01 00:00:00,high,3\n",
  );
  const source = fileSource("driver_stats_source", "mismatch.csv");
  const columns = await store.describeSource(source, dir);
  assert.deepEqual(checkSourceCompatibility(view, source, [driver], columns), []);
  assert.deepEqual(await store.checkSource({ repoDir: dir, view, source, entities: [driver] }), [
    `Data source "driver_stats_source": file "${path}", line 2: column "conv_rate": "high" is not a valid float32`,
  ]);
  const missing = fileSource("driver_stats_source", "stats.csv");
  const noTrips = {
    ...view,
    features: [...view.features, { name: "nope", type: "int64" as const }],
  };
  assert.match(
    (await store.checkSource({ repoDir: dir, view: noTrips, source: missing, entities: [driver] }))
      .join("\n"),
    /has no column "nope" for feature/,
  );
});

Deno.test("store.close() after the source tests", async () => {
  await store.close();
  await Deno.remove(dir, { recursive: true });
});
