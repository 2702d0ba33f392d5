import assert from "node:assert/strict";
import { ColumnWriter } from "./_log_buffers.ts";

Deno.test("ColumnWriter writes 64-bit integers through their halves, negatives included", () => {
  const values = [0, -1, -5, 2 ** 32, -(2 ** 32) - 7, Number.MAX_SAFE_INTEGER, null, 12n ** 17n];
  const w = new ColumnWriter("x", "int64", values.length);
  for (const v of values) w.push(v);
  const b = w.finish();
  assert.ok("data" in b && b.data instanceof BigInt64Array && "nullCount" in b);
  assert.deepEqual([...b.data], [
    0n,
    -1n,
    -5n,
    2n ** 32n,
    -(2n ** 32n) - 7n,
    2n ** 53n - 1n,
    0n,
    12n ** 17n,
  ]);
  assert.equal(b.nullCount, 1);
  assert.deepEqual([...b.valid], [0b10111111]);
});

Deno.test("ColumnWriter writes text as UTF-8 with offsets, and keeps other types' values", () => {
  const w = new ColumnWriter("s", "string", 3);
  for (const v of ["é", null, "ab"]) w.push(v);
  const b = w.finish();
  assert.ok("offsets" in b);
  assert.deepEqual([...b.offsets], [0, 2, 2, 4]);
  assert.deepEqual([...b.data], [0xc3, 0xa9, 0x61, 0x62]);
  assert.equal(b.nullCount, 1);
  const lists = new ColumnWriter("l", "int32[]", 2);
  lists.push([1]);
  lists.push(undefined);
  assert.deepEqual(lists.finish(), { name: "l", type: "int32[]", values: [[1], null] });
});
