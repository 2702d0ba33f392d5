/**
 * Names that `Object.prototype` also holds, through the SDK and the CLI: unknown ones are
 * `NOT_FOUND` (exit 1), real objects of those names work like any other, and `__proto__` is
 * refused as a name and as a column.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  entity,
  FeatureStore,
  featureView,
  fileSource,
  isLarderError,
  onDemandFeatureView,
  writeTable,
} from "../mod.ts";
import { tempRepo } from "./support/repo.ts";

const UNKNOWN = ["__proto__", "hasOwnProperty", "valueOf", "toString", "constructor"];

/** Every object, feature and join key named after a member of Object.prototype. */
const PROTOTYPE_FEATURES = `
import { entity, featureService, featureView, fileSource, onDemandFeatureView, pushSource } from "larder";
export const e = entity({ name: "constructor", joinKeys: ["valueOf"], valueType: "int64" });
export const source = fileSource({ name: "toString", path: "data/rows", timestampField: "ts" });
export const push = pushSource({ name: "valueOf", batchSource: source });
export const view = featureView({
  name: "hasOwnProperty",
  entities: [e],
  schema: { constructor: "float64", toString: "int64" },
  source: push,
});
export const od = onDemandFeatureView({
  name: "valueOf",
  sources: [view],
  schema: { isPrototypeOf: "float64" },
  transform: (c) => ({ isPrototypeOf: c.constructor.map((v) => (v === null ? null : v * 2)) }),
});
export const service = featureService({ name: "toString", features: [view, od] });
`;

function assertCode(err: unknown, code: string, message?: RegExp): true {
  assert.ok(isLarderError(err), String(err));
  assert.equal(err.code, code, err.message);
  if (message) assert.match(err.message, message);
  return true;
}

async function larder(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../cli/main.ts", import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("FeatureStore answers NOT_FOUND for unknown Object.prototype names", async () => {
  const repo = await tempRepo();
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply({ skipSourceValidation: true });
    const entities = { driver_id: [1001] };
    for (const name of UNKNOWN) {
      const notFound = (message: string) => (err: unknown) =>
        assertCode(err, "NOT_FOUND", new RegExp(`^Cannot find ${message} "${name}"`));
      for (const kind of ["entity", "dataSource", "featureView", "featureService"] as const) {
        await assert.rejects(store.registry.get(kind, name), (err) => assertCode(err, "NOT_FOUND"));
      }
      await assert.rejects(
        store.getOnlineFeatures({ featureService: name, entities }),
        notFound("feature service"),
      );
      await assert.rejects(
        store.getOnlineFeatures({ features: [`${name}:conv_rate`], entities }),
        notFound("feature view"),
      );
      await assert.rejects(
        store.getOnlineFeatures({ features: [`driver_hourly_stats:${name}`], entities }),
        notFound("feature"),
      );
      await assert.rejects(store.writeToOnlineStore(name, entities), notFound("feature view"));
      await assert.rejects(store.push(name, entities), notFound("push source"));
      await assert.rejects(
        store.materialize({ start: new Date(0), end: new Date(), views: [name] }),
        notFound("feature view"),
      );
    }
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("FeatureStore refuses an own __proto__ column in entities (online and historical) and pushed rows", async () => {
  const repo = await tempRepo();
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply({ skipSourceValidation: true });
    const columns = JSON.parse('{"driver_id": [1001], "__proto__": [1]}');
    const rows = JSON.parse('[{"driver_id": 1001, "__proto__": 1}]');
    const refused = (err: unknown) =>
      assertCode(
        err,
        "INPUT_INVALID",
        /^Invalid (entity )?column "__proto__": the name is reserved$/,
      );
    const features = ["driver_hourly_stats:conv_rate"];
    await assert.rejects(store.getOnlineFeatures({ features, entities: columns }), refused);
    await assert.rejects(store.getOnlineFeatures({ features, entities: rows }), refused);
    await assert.rejects(store.writeToOnlineStore("driver_hourly_stats", columns), refused);
    await assert.rejects(store.writeToOnlineStore("driver_hourly_stats", rows), refused);
    const historical = JSON.parse(
      '[{"driver_id": 1001, "event_timestamp": 0, "__proto__": {"x": 1}}]',
    ).map((row: Record<string, unknown>) => ({ ...row, event_timestamp: new Date(0) }));
    await assert.rejects(
      store.getHistoricalFeatures({ features, entities: historical }),
      refused,
    );
    await assert.rejects(
      store.push("driver_hourly_stats", columns),
      (err) => assertCode(err, "NOT_FOUND"),
    );
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("objects, features and keys named after Object.prototype members work", async () => {
  const repo = await tempRepo({ "features.ts": PROTOTYPE_FEATURES });
  await writeTable(
    join(repo.dir, "data/rows/part-0.parquet"),
    {
      valueOf: [1, 2],
      ts: ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"],
      constructor: [0.5, 1.5],
      toString: [7, 8],
    },
    { valueOf: "int64", ts: "timestamp", constructor: "float64", toString: "int64" } as const,
  );
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    const applied = await store.apply();
    assert.ok(applied.plan.changes.every((c) => c.action === "create"), "all new");
    assert.deepEqual(
      (await store.registry.listFeatureViews()).map((v) => v.name),
      ["hasOwnProperty"],
    );
    const result = await store.materialize({
      start: new Date("2023-12-31T00:00:00Z"),
      end: new Date("2024-01-02T00:00:00Z"),
      views: ["hasOwnProperty"],
    });
    assert.deepEqual(result.views.map((v) => [v.view, v.rows]), [["hasOwnProperty", 2]]);

    const read = await store.getOnlineFeatures({
      featureService: "toString",
      entities: { valueOf: [1, 2, 3] },
    });
    assert.deepEqual(read.toRows(), [
      { valueOf: 1, constructor: 0.5, toString: 7, isPrototypeOf: 1 },
      { valueOf: 2, constructor: 1.5, toString: 8, isPrototypeOf: 3 },
      { valueOf: 3, constructor: null, toString: null, isPrototypeOf: null },
    ]);

    // A missing column of that name is missing, not Object.prototype.constructor.
    await assert.rejects(
      store.writeToOnlineStore("hasOwnProperty", {
        valueOf: [1],
        ts: [new Date("2024-01-02T00:00:00Z")],
        toString: [9],
      }),
      (err) => assertCode(err, "INPUT_INVALID", /missing column "constructor"/),
    );
    const pushed = await store.push("valueOf", {
      valueOf: [1],
      ts: [new Date("2024-01-03T00:00:00Z")],
      constructor: [2.5],
      toString: [9],
    });
    assert.deepEqual(pushed.views.map((v) => [v.view, v.written]), [["hasOwnProperty", 1]]);
    const after = await store.getOnlineFeatures({
      features: ["hasOwnProperty:constructor", "valueOf:isPrototypeOf"],
      entities: { valueOf: [1] },
    });
    assert.deepEqual(after.toRows(), [{ valueOf: 1, constructor: 2.5, isPrototypeOf: 5 }]);
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("a stored row lacking a feature named like an Object.prototype member reads NOT_FOUND", async () => {
  const before = PROTOTYPE_FEATURES.replace(
    'schema: { constructor: "float64", toString: "int64" }',
    'schema: { constructor: "float64" }',
  )
    .replace(/export const od = [\s\S]*$/, "");
  const repo = await tempRepo({ "features.ts": before });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply({ skipSourceValidation: true });
    await store.writeToOnlineStore("hasOwnProperty", {
      valueOf: [1],
      ts: [new Date("2024-01-01T00:00:00Z")],
      constructor: [0.5],
    });
    // The view gains a feature "toString": the stored row has no value for it.
    await repo.write("features.ts", PROTOTYPE_FEATURES.replace(/export const od = [\s\S]*$/, ""));
    await store.apply({ skipSourceValidation: true });
    const read = await store.getOnlineFeatures({
      features: ["hasOwnProperty:constructor", "hasOwnProperty:toString"],
      entities: { valueOf: [1] },
    });
    assert.deepEqual(read.toRows(), [{ valueOf: 1, constructor: 0.5, toString: null }]);
    assert.deepEqual(read.toJSON().results.map((r) => r.statuses[0]), [
      "PRESENT",
      "PRESENT",
      "NOT_FOUND",
    ]);
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("definitions refuse __proto__ as a name and take Object.prototype names", () => {
  const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
  const source = fileSource({ name: "s", path: "data/s.parquet", timestampField: "ts" });
  const invalid = (message: RegExp) => (err: unknown) =>
    assertCode(err, "DEFINITION_INVALID", message);
  assert.throws(
    () => featureView({ name: "__proto__", entities: [driver], schema: { x: "int64" }, source }),
    invalid(/^Feature view "__proto__": name: invalid name "__proto__": it is reserved$/),
  );
  assert.throws(
    () =>
      featureView({
        name: "v",
        entities: [driver],
        schema: JSON.parse('{"x": "int64", "__proto__": "int64"}'),
        source,
      }),
    invalid(/^Feature view "v": schema.__proto__: invalid name "__proto__": it is reserved$/),
  );
  const view = featureView({
    name: "v",
    entities: [driver],
    schema: { constructor: "float64", x: "int64" },
    source,
  });
  assert.throws(
    () => view.select(["toString" as "x"]),
    invalid(/select\(\) names unknown feature "toString": the view has "constructor", "x"/),
  );
  assert.equal(view.features.constructor.ref, "v:constructor");
  assert.equal((view.features as Record<string, unknown>).toString, undefined);
  // The input "constructor" is not mistaken for one another source already gave.
  const od = onDemandFeatureView({
    name: "od",
    sources: [view.select(["constructor"])],
    schema: { y: "float64" },
    transform: (c) => ({ y: c.constructor }),
  });
  assert.deepEqual(Object.keys(od.inputs), ["constructor"]);
});

Deno.test("larder describe and materialize exit 1 for unknown Object.prototype names", async () => {
  const repo = await tempRepo();
  try {
    const apply = await larder(["apply", "--repo", repo.dir, "--skip-source-validation"]);
    assert.equal(apply.code, 0, apply.stderr);
    const runs = await Promise.all([
      ...UNKNOWN.map((name) => larder(["feature-views", "describe", name, "--repo", repo.dir])),
      larder(["entities", "describe", "toString", "--repo", repo.dir]),
      larder(["feature-services", "describe", "valueOf", "--repo", repo.dir]),
      larder(["data-sources", "describe", "hasOwnProperty", "--repo", repo.dir]),
      larder([
        "materialize",
        "2024-01-01T00:00:00Z",
        "2024-01-02T00:00:00Z",
        "--views",
        "constructor",
        "--repo",
        repo.dir,
      ]),
    ]);
    const expected = [
      ...UNKNOWN.map((name) => `feature view "${name}"`),
      'entity "toString"',
      'feature service "valueOf"',
      'data source "hasOwnProperty"',
      'feature view "constructor"',
    ];
    for (const [i, run] of runs.entries()) {
      assert.equal(run.code, 1, `${expected[i]}: ${run.stdout}${run.stderr}`);
      assert.equal(run.stdout, "", expected[i]);
      assert.match(run.stderr, new RegExp(`^error: Cannot find ${expected[i]}: the registry has `));
      assert.doesNotMatch(run.stderr, /^\s+at /m, "no stack trace");
    }
  } finally {
    await repo.remove();
  }
});
