import assert from "node:assert/strict";
import { parseTimestampMicros } from "../timestamps.ts";
import { timestampStrings } from "../../tests/support/timestamp_strings.ts";
import { DuckDB } from "./duckdb.ts";
import { parsed } from "./_csv.ts";
import { str } from "./_sql.ts";

const db = await DuckDB.open({ memoryLimit: "256MB" });

/** A list value as a plain array (DuckDB's rows hold Arrow vectors). */
function plain(value: unknown): unknown {
  if (value === null || typeof value !== "object" || !(Symbol.iterator in value)) return value;
  return [...(value as Iterable<unknown>)].map(plain);
}

/** `parsed()` of each text as `type`, through a table of the texts. */
async function parse(texts: readonly string[], type: Parameters<typeof parsed>[1]) {
  return await db.withSession(async (session) => {
    await session.exec(
      `CREATE TEMP TABLE texts AS SELECT * FROM (VALUES ${
        texts.map((t, i) => `(${i}, ${str(t)})`).join(", ")
      }) AS v(i, x)`,
    );
    const out = type === "timestamp" ? `epoch_us(${parsed("x", type, {})})` : parsed("x", type, {});
    const rows = await session.rows(`SELECT i, ${out} AS v FROM texts ORDER BY i`);
    return rows.map((r) => plain(r.v));
  });
}

Deno.test("parsed() reads CSV timestamps exactly as parseTimestampMicros() does, both ways", async () => {
  const texts = timestampStrings(7, 20_000);
  const read = await parse(texts, "timestamp");
  const disagree = texts.flatMap((text, i) => {
    const expected = parseTimestampMicros(text);
    const got = read[i] === null ? undefined : Number(read[i]);
    return got === expected ? [] : [`${JSON.stringify(text)}: CSV ${got}, parser ${expected}`];
  });
  assert.deepEqual(disagree, []);
});

Deno.test("parsed() reads list items by the scalar rules: an item that does not fit fails the list", async () => {
  const lists = ["[1.5, abc]", "[1e999]", "[1.5, NULL]", "[]", "[ 2 , -0.5 ]", "abc", "[1, 2"];
  assert.deepEqual(await parse(lists, "float64[]"), [
    null,
    null,
    [1.5, null],
    [],
    [2, -0.5],
    null,
    null,
  ]);
  assert.deepEqual(await parse(["[1, 2]", "[1.5]", "[1, [2]]", "[99999999999]"], "int32[]"), [
    [1, 2],
    null,
    null,
    null,
  ]);
  assert.deepEqual(await parse(["[true, f]", "[maybe]"], "bool[]"), [[true, false], null]);
  const times = await db.withSession((session) =>
    session.rows(
      `SELECT list_transform(${
        parsed(
          str('["2024-01-01T02:00:00+02:00", 2024-02-29T00:00:00.000001Z]'),
          "timestamp[]",
          {},
        )
      }, lambda t: epoch_us(t)) AS a, ${parsed(str("[2024-02-30]"), "timestamp[]", {})} AS b, ${
        parsed(str("[1704067200000]"), "timestamp[]", {})
      } AS c`,
    )
  );
  assert.deepEqual({ a: plain(times[0]!.a), b: times[0]!.b, c: times[0]!.c }, {
    a: [BigInt(parseTimestampMicros("2024-01-01T00:00:00Z")!), 1709164800000001n],
    b: null,
    c: null,
  });
});

Deno.test("parsed() tests close the database", async () => {
  await db.close();
});
