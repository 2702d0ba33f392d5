import assert from "node:assert/strict";
import { entity, featureView, fileSource } from "../mod.ts";
import { LarderError } from "../errors.ts";
import type { Assert, Equals } from "../_zod.ts";
import { FeatureViewSpecSchema } from "../specs.ts";

const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
const source = fileSource({ name: "trips", path: "data/trips.parquet", timestampField: "ts" });

function throwsDefinition(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof LarderError, `expected a LarderError, got ${err}`);
    assert.equal(err.code, "DEFINITION_INVALID");
    if (typeof message === "string") assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

Deno.test("featureView() aggregations: specs, default names, types and the tile", () => {
  const view = featureView({
    name: "trip_stats",
    entities: [driver],
    schema: { fare: "float32", trips: "int32", rider: "string" },
    source,
    aggregations: [
      { column: "fare", function: "sum", window: "1h" },
      { column: "trips", function: "sum", window: "7d" },
      { column: "trips", function: "count", window: 1800 },
      { column: "rider", function: "approx_count_distinct", window: "1d", name: "riders_1d" },
      { column: "fare", function: "max", window: "1h" },
      { column: "rider", function: "last", window: "1d" },
      { column: "fare", function: "stddev", window: "1h" },
    ],
  });
  assert.deepEqual(view.spec.aggregations, [
    { name: "sum_fare_1h", column: "fare", function: "sum", windowSeconds: 3600, type: "float64" },
    {
      name: "sum_trips_7d",
      column: "trips",
      function: "sum",
      windowSeconds: 604800,
      type: "int64",
    },
    {
      name: "count_trips_1800s",
      column: "trips",
      function: "count",
      windowSeconds: 1800,
      type: "int64",
    },
    {
      name: "riders_1d",
      column: "rider",
      function: "approx_count_distinct",
      windowSeconds: 86400,
      type: "int64",
    },
    { name: "max_fare_1h", column: "fare", function: "max", windowSeconds: 3600, type: "float32" },
    {
      name: "last_rider_1d",
      column: "rider",
      function: "last",
      windowSeconds: 86400,
      type: "string",
    },
    {
      name: "stddev_fare_1h",
      column: "fare",
      function: "stddev",
      windowSeconds: 3600,
      type: "float64",
    },
  ]);
  assert.equal(view.spec.tileSeconds, 1800);
  // The spec still parses as stored (the registry document round-trips it).
  assert.deepEqual(FeatureViewSpecSchema.parse(view.spec), view.spec);
  // Typed handles, like other features.
  const ref = view.features.sum_trips_7d;
  type _Typed = Assert<Equals<typeof ref.type, "int64">>;
  type _Max = Assert<Equals<typeof view.features.max_fare_1h.type, "float32">>;
  type _Named = Assert<Equals<typeof view.features.riders_1d.type, "int64">>;
  type _Seconds = Assert<Equals<typeof view.features.count_trips_1800s.type, "int64">>;
  assert.equal(ref.ref, "trip_stats:sum_trips_7d");
  assert.deepEqual(view.select(["sum_fare_1h"]).featureNames, ["sum_fare_1h"]);
  assert.equal(view.schema.sum_fare_1h, "float64");
});

Deno.test("featureView() without aggregations keeps its spec as before", () => {
  const view = featureView({ name: "plain", schema: { x: "int64" }, source });
  assert.equal("aggregations" in view.spec, false);
  assert.equal("tileSeconds" in view.spec, false);
});

Deno.test("featureView() aggregations: a wrong combination names the view and aggregation", () => {
  const base = {
    name: "v",
    entities: [driver],
    source,
    schema: { name: "string", x: "int64" } as const,
  };
  throwsDefinition(
    () =>
      featureView({ ...base, aggregations: [{ column: "name", function: "sum", window: "1h" }] }),
    'Feature view "v": aggregation "sum_name_1h": sum needs a numeric column, got string (column "name")',
  );
  throwsDefinition(
    () =>
      featureView({ ...base, aggregations: [{ column: "nope", function: "max", window: "1h" }] }),
    'Feature view "v": aggregation "max_nope_1h": column "nope" is not a feature of the view: it has "name", "x"',
  );
  throwsDefinition(
    () =>
      featureView({
        ...base,
        schema: { tags: "string[]" },
        aggregations: [{ column: "tags", function: "count", window: "1h" }],
      }),
    /aggregation "count_tags_1h": cannot aggregate the array column \(string\[\]\)/,
  );
  throwsDefinition(
    () =>
      featureView({
        ...base,
        aggregations: [{ column: "x", function: "sum", window: "1h", name: "x" }],
      }),
    'Feature view "v": aggregation "x": the name is taken by another feature or aggregation: pass another name',
  );
  throwsDefinition(
    () =>
      featureView({
        ...base,
        tileSize: "40m",
        aggregations: [{ column: "x", function: "sum", window: "1h" }],
      }),
    /aggregation "sum_x_1h": its window \(3600s\) is not a whole number of tiles of 2400s/,
  );
  throwsDefinition(
    () =>
      featureView({
        ...base,
        tileSize: "1m",
        aggregations: [{ column: "x", function: "sum", window: "7d" }],
      }),
    /its window spans 10080 tiles of 60s, more than 4096: choose a larger tileSize/,
  );
  throwsDefinition(
    () => featureView({ ...base, tileSize: "1h" }),
    'Feature view "v": tileSize is set but the view has no aggregations',
  );
  throwsDefinition(
    () =>
      featureView({
        ...base,
        // @ts-expect-error: deliberately unknown function
        aggregations: [{ column: "x", function: "median", window: "1h" }],
      }),
    /^Feature view "v": aggregations\[0\]\.function: expected "count", .*got "median"$/,
  );
  throwsDefinition(
    () =>
      featureView({ ...base, aggregations: [{ column: "x", function: "sum", window: "1.5h" }] }),
    'Feature view "v": aggregations[0]: the default name "sum_x_1.5h" is not a valid name: pass a name',
  );
  throwsDefinition(
    () =>
      featureView({
        ...base,
        aggregations: [{ column: "x", function: "sum", window: "0.5s", name: "half" }],
      }),
    'Feature view "v": aggregation "half": the window must be a positive whole number of seconds, got 0.5',
  );
});
