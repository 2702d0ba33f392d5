import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  entity,
  featureView,
  fileSource,
  LarderError,
  onDemandFeatureView,
  requestSource,
} from "../mod.ts";
import { checkRepo } from "../repo_contents.ts";

const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
const source = fileSource({ name: "s", path: "data/s.parquet", timestampField: "ts" });
const stats = featureView({
  name: "stats",
  entities: [driver],
  schema: { conv_rate: "float64", acc_rate: "float32", label: "string" },
  source,
});
const tx = requestSource({ name: "tx", schema: { amount: "float64" } });

Deno.test("onDemandFeatureView() types its columns from its sources", () => {
  const view = onDemandFeatureView({
    name: "conv_adjusted",
    sources: [stats.select(["conv_rate"]), tx],
    schema: { conv_x_amount: "float64" },
    transform: (c) => ({
      conv_x_amount: c.conv_rate.map((r, i) => {
        const amount = c.amount[i];
        return r === null || amount == null ? null : r * amount;
      }),
    }),
  });
  assert.deepEqual(view.spec.sources, [
    { kind: "featureView", name: "stats", features: ["conv_rate"] },
    { kind: "requestSource", name: "tx" },
  ]);
  assert.deepEqual({ ...view.inputs }, { conv_rate: "float64", amount: "float64" });
  assert.match(view.spec.transformHash, /^[0-9a-f]{64}$/);
  assert.deepEqual(view.transform({ conv_rate: [0.5, null], amount: [2, 3] }), {
    conv_x_amount: [1, null],
  });
});

Deno.test("onDemandFeatureView() rejects misspelled inputs and outputs at compile time", () => {
  onDemandFeatureView({
    name: "typo",
    sources: [stats, tx],
    schema: { doubled: "float64" },
    // @ts-expect-error: "conv_rte" is not an input column; a misspelling must not compile
    transform: (c) => ({ doubled: c.conv_rte.map((x) => x) }),
  });
  onDemandFeatureView({
    name: "bad_output",
    sources: [stats],
    schema: { doubled: "float64" },
    // @ts-expect-error: output "label" is a string column, not a declared float64 feature
    transform: (c) => ({ doubled: c.label }),
  });
});

Deno.test("onDemandFeatureView() rejects colliding names and non-functions", () => {
  const other = requestSource({ name: "other", schema: { conv_rate: "float64" } });
  assert.throws(
    () =>
      onDemandFeatureView({
        name: "v",
        sources: [stats, other],
        schema: { x: "bool" },
        transform: () => ({ x: [] }),
      }),
    {
      name: "LarderError",
      message: 'On-demand feature view "v": input "conv_rate" comes from both "stats" and "other"',
    },
  );
  assert.throws(
    () =>
      // @ts-expect-error: transform must be a function
      onDemandFeatureView({ name: "v", sources: [tx], schema: { x: "bool" }, transform: "x * 2" }),
    (err: unknown) =>
      err instanceof LarderError &&
      err.message ===
        'On-demand feature view "v": transform: expected a function (columns) => columns',
  );
});

Deno.test("transform hash changes when the transform's source changes", () => {
  const make = (factor: number) =>
    onDemandFeatureView({
      name: "v",
      sources: [tx],
      schema: { y: "float64" },
      transform: factor === 2
        ? (c) => ({ y: c.amount.map((a) => a === null ? null : a * 2) })
        : (c) => ({ y: c.amount.map((a) => a === null ? null : a * 3) }),
    });
  assert.notEqual(make(2).spec.transformHash, make(3).spec.transformHash);
  assert.equal(make(2).spec.transformHash, make(2).spec.transformHash);
});

Deno.test("onDemandFeatureView() records its transform's source text, the text it hashes", () => {
  const transform = (c: { readonly amount: readonly (number | null)[] }) => ({
    y: c.amount.map((a) => a === null ? null : a + 1),
  });
  const view = onDemandFeatureView({
    name: "v",
    sources: [tx],
    schema: { y: "float64" },
    transform,
  });
  assert.equal(view.spec.transformSource, transform.toString());
  assert.match(view.spec.transformSource!, /a === null \? null : a \+ 1/);
  assert.equal(
    view.spec.transformHash,
    createHash("sha256").update(view.spec.transformSource!).digest("hex"),
  );
});

Deno.test("checkRepo() checks on-demand sources and shares the view namespace", () => {
  const odfv = onDemandFeatureView({
    name: "stats",
    sources: [tx],
    schema: { y: "float64" },
    transform: (c) => ({ y: c.amount }),
  });
  assert.throws(
    () => checkRepo([{ value: stats, file: "a.ts" }, { value: odfv, file: "b.ts" }]),
    { message: 'b.ts: On-demand feature view "stats" is defined twice (also in a.ts)' },
  );
});

Deno.test("onDemandFeatureView() with writeToOnlineStore reads exactly one feature view", () => {
  const stored = onDemandFeatureView({
    name: "conv_pct",
    sources: [stats.select(["conv_rate"])],
    schema: { conv_pct: "float64" },
    writeToOnlineStore: true,
    transform: (c) => ({ conv_pct: c.conv_rate.map((r) => r === null ? null : r * 100) }),
  });
  assert.equal(stored.spec.writeToOnlineStore, true);
  assert.deepEqual(stored.spec.sources, [
    { kind: "featureView", name: "stats", features: ["conv_rate"] },
  ]);

  const other = featureView({
    name: "other",
    entities: [driver],
    schema: { trips: "int64" },
    source,
  });
  const cases = [
    {
      sources: [stats, tx],
      message:
        'On-demand feature view "bad": writeToOnlineStore cannot read request source "tx": no request arrives at write time',
    },
    {
      sources: [tx],
      message:
        'On-demand feature view "bad": writeToOnlineStore needs exactly one feature view as its source, got none; writeToOnlineStore cannot read request source "tx": no request arrives at write time',
    },
    {
      sources: [stats, other],
      message:
        'On-demand feature view "bad": writeToOnlineStore needs exactly one feature view as its source, got 2 ("stats", "other")',
    },
  ];
  for (const { sources, message } of cases) {
    assert.throws(
      () =>
        onDemandFeatureView({
          name: "bad",
          sources,
          schema: { y: "float64" },
          writeToOnlineStore: true,
          transform: () => ({ y: [] }),
        }),
      (err: unknown) =>
        err instanceof LarderError && err.code === "DEFINITION_INVALID" && err.message === message,
      message,
    );
  }
  // The same sources are fine when the transform runs per request.
  onDemandFeatureView({
    name: "fine",
    sources: [stats, other, tx],
    schema: { y: "float64" },
    transform: (c) => ({ y: c.amount }),
  });
});

Deno.test("checkRepo() rejects a write-time on-demand view over an offline-only view", () => {
  const offline = featureView({
    name: "offline_stats",
    entities: [driver],
    schema: { trips: "int64" },
    source,
    online: false,
  });
  const stored = onDemandFeatureView({
    name: "trips_x2",
    sources: [offline],
    schema: { trips_x2: "int64" },
    writeToOnlineStore: true,
    transform: (c) => ({ trips_x2: c.trips.map((t) => t === null ? null : t * 2) }),
  });
  assert.throws(
    () => checkRepo([{ value: stored, file: "a.ts" }]),
    {
      message:
        'a.ts: On-demand feature view "trips_x2": writeToOnlineStore needs an online source, but feature view "offline_stats" is online: false',
    },
  );
});
