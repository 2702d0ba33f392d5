import assert from "node:assert/strict";
import { join } from "node:path";
import { writeTable } from "./table_writer.ts";

Deno.test("writeTable() writes Parquet that reads back with its types", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "t.parquet");
    await writeTable(path, {
      id: [1, "2", 3n],
      ts: [new Date("2026-01-01T00:00:00Z"), "2026-01-02T00:00:00Z", null],
      score: [0.5, null, "1.25"],
      tags: [["a"], [], null],
    }, { id: "int64", ts: "timestamp", score: "float32", tags: "string[]" });
    const { readParquetFile } = await import("./offline/mod.ts");
    const table = await readParquetFile(path);
    assert.deepEqual(table.schema.fields.map((f) => `${f.name}:${f.type}`), [
      "id:Int64",
      "ts:Timestamp<MICROSECOND, UTC>",
      "score:Float32",
      "tags:List<Utf8>",
    ]);
    assert.equal(table.numRows, 3);
    assert.equal(table.getChild("id")!.get(2), 3n);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeTable() names the column and row of a value its type cannot hold", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "t.csv");
    await assert.rejects(() => writeTable(path, { id: [1, "abc"] }, { id: "int64" }), {
      code: "INPUT_INVALID",
      message: 'Column "id" row 1: expected int64, got "abc"',
    });
    await assert.rejects(() => writeTable(path, { n: [2 ** 40] }, { n: "int32" }), {
      message: 'Column "n" row 0: expected int32, got 1099511627776',
    });
    await assert.rejects(() => writeTable(path, { ts: [new Date("x")] }, { ts: "timestamp" }), {
      message: 'Column "ts" row 0: expected timestamp, got an invalid Date',
    });
    await assert.rejects(
      () => writeTable(path, { a: [1], b: [1, 2] }, { a: "int64", b: "int64" }),
      {
        message: "Cannot write the table: columns have different lengths (a: 1, b: 2)",
      },
    );
    await assert.rejects(() => writeTable(join(dir, "t.txt"), { a: [1] }, { a: "int64" }), {
      message: `Cannot write "${join(dir, "t.txt")}": expected a .parquet or .csv file name`,
    });
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
