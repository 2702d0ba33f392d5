import assert from "node:assert/strict";
import {
  checkRepo,
  entity,
  fileSource,
  pushSource,
  streamFeatureView,
  streamSource,
} from "../mod.ts";

const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
const batch = fileSource({ name: "trips_batch", path: "data/trips/", timestampField: "ts" });

Deno.test("streamSource() fills broker defaults", () => {
  const redis = streamSource({
    name: "trips",
    broker: "redis",
    stream: "events:trips",
    timestampField: "ts",
    batchSource: batch,
  });
  assert.equal(redis.spec.kind, "stream");
  assert.equal(redis.spec.format, "fields");
  assert.equal(redis.spec.deadLetterStream, "events:trips:dead");
  assert.equal(redis.spec.batchSource, "trips_batch");
  assert.equal(redis.spec.subject, undefined);
  const nats = streamSource({
    name: "trips_nats",
    broker: "nats",
    stream: "TRIPS",
    timestampField: "ts",
    batchSource: "trips_batch",
  });
  assert.equal(nats.spec.format, "json");
  assert.equal(nats.spec.subject, "TRIPS.events");
  assert.equal(nats.spec.deadLetterStream, "TRIPS_dead");
});

Deno.test("streamSource() refuses bad input naming the field", () => {
  const base = { name: "s", stream: "x", timestampField: "ts", batchSource: batch } as const;
  assert.throws(() => streamSource({ ...base, broker: "kafka" as "redis" }), {
    code: "DEFINITION_INVALID",
    message: /Data source "s": broker/,
  });
  assert.throws(() => streamSource({ ...base, broker: "nats", stream: "a.b" }), {
    message: /stream: invalid NATS stream name "a.b"/,
  });
  assert.throws(() => streamSource({ ...base, broker: "nats", format: "fields" }), {
    message: /format: NATS messages are JSON objects/,
  });
  assert.throws(() => streamSource({ ...base, broker: "redis", subject: "x" }), {
    message: /subject: applies to NATS streams only/,
  });
  const push = pushSource({ name: "p", batchSource: batch });
  assert.throws(
    () => streamSource({ ...base, broker: "redis", batchSource: push as never }),
    {
      message:
        /batchSource: expected a file source made with fileSource\(\), or its name, got push source "p"/,
    },
  );
});

Deno.test("streamFeatureView() records its stream, transform and destinations", () => {
  const source = streamSource({
    name: "trips",
    broker: "redis",
    stream: "events:trips",
    timestampField: "ts",
    batchSource: batch,
  });
  const plain = streamFeatureView({
    name: "trip_stats",
    entities: [driver],
    schema: { fare: "float64" },
    source,
  });
  assert.deepEqual(plain.spec.stream, { writeTo: "both" });
  assert.equal(plain.spec.source, "trips");
  assert.equal(plain.transform, undefined);
  assert.equal(plain.features.fare.ref, "trip_stats:fare");
  const transform = (e: Readonly<Record<string, readonly unknown[]>>) => ({
    driver_id: e.driver_id!,
    ts: e.ts!,
    fare: e.cents!.map((c) => (c === null ? null : Number(c) / 100)),
  });
  const shaped = streamFeatureView({
    name: "trip_fares",
    entities: [driver],
    schema: { fare: "float64" },
    source: "trips",
    transform,
    writeTo: "online",
  });
  assert.equal(shaped.spec.stream?.writeTo, "online");
  assert.match(shaped.spec.stream?.transformHash ?? "", /^[0-9a-f]{64}$/);
  assert.equal(shaped.spec.stream?.transformSource, transform.toString());
  assert.equal(shaped.transform, transform);
  assert.equal(shaped.select(["fare"]).featureNames[0], "fare");

  const contents = checkRepo([
    { value: plain, file: "features.ts" },
    { value: shaped, file: "features.ts" },
  ]);
  assert.equal(contents.dataSource.get("trips")?.kind, "stream");
  assert.equal(contents.dataSource.get("trips_batch")?.kind, "file");
});

Deno.test("streamFeatureView() refuses what a processor could not run", () => {
  const base = { name: "v" as const, entities: [driver], schema: { fare: "float64" as const } };
  assert.throws(() => streamFeatureView({ ...base, source: batch as never }), {
    code: "DEFINITION_INVALID",
    message: /Feature view "v": source: expected a stream source .*got file source "trips_batch"/,
  });
  assert.throws(
    () => streamFeatureView({ ...base, source: "s", writeTo: "both", online: false }),
    { message: /writeTo "both" writes online, but the view is online: false/ },
  );
  assert.throws(() => streamFeatureView({ ...base, source: "s", writeTo: "sideways" as "both" }), {
    message: /writeTo: expected "online", "offline" or "both", got "sideways"/,
  });
  // By name, the kind is checked with the whole repo.
  assert.throws(
    () =>
      checkRepo([{
        value: streamFeatureView({ ...base, source: "trips_batch" }),
        file: "features.ts",
      }, { value: batch, file: "features.ts" }]),
    {
      message:
        /features.ts: Feature view "v": source "trips_batch" is a file source; a stream feature view reads a stream source/,
    },
  );
  const orphan = streamSource({
    name: "orphan",
    broker: "redis",
    stream: "x",
    timestampField: "ts",
    batchSource: "nowhere",
  });
  assert.throws(() => checkRepo([{ value: orphan, file: "f.ts" }]), {
    message: /Data source "orphan": batch source "nowhere" is not defined/,
  });
});
