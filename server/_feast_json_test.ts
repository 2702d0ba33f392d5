import assert from "node:assert/strict";
import {
  applyPlan,
  checkRepo,
  type Definition,
  emptyDocument,
  entity,
  featureService,
  featureView,
  fileSource,
  planChanges,
  postgresSource,
} from "../registry/mod.ts";
import {
  dataSourceJson,
  durationJson,
  entityJson,
  feastTypeName,
  featureServiceJson,
  featureViewJson,
  projectJson,
  timestampJson,
  valueTypeName,
} from "./_feast_json.ts";

Deno.test("durationJson() prints protobuf Durations: whole seconds, or 3, 6 or 9 digits", () => {
  // google.protobuf.Duration's JSON form, as `MessageToDict` prints it.
  assert.equal(durationJson(7200), "7200s");
  assert.equal(durationJson(0), "0s");
  assert.equal(durationJson(1.5), "1.500s");
  assert.equal(durationJson(0.000002), "0.000002s");
  assert.equal(durationJson(3.000000001), "3.000000001s");
});

Deno.test("timestampJson() prints protobuf Timestamps: no fraction when it is zero", () => {
  assert.equal(timestampJson("2024-01-01T00:00:00.000Z"), "2024-01-01T00:00:00Z");
  assert.equal(timestampJson("2024-01-01T00:00:00.120Z"), "2024-01-01T00:00:00.120Z");
  assert.equal(timestampJson("2024-01-01T02:00:00+02:00"), "2024-01-01T00:00:00Z");
});

Deno.test("valueTypeName() and feastTypeName() name Larder's types as Feast does", () => {
  // ValueType.Enum (protos/feast/types/Value.proto) and `str(dtype)` (sdk/python/feast/types.py).
  const pairs = [
    ["int32", "INT32", "Int32"],
    ["int64", "INT64", "Int64"],
    ["float32", "FLOAT", "Float32"],
    ["float64", "DOUBLE", "Float64"],
    ["string", "STRING", "String"],
    ["bool", "BOOL", "Bool"],
    ["bytes", "BYTES", "Bytes"],
    ["timestamp", "UNIX_TIMESTAMP", "UnixTimestamp"],
    ["float32[]", "FLOAT_LIST", "Array(Float32)"],
    ["timestamp[]", "UNIX_TIMESTAMP_LIST", "Array(UnixTimestamp)"],
  ];
  for (const [larder, enumName, python] of pairs) {
    assert.equal(valueTypeName(larder!), enumName);
    assert.equal(feastTypeName(larder!), python);
  }
});

const at = new Date("2026-01-02T03:04:05.000Z");

async function documentOf(values: readonly Definition[]) {
  const contents = checkRepo(values.map((value) => ({ value, file: "f.ts" })));
  const empty = emptyDocument("p");
  const doc = applyPlan(empty, contents, await planChanges(empty, contents), at);
  return { ...doc, version: 1, updatedAt: at.toISOString() };
}

Deno.test("featureViewJson() adds materialized intervals and every join key's column", async () => {
  const trip = entity({ name: "trip", joinKeys: ["driver_id", "rider_id"], valueType: "string" });
  const source = fileSource({ name: "s", path: "data/s.csv", timestampField: "ts" });
  const view = featureView({
    name: "v",
    entities: [trip],
    schema: { a: "bool" },
    source,
    ttl: "90m",
    online: false,
  });
  const doc = await documentOf([view]);
  doc.materializations.v = [{
    start: "2024-01-01T00:00:00.000Z",
    end: "2024-01-02T00:00:00.000Z",
    recordedAt: "2024-01-02T00:00:01.000Z",
  }];
  const json = featureViewJson(doc, "v", () => true)!;
  const spec = json.spec as Record<string, unknown>;
  assert.equal(spec.ttl, "5400s");
  assert.equal(spec.online, undefined, "false is left out");
  assert.deepEqual(spec.entityColumns, [
    { name: "driver_id", valueType: "STRING" },
    { name: "rider_id", valueType: "STRING" },
  ]);
  assert.deepEqual(json.meta, {
    createdTimestamp: "2026-01-02T03:04:05Z",
    lastUpdatedTimestamp: "2026-01-02T03:04:05Z",
    materializationIntervals: [
      { startTime: "2024-01-01T00:00:00Z", endTime: "2024-01-02T00:00:00Z" },
    ],
  });
  // Feast's Entity has one join key: the first stands for the entity.
  assert.equal((entityJson(doc, "trip")!.spec as { joinKey: string }).joinKey, "driver_id");
  assert.deepEqual(projectJson(doc), {
    spec: { name: "p" },
    meta: {
      createdTimestamp: "2026-01-02T03:04:05Z",
      lastUpdatedTimestamp: "2026-01-02T03:04:05Z",
    },
  });
});

Deno.test("featureServiceJson() prints a projection's alias and join-key map", async () => {
  const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
  const source = fileSource({ name: "s", path: "data/s.parquet", timestampField: "ts" });
  const view = featureView({ name: "v", entities: [driver], schema: { a: "int32" }, source });
  const projected = view.withName("v2").withJoinKeyMap({ driver_id: "rider_id" });
  const doc = await documentOf([view, featureService({ name: "svc", features: [projected] })]);
  const features = (featureServiceJson(doc, "svc", () => true)!.spec as {
    features: unknown[];
  }).features;
  assert.deepEqual(features[0], {
    featureViewName: "v",
    featureViewNameAlias: "v2",
    featureColumns: [{ name: "a", valueType: "INT32" }],
    joinKeyMap: { driver_id: "rider_id" },
    batchSource: {
      type: "BATCH_FILE",
      timestampField: "ts",
      name: "s",
      fileOptions: { fileFormat: { parquetFormat: {} }, uri: "data/s.parquet" },
      meta: {
        createdTimestamp: "2026-01-02T03:04:05Z",
        lastUpdatedTimestamp: "2026-01-02T03:04:05Z",
      },
    },
  });
});

Deno.test("featureServiceJson() prints logging as Feast's loggingConfig", async () => {
  const source = fileSource({ name: "s", path: "data/s.parquet", timestampField: "ts" });
  const view = featureView({ name: "v", schema: { a: "int32" }, source });
  const doc = await documentOf([
    view,
    featureService({
      name: "logged",
      features: [view],
      logging: { sampleRate: 0.5, destination: { path: "data/logs" } },
    }),
    featureService({ name: "plain", features: [view] }),
  ]);
  const spec = (name: string) =>
    featureServiceJson(doc, name, () => true)!.spec as { loggingConfig?: unknown };
  assert.deepEqual(spec("logged").loggingConfig, {
    sampleRate: 0.5,
    fileDestination: { path: "data/logs" },
  });
  assert.equal(spec("plain").loggingConfig, undefined);
});

Deno.test("dataSourceJson() prints a Postgres source as Feast's PostgreSQLSource", async () => {
  const source = postgresSource({
    name: "pg",
    table: "analytics.stats",
    timestampField: "ts",
    createdTimestampColumn: "created",
  });
  const doc = await documentOf([source]);
  const json = dataSourceJson(doc, "pg", () => true)!;
  assert.equal(json.type, "CUSTOM_SOURCE");
  assert.equal(
    json.dataSourceClassType,
    "feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source.PostgreSQLSource",
  );
  assert.equal(json.timestampField, "ts");
  assert.equal(json.createdTimestampColumn, "created");
  const options = json.customOptions as { configuration: string };
  assert.deepEqual(JSON.parse(atob(options.configuration)), {
    name: "pg",
    table: "analytics.stats",
  });
});
