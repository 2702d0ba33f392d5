import assert from "node:assert/strict";
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
  assert.deepEqual(view.inputs, { conv_rate: "float64", amount: "float64" });
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
