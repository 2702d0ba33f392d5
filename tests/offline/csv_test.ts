/**
 * CSV sources and entity files are read by declared types, the same way in every file and on
 * every path (source validation, historical retrieval, the materialization read): nothing is
 * guessed per file, and a value that does not fit names the file, line, column and value.
 */
import assert from "node:assert/strict";
import { fileSource as defineFileSource } from "../../registry/mod.ts";
import { DuckDBOfflineStore, type ViewRequest } from "../../engine/offline/mod.ts";
import type { FeatureViewSpec, FileSourceSpec } from "../../registry/mod.ts";
import { parseTimestamp } from "../../engine/mod.ts";
import { entity, featureView, fileSource, t, tempDir, writeText } from "./_fixtures.ts";
import { TIMESTAMP_EDGES } from "../support/timestamp_strings.ts";

const store = new DuckDBOfflineStore({ memoryLimit: "512MB" });
const dir = await tempDir();
const driver = entity("driver", ["driver_id"]);

function trips(source: FileSourceSpec): FeatureViewSpec {
  return featureView("trips", {
    entities: ["driver"],
    source: source.name,
    features: [{ name: "trips", type: "int64" }, { name: "rate", type: "float32" }],
  });
}

function request(source: FileSourceSpec): ViewRequest {
  const view = trips(source);
  return { view, source, entities: [driver], features: ["trips", "rate"] };
}

/** The three paths that read a source: apply's check, retrieval, and the materialization read. */
async function everyPath(source: FileSourceSpec): Promise<unknown[]> {
  const failures: unknown[] = [];
  const view = trips(source);
  const problems = await store.checkSource({ repoDir: dir, view, source, entities: [driver] });
  failures.push(problems.length === 1 ? new Error(problems[0]) : problems);
  const job = await store.getHistoricalFeatures({
    repoDir: dir,
    entityTable: [{ driver_id: 1, event_timestamp: t("2024-01-05") }],
    views: [request(source)],
  });
  failures.push(await job.toRows().then(() => "no error", (err) => err));
  failures.push(
    await store.pullLatest({
      repoDir: dir,
      view,
      source,
      entities: [driver],
      start: t("2024-01-01"),
      end: t("2024-01-10"),
    }).then(async (latest) => {
      await latest.close();
      return "no error";
    }, (err) => err),
  );
  return failures;
}

function messages(failures: unknown[]): string[] {
  return failures.map((f) => (f instanceof Error ? f.message : String(f)));
}

Deno.test("CSV source: a value that does not fit its declared type fails every path, naming file, line, column and value", async () => {
  const path = await writeText(
    dir,
    "rounded/stats.csv",
    "driver_id,event_timestamp,trips,rate\n" +
      "1,2024-01-01T00:00:00Z,10,0.5\n" +
      "1,2024-01-02T00:00:00Z,12.5,0.5\n",
  );
  const source = fileSource("rounded", "rounded/stats.csv");
  const expected =
    `Data source "rounded": file "${path}", line 3: column "trips": "12.5" is not a valid int64`;
  assert.deepEqual(messages(await everyPath(source)), [expected, expected, expected]);
  const [, retrieval] = await everyPath(source);
  assert.equal((retrieval as { code?: string }).code, "SOURCE_INVALID");
  assert.deepEqual((retrieval as { details?: unknown }).details, {
    source: "rounded",
    file: path,
    line: 3,
    column: "trips",
    value: "12.5",
  });
});

Deno.test("CSV source: retrieval never rounds a late 12.5 into an int64 nor guesses a date format per file", async () => {
  // Past the rows DuckDB samples to guess types: before, the value was read as 13.
  const lines = ["driver_id,event_timestamp,trips,rate"];
  for (let i = 0; i < 30_000; i++) lines.push(`${i + 2},2024-01-01T00:00:00Z,10,0.5`);
  lines.push("1,2024-01-01T00:00:00Z,12.5,0.5");
  const late = await writeText(dir, "late/stats.csv", `${lines.join("\n")}\n`);
  const job = await store.getHistoricalFeatures({
    repoDir: dir,
    entityTable: [{ driver_id: 1, event_timestamp: t("2024-01-05") }],
    views: [request(fileSource("late", "late/stats.csv"))],
  });
  await assert.rejects(job.toRows(), {
    code: "SOURCE_INVALID",
    message:
      `Data source "late": file "${late}", line 30002: column "trips": "12.5" is not a valid int64`,
  });
  // Before: 02/01/2001 was 2 January in one file, 1/15/2001 January 15 in another.
  const dayFirst = await writeText(
    dir,
    "guess/a.csv",
    "driver_id,event_timestamp,trips,rate\n1,02/01/2001,1,0.5\n",
  );
  await writeText(dir, "guess/b.csv", "driver_id,event_timestamp,trips,rate\n2,1/15/2001,2,0.5\n");
  const guess = fileSource("guess", "guess/*.csv");
  await assert.rejects(
    store.pullLatest({
      repoDir: dir,
      view: trips(guess),
      source: guess,
      entities: [driver],
      start: t("2000-01-01"),
      end: t("2002-01-01"),
    }),
    {
      code: "SOURCE_INVALID",
      message:
        `Data source "guess": file "${dayFirst}", line 2: column "event_timestamp": "02/01/2001" is not a valid ISO 8601 timestamp`,
    },
  );
});

Deno.test("CSV source: integers are whole numbers only; floats, booleans and spaces as written", async () => {
  for (const bad of ["13.0", "1e3", "twelve", "0x10", "99999999999999999999"]) {
    const path = await writeText(
      dir,
      "ints/stats.csv",
      `driver_id,event_timestamp,trips,rate\n1,2024-01-02T00:00:00Z,${bad},0.5\n`,
    );
    const problems = await store.checkSource({
      repoDir: dir,
      view: trips(fileSource("ints", "ints/stats.csv")),
      source: fileSource("ints", "ints/stats.csv"),
      entities: [driver],
    });
    assert.deepEqual(problems, [
      `Data source "ints": file "${path}", line 2: column "trips": "${bad}" is not a valid int64`,
    ]);
  }
  await writeText(
    dir,
    "good/stats.csv",
    "driver_id,event_timestamp,trips,rate\n" +
      "1,2024-01-01T00:00:00Z, 12 ,1e-3\n" +
      "2,2024-01-01 01:00:00,-3,inf\n" +
      "3,2024-01-01,,\n",
  );
  const source = fileSource("good", "good/stats.csv");
  assert.deepEqual(messages(await everyPath(source)).slice(1), ["no error", "no error"]);
  const job = await store.getHistoricalFeatures({
    repoDir: dir,
    entityTable: [1, 2, 3].map((driver_id) => ({ driver_id, event_timestamp: t("2024-01-05") })),
    views: [request(source)],
  });
  assert.deepEqual((await job.toRows()).map((r) => [r.trips, r.rate]), [
    [12, 0.001],
    [-3, Infinity],
    [null, null],
  ]);
  // A finite value too large for float32 does not silently become infinity.
  const big = await writeText(
    dir,
    "big/stats.csv",
    "driver_id,event_timestamp,trips,rate\n1,2024-01-01T00:00:00Z,1,1e40\n",
  );
  assert.deepEqual(
    await store.checkSource({
      repoDir: dir,
      view: trips(fileSource("big", "big/stats.csv")),
      source: fileSource("big", "big/stats.csv"),
      entities: [driver],
    }),
    [`Data source "big": file "${big}", line 2: column "rate": "1e40" is not a valid float32`],
  );
});

Deno.test("CSV source: timestamps are ISO 8601 in every file, or the format the source declares", async () => {
  // Before: DuckDB guessed a date format per file, so 02/01/2001 was 2 January in one file
  // and 1/15/2001 was January 15 in another.
  const dayFirst = await writeText(
    dir,
    "dates/a.csv",
    "driver_id,event_timestamp,trips,rate\n1,02/01/2001,1,0.5\n",
  );
  await writeText(
    dir,
    "dates/b.csv",
    "driver_id,event_timestamp,trips,rate\n2,1/15/2001,2,0.5\n",
  );
  const guessed = fileSource("dates", "dates/*.csv");
  const problems = await store.checkSource({
    repoDir: dir,
    view: trips(guessed),
    source: guessed,
    entities: [driver],
  });
  assert.deepEqual(problems, [
    `Data source "dates": file "${dayFirst}", line 2: column "event_timestamp": "02/01/2001" is not a valid ISO 8601 timestamp`,
  ]);

  // Declared: day first, in every file; ISO 8601 values are read too.
  await writeText(
    dir,
    "declared/a.csv",
    "driver_id,event_timestamp,trips,rate\n1,02/01/2001,1,0.5\n",
  );
  await writeText(
    dir,
    "declared/b.csv",
    "driver_id,event_timestamp,trips,rate\n2,15/01/2001,2,0.5\n3,2001-01-20T00:00:00Z,3,0.5\n",
  );
  const declared = fileSource("declared", "declared/*.csv", { timestampFormat: "%d/%m/%Y" });
  assert.deepEqual(
    await store.checkSource({
      repoDir: dir,
      view: trips(declared),
      source: declared,
      entities: [driver],
    }),
    [],
  );
  const job = await store.getHistoricalFeatures({
    repoDir: dir,
    start: t("2000-01-01"),
    end: t("2002-01-01"),
    views: [request(declared)],
  });
  const latest = await store.pullLatest({
    repoDir: dir,
    view: trips(declared),
    source: declared,
    entities: [driver],
    start: t("2000-01-01"),
    end: t("2002-01-01"),
  });
  const pulled: [unknown, unknown][] = [];
  for await (const batch of latest) {
    for (const row of batch.toArray()) {
      pulled.push([Number(row.driver_id), new Date(row.event_timestamp).toISOString()]);
    }
  }
  assert.deepEqual(pulled.sort(), [
    [1, "2001-01-02T00:00:00.000Z"],
    [2, "2001-01-15T00:00:00.000Z"],
    [3, "2001-01-20T00:00:00.000Z"],
  ]);
  assert.deepEqual((await job.toRows()).map((r) => r.trips), [1, 2, 3]);
  const other = await writeText(
    dir,
    "declared/c.csv",
    "driver_id,event_timestamp,trips,rate\n4,01-20-2001,4,0.5\n",
  );
  assert.deepEqual(
    await store.checkSource({
      repoDir: dir,
      view: trips(declared),
      source: declared,
      entities: [driver],
    }),
    [
      `Data source "declared": file "${other}", line 2: column "event_timestamp": "01-20-2001" is not a timestamp in the format "%d/%m/%Y" or ISO 8601`,
    ],
  );
});

Deno.test("CSV source: timestamps are accepted and refused exactly as parseTimestamp() does", async () => {
  // Before, CSV took "+02:75", "+02", " UTC", "+02:30:15" and 10 fraction digits, and refused
  // "t"/"z" and "T03:04Z", which the parser reads (many more values: engine/offline/_csv_test.ts).
  const values = TIMESTAMP_EDGES;
  const files = new Map<string, string>();
  const refusedByCsv = new Set<string>();
  for (const [i, value] of values.entries()) {
    const file = await writeText(
      dir,
      `agree/${i}.csv`,
      `driver_id,event_timestamp,trips,rate\n${i},${value},${i},0.5\n`,
    );
    files.set(file, value);
    const one = fileSource(`agree_${i}`, `agree/${i}.csv`);
    const problems = await store.checkSource({
      repoDir: dir,
      view: trips(one),
      source: one,
      entities: [driver],
    });
    if (problems.length > 0) refusedByCsv.add(value);
  }
  const refusedByParser = new Set(values.filter((v) => parseTimestamp(v) === undefined));
  assert.deepEqual([...refusedByCsv].sort(), [...refusedByParser].sort());
  // And the accepted ones are the same instants.
  const accepted = fileSource("accepted", "agree/*.csv");
  for (const file of files.keys()) {
    if (refusedByParser.has(files.get(file)!)) await Deno.remove(file);
  }
  const latest = await store.pullLatest({
    repoDir: dir,
    view: trips(accepted),
    source: accepted,
    entities: [driver],
    start: new Date(Date.UTC(-1, 0, 1)),
    end: new Date(Date.UTC(10001, 0, 1)),
  });
  const read = new Map<number, number>();
  for await (const batch of latest) {
    for (const row of batch.toArray()) {
      read.set(Number(row.driver_id), new Date(row.event_timestamp).getTime());
    }
  }
  for (const [i, value] of values.entries()) {
    if (refusedByParser.has(value)) continue;
    // To the millisecond: Arrow hands these out as float milliseconds (the exact microseconds
    // are compared in engine/offline/_csv_test.ts).
    assert.ok(Math.abs(read.get(i)! - parseTimestamp(value)!.getTime()) <= 1, value);
  }
});

Deno.test("CSV source: each list item is read by the scalar rules; an item that does not fit is an error", async () => {
  const source = fileSource("lists", "lists/stats.csv");
  const view = featureView("lists", {
    entities: ["driver"],
    source: source.name,
    features: [{ name: "rates", type: "float64[]" }, { name: "days", type: "timestamp[]" }],
  });
  const check = async (rates: string, days: string) => {
    const path = await writeText(
      dir,
      "lists/stats.csv",
      `driver_id,event_timestamp,rates,days\n1,2024-01-01T00:00:00Z,"${rates}","${days}"\n`,
    );
    const problems = await store.checkSource({ repoDir: dir, view, source, entities: [driver] });
    return problems.map((p) => p.replace(`file "${path}"`, "file"));
  };
  // Before, an item that did not parse became NULL and the list passed.
  assert.deepEqual(await check("[1.5, abc]", "[]"), [
    'Data source "lists": file, line 2: column "rates": "[1.5, abc]" is not a valid float64[]',
  ]);
  assert.deepEqual(await check("[1e999]", "[]"), [
    'Data source "lists": file, line 2: column "rates": "[1e999]" is not a valid float64[]',
  ]);
  assert.deepEqual(await check("[]", "[2024-02-30]"), [
    'Data source "lists": file, line 2: column "days": "[2024-02-30]" is not a valid timestamp[]',
  ]);
  assert.deepEqual(await check("[1.5, NULL, inf]", "[2024-01-01T02:00:00+02:00, NULL]"), []);
  const job = await store.getHistoricalFeatures({
    repoDir: dir,
    entityTable: [{ driver_id: 1, event_timestamp: t("2024-01-05") }],
    views: [{ view, source, entities: [driver], features: ["rates", "days"] }],
  });
  const [row] = await job.toRows();
  assert.deepEqual(row!.rates, [1.5, null, Infinity]);
  // The offset is kept: before, a timestamp list dropped it.
  assert.deepEqual(row!.days, [t("2024-01-01T00:00:00Z"), null]);
});

Deno.test("CSV source: a quoted empty field is an empty string, an unquoted one NULL", async () => {
  // Before, both were NULL (DuckDB's allow_quoted_nulls), unlike the same rows in Parquet.
  await writeText(
    dir,
    "empties/stats.csv",
    'driver_id,event_timestamp,note\n1,2024-01-01T00:00:00Z,""\n2,2024-01-01T00:00:00Z,\n',
  );
  const source = fileSource("empties", "empties/stats.csv");
  const view = featureView("empties", {
    entities: ["driver"],
    source: source.name,
    features: [{ name: "note", type: "string" }],
  });
  const job = await store.getHistoricalFeatures({
    repoDir: dir,
    entityTable: [1, 2].map((driver_id) => ({ driver_id, event_timestamp: t("2024-01-05") })),
    views: [{ view, source, entities: [driver], features: ["note"] }],
  });
  assert.deepEqual((await job.toRows()).map((r) => r.note), ["", null]);
});

Deno.test("fileSource() accepts timestampFormat for CSV sources only", () => {
  const csv = defineFileSource({
    name: "s",
    path: "data/s.csv",
    timestampField: "ts",
    timestampFormat: "%d/%m/%Y %H:%M",
  });
  assert.equal(csv.spec.timestampFormat, "%d/%m/%Y %H:%M");
  assert.throws(
    () =>
      defineFileSource({
        name: "p",
        path: "data/p.parquet",
        timestampField: "ts",
        timestampFormat: "%d/%m/%Y",
      }),
    {
      code: "DEFINITION_INVALID",
      message: 'Data source "p": timestampFormat applies to CSV sources only (format is "parquet")',
    },
  );
});

Deno.test("CSV source: ragged rows, unclosed quotes and missing columns name the file and line", async () => {
  const ragged = await writeText(
    dir,
    "ragged.csv",
    "driver_id,event_timestamp,trips,rate\n" +
      "1,2024-01-01T00:00:00Z,1,0.5\n" +
      "2,2024-01-01T00:00:00Z,2\n",
  );
  assert.deepEqual(messages(await everyPath(fileSource("ragged", "ragged.csv"))), [
    `Data source "ragged": file "${ragged}", line 3: 3 fields where the header has 4`,
    `Data source "ragged": file "${ragged}", line 3: 3 fields where the header has 4`,
    `Data source "ragged": file "${ragged}", line 3: 3 fields where the header has 4`,
  ]);
  const extra = await writeText(
    dir,
    "extra.csv",
    "driver_id,event_timestamp,trips,rate\n1,2024-01-01T00:00:00Z,1,0.5,oops\n",
  );
  assert.deepEqual(messages(await everyPath(fileSource("extra", "extra.csv"))).slice(0, 1), [
    `Data source "extra": file "${extra}", line 2: 5 fields where the header has 4`,
  ]);
  const unclosed = await writeText(
    dir,
    "unclosed.csv",
    'driver_id,event_timestamp,trips,rate\n1,2024-01-01T00:00:00Z,1,0.5\n2,"2024-01-01,2,0.5\n',
  );
  assert.deepEqual(messages(await everyPath(fileSource("unclosed", "unclosed.csv"))), [
    `Data source "unclosed": file "${unclosed}", line 3: a quoted value is never closed (a missing closing '"')`,
    `Data source "unclosed": file "${unclosed}", line 3: a quoted value is never closed (a missing closing '"')`,
    `Data source "unclosed": file "${unclosed}", line 3: a quoted value is never closed (a missing closing '"')`,
  ]);
  await writeText(dir, "parts/a.csv", "driver_id,event_timestamp,trips,rate\n");
  const partB = await writeText(dir, "parts/b.csv", "driver_id,event_timestamp,trips\n");
  const [, retrieval] = await everyPath(fileSource("parts", "parts/*.csv"));
  assert.equal(
    (retrieval as Error).message,
    `Data source "parts": file "${partB}" has no column "rate" (columns: "driver_id", "event_timestamp", "trips")`,
  );
  const empty = await writeText(dir, "empty.csv", "");
  assert.deepEqual(
    await store.checkSource({
      repoDir: dir,
      view: trips(fileSource("empty", "empty.csv")),
      source: fileSource("empty", "empty.csv"),
      entities: [driver],
    }).catch((err) => [err.message]),
    [`Data source "empty": file "${empty}": the file is empty: expected a header line`],
  );
});

Deno.test("CSV source: line numbers hold across many read chunks and quoted values spanning lines", async () => {
  const lines = ["driver_id,event_timestamp,trips,rate,note"];
  for (let i = 0; i < 60_000; i++) {
    const note = i === 10 ? '"two\nlines"' : "n";
    const value = i === 50_000 ? "5.5" : String(i);
    lines.push(`${i},2024-01-01T00:00:00Z,${value},0.5,${note}`);
  }
  const path = await writeText(dir, "long.csv", `${lines.join("\n")}\n`);
  const source = fileSource("long", "long.csv");
  // Record 50 000 is on line 50 002, moved one line down by the value spanning two lines.
  assert.deepEqual(
    await store.checkSource({ repoDir: dir, view: trips(source), source, entities: [driver] }),
    [`Data source "long": file "${path}", line 50003: column "trips": "5.5" is not a valid int64`],
  );
});

Deno.test("CSV source: lines are counted as in the file, across blank lines and quoted line breaks", async () => {
  const header = "driver_id,event_timestamp,trips,rate,note";
  const source = fileSource("blank", "blank/stats.csv");
  const check = async (text: string) => {
    const path = await writeText(dir, "blank/stats.csv", text);
    const problems = await store.checkSource({
      repoDir: dir,
      view: trips(source),
      source,
      entities: [driver],
    });
    return problems.map((p) => p.replace(`file "${path}"`, "file"));
  };
  // Line 1 header, 2 a record, 3-4 blank (DuckDB skips them), 5-6 one record, 7 the bad value.
  // Before: line 4 (blank lines not counted).
  const body = `1,2024-01-01T00:00:00Z,1,0.5,n\n\n\n2,2024-01-01T00:00:00Z,2,0.5,"two\nlines"\n`;
  assert.deepEqual(await check(`${header}\n${body}3,2024-01-01T00:00:00Z,3.5,0.5,n\n`), [
    'Data source "blank": file, line 7: column "trips": "3.5" is not a valid int64',
  ]);
  assert.deepEqual(
    await check(`${header}\r\n${body.replaceAll("\n", "\r\n")}3,2024-01-01T00:00:00Z,3.5,0.5,n`),
    [
      'Data source "blank": file, line 7: column "trips": "3.5" is not a valid int64',
    ],
  );
  // DuckDB reports these at line 6: it does not count the line break inside the quotes.
  assert.deepEqual(await check(`${header}\n${body}3,2024-01-01T00:00:00Z,3,0.5\n`), [
    'Data source "blank": file, line 7: 4 fields where the header has 5',
  ]);
  assert.deepEqual(await check(`${header}\n${body}3,2024-01-01T00:00:00Z,3,0.5,"open\n`), [
    `Data source "blank": file, line 7: a quoted value is never closed (a missing closing '"')`,
  ]);
});

Deno.test("CSV source: a header line longer than 1 MiB is refused, not cut", async () => {
  // Before, the header was cut at 1 MiB and its last names silently lost.
  const path = await writeText(
    dir,
    "wide/stats.csv",
    `driver_id,event_timestamp,trips,${"x".repeat(1 << 20)},rate\n1,2024-01-01,1,a,0.5\n`,
  );
  const source = fileSource("wide", "wide/stats.csv");
  await assert.rejects(store.describeSource(source, dir), {
    code: "SOURCE_INVALID",
    message:
      `Data source "wide": file "${path}": the header line is longer than 1048576 characters (is this a CSV file?)`,
  });
});

Deno.test("CSV entity file: join keys and the timestamp are parsed strictly, naming line and value", async () => {
  await writeText(
    dir,
    "entity_source/stats.csv",
    "driver_id,event_timestamp,trips,rate\n1,2024-01-01T00:00:00Z,7,0.5\n",
  );
  const views = [request(fileSource("entity_source", "entity_source/stats.csv"))];
  const run = (entityTable: string) =>
    store.getHistoricalFeatures({ repoDir: dir, entityTable, views }).then((j) => j.toRows());
  const dates = await writeText(
    dir,
    "entities_dates.csv",
    "driver_id,event_timestamp,label\n1,2024-01-02T00:00:00Z,a\n1,02/01/2024,b\n",
  );
  await assert.rejects(run("entities_dates.csv"), {
    code: "INPUT_INVALID",
    message:
      `Entity file "${dates}", line 3: column "event_timestamp": "02/01/2024" is not a valid ISO 8601 timestamp`,
  });
  const keys = await writeText(
    dir,
    "entities_keys.csv",
    "driver_id,event_timestamp\n1,2024-01-02T00:00:00Z\n1.5,2024-01-02T00:00:00Z\n",
  );
  await assert.rejects(run("entities_keys.csv"), {
    code: "INPUT_INVALID",
    message: `Entity file "${keys}", line 3: column "driver_id": "1.5" is not a valid int64`,
  });
  const ragged = await writeText(
    dir,
    "entities_ragged.csv",
    "driver_id,event_timestamp\n1,2024-01-02T00:00:00Z,extra\n",
  );
  await assert.rejects(run("entities_ragged.csv"), {
    code: "INPUT_INVALID",
    message: `Entity file "${ragged}", line 2: 3 fields where the header has 2`,
  });
  // Other columns pass through as DuckDB reads them; a late row that does not fit the type
  // guessed from the first rows widens it instead of failing.
  const rows = ["driver_id,event_timestamp,label,day"];
  for (let i = 0; i < 30_000; i++) rows.push(`1,2024-01-02T00:00:00Z,${i},02/01/2024`);
  rows.push("1,2024-01-02T00:00:00Z,late text,02/01/2024");
  await writeText(dir, "entities_wide.csv", `${rows.join("\n")}\n`);
  const out = await run("entities_wide.csv");
  assert.equal(out.length, 30_001);
  assert.deepEqual([out[0]!.label, out.at(-1)!.label, out[0]!.day, out[0]!.trips], [
    "0",
    "late text",
    "02/01/2024",
    7,
  ]);
});

Deno.test("CSV source and entity file rewritten in place are read as they are now", async () => {
  // DuckDB-WASM keeps the contents of a file it has read, by path.
  const write = (value: number) =>
    writeText(
      dir,
      "rewritten/stats.csv",
      `driver_id,event_timestamp,trips,rate\n1,2024-01-01T00:00:00Z,${value},0.5\n`,
    );
  const source = fileSource("rewritten", "rewritten/stats.csv");
  const entities = "rewritten/entities.csv";
  const read = async () => {
    const job = await store.getHistoricalFeatures({
      repoDir: dir,
      entityTable: entities,
      views: [request(source)],
    });
    return (await job.toRows()).map((r) => [r.driver_id, r.trips]);
  };
  await write(1);
  await writeText(dir, entities, "driver_id,event_timestamp\n1,2024-01-02T00:00:00Z\n");
  assert.deepEqual(await read(), [[1, 1]]);
  await write(2);
  await writeText(dir, entities, "driver_id,event_timestamp\n2,2024-01-02T00:00:00Z\n");
  assert.deepEqual(await read(), [[2, null]]);
  await writeText(dir, entities, "driver_id,event_timestamp\n1,2024-01-02T00:00:00Z\n");
  assert.deepEqual(await read(), [[1, 2]]);
});

Deno.test("store.close() after the CSV tests", async () => {
  await store.close();
  await Deno.remove(dir, { recursive: true });
});
