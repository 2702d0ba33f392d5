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

Deno.test("writeTable() writes CSV with quoted names, quoted empty strings and ISO timestamp lists", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "t.csv");
    await writeTable(path, {
      "a,b": ["", null, "x"],
      ts: [1704067200000, "2024-01-01T00:00:00.000001+01:00", null],
      times: [[1704067200000], [], null],
    }, { "a,b": "string", ts: "timestamp", times: "timestamp[]" });
    assert.equal(
      await Deno.readTextFile(path),
      '"a,b",ts,times\n' +
        '"",2024-01-01T00:00:00.000Z,"[""2024-01-01T00:00:00.000Z""]"\n' +
        ",2023-12-31T23:00:00.000001Z,[]\n" +
        "x,,\n",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeTable() refuses timestamps beyond the range of dates, and CSV years past 9999", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const name of ["t.csv", "t.parquet"]) {
      await assert.rejects(() => writeTable(join(dir, name), { ts: [1e20] }, { ts: "timestamp" }), {
        code: "INPUT_INVALID",
        message:
          'Column "ts" row 0: expected timestamp, got 100000000000000000000: it is beyond the range of dates: epoch milliseconds must be within ±8.64e15 (years -271821 to 275760)',
      });
    }
    const year12000 = Date.UTC(12000, 0, 1);
    await assert.rejects(
      () => writeTable(join(dir, "t.csv"), { ts: [year12000] }, { ts: "timestamp" }),
      {
        code: "INPUT_INVALID",
        message:
          `Column "ts" row 0: expected timestamp, got ${year12000}: a CSV file holds timestamps as ISO 8601 text, with years 0000 to 9999`,
      },
    );
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    await writeTable(join(dir, "t.parquet"), { ts: [year12000] }, { ts: "timestamp" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
