import assert from "node:assert/strict";
import {
  entity,
  featureService,
  featureView,
  fileSource,
  onDemandFeatureView,
  permission,
  pushSource,
  requestSource,
} from "../mod.ts";
import { LarderError } from "../errors.ts";

const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
const source = fileSource({ name: "stats", path: "data/stats.parquet", timestampField: "ts" });

function throwsDefinition(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof LarderError, `expected a LarderError, got ${err}`);
    assert.equal(err.code, "DEFINITION_INVALID");
    if (typeof message === "string") assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

Deno.test("entity() defaults join keys to the name and normalizes the spec", () => {
  const user = entity({ name: "user" });
  assert.deepEqual(user.spec, {
    name: "user",
    description: "",
    tags: {},
    owner: "",
    joinKeys: ["user"],
    valueType: "string",
  });
});

Deno.test("entity() rejects invalid names naming the object and field", () => {
  throwsDefinition(
    () => entity({ name: "1driver" }),
    'Entity "1driver": name: invalid name "1driver": use letters, digits and "_", not starting with a digit',
  );
  throwsDefinition(
    () => entity({ name: "driver", joinKeys: ["driver-id"] }),
    /^Entity "driver": joinKeys\[0\]: invalid name "driver-id"/,
  );
});

Deno.test("entity() rejects an unknown value type and unknown keys", () => {
  throwsDefinition(
    // @ts-expect-error: deliberately wrong type
    () => entity({ name: "driver", valueType: "int128" }),
    /^Entity "driver": valueType: expected "int32", .* or "timestamp", got "int128"$/,
  );
  throwsDefinition(
    // @ts-expect-error: deliberately unknown key
    () => entity({ name: "driver", joinKey: "x" }),
    'Entity "driver": unknown key "joinKey" (did you mean "joinKeys"?)',
  );
});

Deno.test("fileSource() infers the format from the path", () => {
  assert.equal(fileSource({ name: "a", path: "x/*.csv", timestampField: "ts" }).spec.format, "csv");
  assert.equal(fileSource({ name: "a", path: "x/", timestampField: "ts" }).spec.format, "parquet");
  throwsDefinition(
    () => fileSource({ name: "a", path: "", timestampField: "ts" }),
    'Data source "a": path: must not be empty',
  );
});

Deno.test("featureView() normalizes ttl, entities, source and features", () => {
  const view = featureView({
    name: "driver_hourly_stats",
    entities: [driver],
    ttl: "1h30m",
    schema: { conv_rate: "float32", tags: "string[]" },
    source,
  });
  assert.equal(view.spec.ttlSeconds, 5400);
  assert.deepEqual(view.spec.entities, ["driver"]);
  assert.equal(view.spec.source, "stats");
  assert.deepEqual(view.spec.features, [
    { name: "conv_rate", type: "float32" },
    { name: "tags", type: "string[]" },
  ]);
  assert.equal(view.features.conv_rate.ref, "driver_hourly_stats:conv_rate");
  assert.equal(String(view.features.tags), "driver_hourly_stats:tags");
  assert.equal(
    featureView({ name: "v", schema: { a: "bool" }, source: "stats" }).spec.ttlSeconds,
    0,
  );
});

Deno.test("featureView() rejects a negative or malformed ttl", () => {
  throwsDefinition(
    () => featureView({ name: "v", ttl: -5, schema: { a: "int64" }, source }),
    'Feature view "v": ttl: must not be negative, got -5',
  );
  throwsDefinition(
    () => featureView({ name: "v", ttl: "-2h", schema: { a: "int64" }, source }),
    'Feature view "v": ttl: must not be negative, got "-2h"',
  );
  throwsDefinition(
    () => featureView({ name: "v", ttl: "2 hours", schema: { a: "int64" }, source }),
    'Feature view "v": ttl: expected a duration such as "90s", "15m", "2h", "1d" or "1h30m", got "2 hours"',
  );
});

Deno.test("featureView() rejects an empty schema and bad feature types", () => {
  throwsDefinition(
    () => featureView({ name: "v", schema: {}, source }),
    'Feature view "v": schema: expected at least one feature',
  );
  throwsDefinition(
    // @ts-expect-error: deliberately wrong type
    () => featureView({ name: "v", schema: { a: "float" }, source }),
    /^Feature view "v": schema\.a: expected "int32", .*got "float"$/,
  );
});

Deno.test("FeatureView.select() projects known features and rejects unknown ones", () => {
  const view = featureView({ name: "v", schema: { a: "int64", b: "bool" }, source });
  assert.deepEqual(view.select(["b"]).featureNames, ["b"]);
  assert.throws(
    // @ts-expect-error: "c" is not a feature of the view
    () => view.select(["c"]),
    { message: 'Feature view "v": select() names unknown feature "c": the view has "a", "b"' },
  );
});

Deno.test("FeatureView.withName() and withJoinKeyMap() compose with select()", () => {
  const location = entity({ name: "location", joinKeys: ["location_id"], valueType: "int64" });
  const view = featureView({
    name: "weather",
    entities: [location],
    schema: { temperature: "float64", humidity: "int64" },
    source,
  });
  const origin = view.withName("origin").withJoinKeyMap({ location_id: "origin_id" });
  assert.equal(origin.view, "weather");
  assert.equal(origin.viewName, "origin");
  assert.equal(origin.nameAlias, "origin");
  assert.deepEqual({ ...origin.joinKeyMap }, { location_id: "origin_id" });
  assert.deepEqual(origin.featureNames, ["temperature", "humidity"]);
  const handle = origin.features.temperature;
  assert.equal(handle.ref, "origin:temperature");
  assert.equal(handle.view, "origin");
  assert.deepEqual(
    { ...handle.projection, joinKeyMap: { ...handle.projection?.joinKeyMap } },
    { view: "weather", nameAlias: "origin", joinKeyMap: { location_id: "origin_id" } },
  );
  // In either order, narrowing keeps the name and the map.
  const a = view.select(["temperature"]).withName("dest").withJoinKeyMap({ location_id: "d" });
  const b = view.withJoinKeyMap({ location_id: "d" }).withName("dest").select(["temperature"]);
  for (const p of [a, b]) {
    assert.deepEqual(p.featureNames, ["temperature"]);
    assert.equal(p.features.temperature.ref, "dest:temperature");
    assert.equal(p.features.temperature.projection?.joinKeyMap?.location_id, "d");
  }
  // A plain selection's handles are the view's.
  assert.equal(view.select(["humidity"]).features.humidity.projection, undefined);
  assert.equal(view.select(["humidity"]).features.humidity.ref, "weather:humidity");
  throwsDefinition(
    () => view.withName("1st"),
    'Feature view "weather": withName(): invalid name "1st": use letters, digits and "_", not starting with a digit',
  );
  throwsDefinition(
    () => view.withJoinKeyMap({ location_id: "a-b" }),
    'Feature view "weather": withJoinKeyMap() value of "location_id": invalid name "a-b": use letters, digits and "_", not starting with a digit',
  );
  throwsDefinition(
    () => view.withJoinKeyMap({}),
    'Feature view "weather": withJoinKeyMap(): the map is empty',
  );
  throwsDefinition(
    // @ts-expect-error: humidity was not selected
    () => a.select(["humidity"]),
    'Feature view "weather": select() names unknown feature "humidity": the projection has "temperature"',
  );
});

Deno.test("featureService() keeps projections of one view apart by name and join-key map", () => {
  const view = featureView({ name: "v", schema: { a: "int64", b: "bool" }, source });
  const svc = featureService({
    name: "svc",
    features: [
      view.withName("x").withJoinKeyMap({ k: "x_k" }),
      view.select(["a"]),
      view.withName("y").select(["b"]),
      view.withName("x").withJoinKeyMap({ k: "x_k" }).features.a,
      view.withName("v").features.b,
      view.withName("x").withJoinKeyMap({ k: "other" }).select(["a"]),
    ],
  });
  assert.deepEqual(svc.spec.projections, [
    { view: "v", features: ["a", "b"], nameAlias: "x", joinKeyMap: { k: "x_k" } },
    { view: "v", features: ["a", "b"] },
    { view: "v", features: ["b"], nameAlias: "y" },
    { view: "v", features: ["a"], nameAlias: "x", joinKeyMap: { k: "other" } },
  ]);
});

Deno.test("onDemandFeatureView() refuses a renamed or re-keyed source", () => {
  const view = featureView({ name: "v", schema: { a: "int64" }, source });
  throwsDefinition(
    () =>
      onDemandFeatureView({
        name: "od",
        sources: [view.withName("w")],
        schema: { z: "int64" },
        transform: (c) => ({ z: c.a }),
      }),
    'On-demand feature view "od": source "v" is projected with withName("w"): an on-demand feature view reads a feature view under its own name and join keys',
  );
});

Deno.test("featureService() groups references by view", () => {
  const view = featureView({ name: "v", schema: { a: "int64", b: "bool" }, source });
  const svc = featureService({
    name: "svc",
    features: [view.features.b, "w:x", view.select(["a"])],
  });
  assert.deepEqual(svc.spec.projections, [
    { view: "v", features: ["b", "a"] },
    { view: "w", features: ["x"] },
  ]);
  throwsDefinition(
    () => featureService({ name: "svc", features: ["v.a"] }),
    'Feature service "svc": features[0]: expected "view:feature", got "v.a"',
  );
  throwsDefinition(
    () => featureService({ name: "svc", features: [] }),
    'Feature service "svc": features: expected at least 1 item',
  );
});

Deno.test("featureService() takes Feast's logging config, sample rate 1 by default", () => {
  const logged = featureService({
    name: "svc",
    features: ["v:a"],
    logging: { destination: { path: "data/logs/svc" } },
  });
  assert.deepEqual(logged.spec.logging, {
    sampleRate: 1,
    destination: { path: "data/logs/svc" },
  });
  assert.equal(featureService({ name: "svc", features: ["v:a"] }).spec.logging, undefined);
  const sampled = featureService({
    name: "svc",
    features: ["v:a"],
    logging: { sampleRate: 0.1, destination: { path: "/var/log/larder" } },
  });
  assert.equal(sampled.spec.logging?.sampleRate, 0.1);
  throwsDefinition(
    () =>
      featureService({
        name: "svc",
        features: ["v:a"],
        logging: { sampleRate: 1.5, destination: { path: "logs" } },
      }),
    'Feature service "svc": logging.sampleRate: expected a number from 0 to 1',
  );
  throwsDefinition(
    () =>
      featureService({
        name: "svc",
        features: ["v:a"],
        logging: { destination: { path: " " } },
      }),
    'Feature service "svc": logging.destination.path: expected a folder path',
  );
  throwsDefinition(
    // @ts-expect-error: no destination
    () => featureService({ name: "svc", features: ["v:a"], logging: { sampleRate: 1 } }),
    /Feature service "svc": logging\.destination: /,
  );
});

Deno.test("pushSource() and requestSource() build their specs", () => {
  const push = pushSource({ name: "p", batchSource: source });
  assert.equal(push.spec.kind === "push" && push.spec.batchSource, "stats");
  const req = requestSource({ name: "tx", schema: { amount: "float64" } });
  assert.deepEqual(req.spec.kind === "request" && req.spec.schema, [{
    name: "amount",
    type: "float64",
  }]);
});

Deno.test("permission() expands action aliases and checks patterns", () => {
  const p = permission({
    name: "readers",
    types: ["featureView"],
    actions: ["READ", "DESCRIBE"],
    roles: ["m"],
  });
  assert.deepEqual(p.spec.actions, ["DESCRIBE", "READ_ONLINE", "READ_OFFLINE"]);
  assert.deepEqual(p.spec.namePatterns, [".*"]);
  throwsDefinition(
    () =>
      permission({
        name: "p",
        types: ["featureView"],
        namePatterns: ["("],
        actions: ["ALL"],
        roles: ["x"],
      }),
    'Permission "p": namePatterns[0]: invalid regular expression "("',
  );
  throwsDefinition(
    // @ts-expect-error: deliberately unknown action
    () => permission({ name: "p", types: ["featureView"], actions: ["READ_ALL"], roles: ["x"] }),
    /^Permission "p": actions\[0\]: expected "CREATE", .* got "READ_ALL"$/,
  );
});

Deno.test("featureView() and pushSource() say what a source option expects when given something else", () => {
  const view = (src: unknown) => () =>
    featureView({
      name: "stats_view",
      entities: [driver],
      schema: { x: "float64" },
      source: src as never,
    });
  const expected = "a data source made with fileSource() or pushSource(), or its name";
  throwsDefinition(view(5), `Feature view "stats_view": source: expected ${expected}, got 5`);
  throwsDefinition(
    view({ path: "data/stats.parquet" }),
    `Feature view "stats_view": source: expected ${expected}, got a plain object`,
  );
  throwsDefinition(
    view(driver),
    `Feature view "stats_view": source: expected ${expected}, got entity "driver"`,
  );
  throwsDefinition(
    view(undefined),
    `Feature view "stats_view": source: is required: pass ${expected}`,
  );
  const push = pushSource({ name: "p", batchSource: source });
  const file = "a batch source made with fileSource() or postgresSource(), or its name";
  throwsDefinition(
    () => pushSource({ name: "q", batchSource: push as never }),
    `Data source "q": batchSource: expected ${file}, got push source "p"`,
  );
  throwsDefinition(
    () => pushSource({ name: "q", batchSource: ["stats"] as never }),
    `Data source "q": batchSource: expected ${file}, got an array`,
  );
  // A string is a name: its own error stays.
  throwsDefinition(view("9x"), /source: invalid name "9x"/);
});
