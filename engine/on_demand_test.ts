import assert from "node:assert/strict";
import { type LoadedTransform, runTransform } from "./on_demand.ts";

const view = (transform: LoadedTransform["transform"]): LoadedTransform => ({
  name: "conv_adjusted",
  features: [{ name: "y", type: "float64" }, { name: "n", type: "int32" }],
  transform,
});

Deno.test("runTransform() returns declared columns and turns NaN/undefined into null", () => {
  const out = runTransform(
    view((c) => ({
      y: (c.x as number[]).map((x) => x / 0 - Infinity),
      n: [1, undefined],
      extra: [1, 2],
    })),
    { x: [1, 2] },
    2,
  );
  assert.deepEqual(out, { y: [null, null], n: [1, null] });
});

Deno.test("runTransform() names the view when the transform throws", () => {
  assert.throws(() =>
    runTransform(
      view(() => {
        throw new Error("boom");
      }),
      {},
      1,
    ), {
    code: "DEFINITION_INVALID",
    message: 'On-demand feature view "conv_adjusted": the transform threw: boom',
  });
});

Deno.test("runTransform() rejects wrong lengths instead of shifting rows", () => {
  assert.throws(() => runTransform(view(() => ({ y: [1.5], n: [1, 2] })), {}, 2), {
    message: 'On-demand feature view "conv_adjusted": column "y" has 1 values for 2 rows',
  });
  assert.throws(() => runTransform(view(() => ({ y: [1.5, 2] })), {}, 2), {
    message: 'On-demand feature view "conv_adjusted": the transform returned no column "n"',
  });
});

Deno.test("runTransform() rejects values of the wrong type", () => {
  assert.throws(() => runTransform(view(() => ({ y: [1, "2"], n: [1, 2] })), {}, 2), {
    message: 'On-demand feature view "conv_adjusted": column "y" row 1: expected float64, got "2"',
  });
  assert.throws(() => runTransform(view(() => ({ y: [1, 2], n: [1.5, 2] })), {}, 2), {
    message: 'On-demand feature view "conv_adjusted": column "n" row 0: expected int32, got 1.5',
  });
  assert.throws(() => runTransform(view(() => null as never), {}, 2), {
    message:
      'On-demand feature view "conv_adjusted": the transform must return an object of columns, got null',
  });
});
