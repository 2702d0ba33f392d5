import assert from "node:assert/strict";
import { tableFromArrays } from "apache-arrow";
import { batchRows } from "./_values.ts";

Deno.test("batchRows() keeps a column named __proto__ as an own key, not the row's prototype", () => {
  const table = tableFromArrays(
    JSON.parse('{"__proto__": [1, 2], "driver_id": [10, 20]}') as Record<string, number[]>,
  );
  // tableFromArrays reads own keys, so the Arrow table has both columns.
  assert.deepEqual(table.schema.fields.map((f) => f.name), ["__proto__", "driver_id"]);
  for (const style of ["rows", "json"] as const) {
    const rows = batchRows(table, style);
    assert.equal(Object.getPrototypeOf(rows[0]), Object.prototype);
    assert.deepEqual(Object.keys(rows[1]!), ["__proto__", "driver_id"]);
    assert.equal(Object.getOwnPropertyDescriptor(rows[1], "__proto__")?.value, 2);
  }
});
