import assert from "node:assert/strict";
import {
  addToSketch,
  decodeSketch,
  encodeSketch,
  estimateSketch,
  HLL_STANDARD_ERROR,
  mergeSketch,
  newSketch,
} from "./hyperloglog.ts";

Deno.test("estimateSketch() stays within its stated error, small and large", () => {
  for (const n of [0, 1, 7, 100, 1000, 5000, 50_000]) {
    const sketch = newSketch();
    // Every value twice: duplicates do not count.
    for (let i = 0; i < 2 * n; i++) addToSketch(sketch, JSON.stringify(`v${i % n}`));
    const estimate = estimateSketch(sketch);
    const error = n === 0 ? estimate : Math.abs(estimate - n) / n;
    // Linear counting (small n) is tight; beyond it, 4 standard errors.
    const bound = n <= 1000 ? 0.02 : 4 * HLL_STANDARD_ERROR;
    assert.ok(error <= bound, `n ${n}: estimate ${estimate} (error ${error})`);
  }
});

Deno.test("mergeSketch() gives the sketch of the union; encodeSketch() round-trips sparse and dense", () => {
  const a = newSketch();
  const b = newSketch();
  const both = newSketch();
  for (let i = 0; i < 3000; i++) {
    const text = String(i);
    addToSketch(i % 3 === 0 ? a : b, text);
    addToSketch(both, text);
  }
  mergeSketch(a, b);
  assert.deepEqual(a, both);
  const small = newSketch();
  addToSketch(small, "x");
  assert.ok(encodeSketch(small).length < 10, "a sketch of one value is small");
  assert.deepEqual(decodeSketch(encodeSketch(small)), small);
  assert.deepEqual(decodeSketch(encodeSketch(both)), both);
  assert.deepEqual(decodeSketch("garbage!"), newSketch());
});
