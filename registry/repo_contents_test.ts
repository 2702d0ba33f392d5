import assert from "node:assert/strict";
import {
  checkRepo,
  entity,
  featureService,
  featureView,
  fileSource,
  LarderError,
  pushSource,
} from "./mod.ts";
import type { Definition } from "./mod.ts";

const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
const source = fileSource({ name: "stats", path: "data/stats.parquet", timestampField: "ts" });
const view = featureView({
  name: "driver_hourly_stats",
  entities: [driver],
  schema: { conv_rate: "float32", acc_rate: "float32" },
  source,
});

function at(file: string, ...values: Definition[]) {
  return values.map((value) => ({ value, file }));
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof LarderError);
    assert.equal(err.code, "DEFINITION_INVALID");
    return (err.details?.problems as string[]) ?? [];
  }
  assert.fail("expected checkRepo() to throw");
}

Deno.test("checkRepo() collects objects and the objects they reference", () => {
  const contents = checkRepo(at("features.ts", view));
  assert.deepEqual([...contents.entity.keys()], ["driver"]);
  assert.deepEqual([...contents.dataSource.keys()], ["stats"]);
  assert.deepEqual([...contents.featureView.keys()], ["driver_hourly_stats"]);
});

Deno.test("checkRepo() reports duplicate names with both files", () => {
  const other = entity({ name: "driver", joinKeys: ["id"] });
  assert.deepEqual(problems(() => checkRepo([...at("a.ts", driver), ...at("b.ts", other)])), [
    'b.ts: Entity "driver" is defined twice (also in a.ts)',
  ]);
  // The same object exported from two modules is one object.
  checkRepo([...at("a.ts", driver), ...at("b.ts", driver)]);
});

Deno.test("checkRepo() reports unknown entity and source references", () => {
  const bad = featureView({
    name: "v",
    entities: ["drvier"],
    schema: { a: "int64" },
    source: "nowhere",
  });
  assert.deepEqual(problems(() => checkRepo(at("features.ts", driver, source, bad))), [
    'features.ts: Feature view "v": entity "drvier" is not defined: the repo has "driver"',
    'features.ts: Feature view "v": source "nowhere" is not defined: the repo has "stats"',
  ]);
  const push = pushSource({ name: "p", batchSource: "missing" });
  assert.deepEqual(problems(() => checkRepo(at("push.ts", source, push))), [
    'push.ts: Data source "p": batch source "missing" is not defined: the repo has "stats"',
  ]);
});

Deno.test("checkRepo() rejects a schema column that is a join key", () => {
  const bad = featureView({
    name: "v",
    entities: [driver],
    schema: { driver_id: "int64", a: "bool" },
    source,
  });
  assert.deepEqual(problems(() => checkRepo(at("features.ts", bad))), [
    'features.ts: Feature view "v": schema column "driver_id" is a join key of entity "driver"; list only features in schema',
  ]);
});

Deno.test("checkRepo() rejects two features with the same name in one service", () => {
  const other = featureView({ name: "other", schema: { conv_rate: "float64" }, source });
  const svc = featureService({ name: "svc", features: [view, other] });
  assert.deepEqual(problems(() => checkRepo(at("services.ts", view, other, svc))), [
    'services.ts: Feature service "svc": two features named "conv_rate" (from "driver_hourly_stats" and "other")',
  ]);
});

Deno.test("checkRepo() rejects services naming unknown views or features", () => {
  const svc = featureService({ name: "svc", features: ["nope:x", "driver_hourly_stats:speed"] });
  assert.deepEqual(problems(() => checkRepo(at("services.ts", view, svc))), [
    'services.ts: Feature service "svc": feature view "nope" is not defined: the repo has "driver_hourly_stats"',
    'services.ts: Feature service "svc": feature view "driver_hourly_stats" has no feature "speed": it has "conv_rate", "acc_rate"',
  ]);
});

Deno.test("checkRepo() accepts one view joined twice under two names", () => {
  const svc = featureService({
    name: "svc",
    features: [
      view.withName("origin").withJoinKeyMap({ driver_id: "origin_id" }),
      view.withName("destination").withJoinKeyMap({ driver_id: "destination_id" }),
    ],
  });
  const contents = checkRepo(at("services.ts", view, svc));
  assert.equal(contents.featureService.get("svc")!.projections.length, 2);
});

Deno.test("checkRepo() rejects projections whose names collide", () => {
  const other = featureView({ name: "other", entities: [driver], schema: { x: "int64" }, source });
  const svc = featureService({
    name: "svc",
    features: [view.withName("other").select(["conv_rate"]), other],
  });
  assert.deepEqual(problems(() => checkRepo(at("services.ts", view, other, svc))), [
    'services.ts: Feature service "svc": projection "other" of feature view "driver_hourly_stats" has the name of feature view "other": choose another name for withName()',
  ]);
  const twice = featureService({
    name: "twice",
    features: [view.withName("x"), other.withName("x")],
  });
  assert.deepEqual(problems(() => checkRepo(at("services.ts", view, other, twice))), [
    'services.ts: Feature service "twice": two projections are named "x" (of feature views "driver_hourly_stats" and "other"): give each a distinct name with withName()',
  ]);
  const unnamed = featureService({
    name: "unnamed",
    features: [view, view.withJoinKeyMap({ driver_id: "other_driver_id" })],
  });
  assert.deepEqual(problems(() => checkRepo(at("services.ts", view, unnamed))), [
    'services.ts: Feature service "unnamed": two projections are named "driver_hourly_stats" (both of feature view "driver_hourly_stats", with different join-key maps): give each a distinct name with withName()',
  ]);
});

Deno.test("checkRepo() rejects join-key maps that do not fit the view", () => {
  const pair = entity({ name: "pair", joinKeys: ["a_id", "b_id"], valueType: "int64" });
  const pairs = featureView({
    name: "pairs",
    entities: [pair],
    schema: { score: "int64" },
    source,
  });
  const svc = featureService({
    name: "svc",
    features: [
      view.withName("o").withJoinKeyMap({ drvier_id: "origin_id" }),
      pairs.withName("p").withJoinKeyMap({ a_id: "b_id" }),
      pairs.withName("q").withJoinKeyMap({ a_id: "score" }),
    ],
  });
  assert.deepEqual(problems(() => checkRepo(at("services.ts", view, pairs, svc))), [
    'services.ts: Feature service "svc": projection "o" of feature view "driver_hourly_stats": join-key map names "drvier_id", which is not a join key of feature view "driver_hourly_stats" (its join keys: "driver_id")',
    'services.ts: Feature service "svc": projection "p" of feature view "pairs": join-key map reads join keys "a_id" and "b_id" from the same entity column "b_id"',
    'services.ts: Feature service "svc": projection "q" of feature view "pairs": join-key map reads join key "a_id" from "score", which is a feature of feature view "pairs"',
  ]);
  // Swapping two keys reads each from a distinct column: fine.
  const swapped = featureService({
    name: "swapped",
    features: [pairs.withName("s").withJoinKeyMap({ a_id: "b_id", b_id: "a_id" })],
  });
  checkRepo(at("services.ts", pairs, swapped));
});

Deno.test("checkRepo() reports a duplicate name alone, not what follows from dropping one", () => {
  // A copy of a view whose name was not changed: its entity and push source are reached only
  // through it, and a service and a second view use what only the copy has.
  const rider = entity({ name: "rider", joinKeys: ["rider_id"], valueType: "int64" });
  const push = pushSource({ name: "stats_push", batchSource: source });
  const copy = featureView({
    name: "driver_hourly_stats",
    entities: [rider],
    schema: { conv_rate: "float32", fresh: "float32" },
    source: push,
  });
  const service = featureService({ name: "fresh", features: [copy.select(["fresh"])] });
  const other = featureView({
    name: "rider_stats",
    entities: ["rider"],
    schema: { trips: "int64" },
    source: "stats_push",
  });
  assert.deepEqual(
    problems(() =>
      checkRepo([
        { value: view, file: "features.ts", exported: "driverStats" },
        { value: copy, file: "features.ts", exported: "driverStatsFresh" },
        { value: service, file: "features.ts", exported: "fresh" },
        { value: other, file: "features.ts", exported: "riderStats" },
      ])
    ),
    [
      'features.ts: Feature view "driver_hourly_stats" is defined twice (exports "driverStats" and "driverStatsFresh")',
    ],
  );
});
