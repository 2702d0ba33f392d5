import assert from "node:assert/strict";
import { shortestFloat32 } from "../engine/float32.ts";
import { prng } from "./support/prng.ts";

/** The definition, spelled out: try 1, 2, … 9 significant digits. */
function linearShortest(value: number): number {
  if (!Number.isFinite(value)) return value;
  const f = Math.fround(value);
  for (let digits = 1; digits < 10; digits++) {
    const candidate = Number(f.toPrecision(digits));
    if (Math.fround(candidate) === f) return candidate;
  }
  return f;
}

Deno.test("shortestFloat32 gives the shortest decimal that reads back", () => {
  assert.equal(shortestFloat32(0.654), 0.654);
  assert.equal(shortestFloat32(Math.fround(0.654)), 0.654);
  assert.equal(shortestFloat32(0.1 + 0.2), 0.3);
  assert.equal(shortestFloat32(16777217), 16777216);
  assert.equal(shortestFloat32(0), 0);
  assert.ok(Object.is(shortestFloat32(-0), -0));
  assert.ok(Number.isNaN(shortestFloat32(NaN)));
  assert.equal(shortestFloat32(Infinity), Infinity);
  assert.equal(shortestFloat32(1e39), Infinity);
});

Deno.test("shortestFloat32 agrees with trying every length, on random and edge values", () => {
  const random = prng(20261121);
  const bits = new Uint32Array(1);
  const asFloat = new Float32Array(bits.buffer);
  const values: number[] = [];
  for (let i = 0; i < 200_000; i++) {
    bits[0] = Math.floor(random() * 2 ** 32); // every float32 bit pattern is as likely
    values.push(asFloat[0]!);
  }
  for (let i = 0; i < 100_000; i++) values.push(random(), random() * 1000 - 500, random() / 1e6);
  for (let e = -149; e <= 127; e++) {
    // Powers of two (lopsided rounding intervals), their neighbours, and subnormals.
    const p = 2 ** e;
    values.push(p, -p, p * (1 + 2 ** -23), p * (1 - 2 ** -24), p * 3);
  }
  for (let d = 1; d <= 9; d++) values.push(Number((1 / 3).toPrecision(d)), 10 ** (d - 5));
  let checked = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    const got = shortestFloat32(v);
    const want = linearShortest(v);
    assert.ok(Object.is(got, want), `shortestFloat32(${v}) = ${got}, expected ${want}`);
    checked++;
  }
  assert.ok(checked > 500_000);
});
