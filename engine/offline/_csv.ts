/**
 * CSV read without guessing: the header names the columns, the dialect is fixed (comma,
 * double quotes, strict), every value arrives as text, and each column Larder reads is parsed
 * as its declared type by one set of rules, the same for every file. A value that does not
 * fit is an error naming the file, the line, the column and the value.
 */
import { elementType, fileSystemFailure, LarderError, type ValueType } from "../../registry/mod.ts";
import { TIMESTAMP_PATTERN } from "../timestamps.ts";
import type { DuckDBSession } from "./duckdb.ts";
import { ident, str } from "./_sql.ts";
import { csvRecordLine, firstMalformedCsvRecord } from "./_csv_lines.ts";

/** The `error()` text a strict conversion raises; the caller then finds the value. */
const INVALID_MARKER = "larder: a CSV value does not fit its type";

/**
 * The dialect of every CSV file Larder reads. A quoted empty field (`""`) is an empty string, an
 * unquoted one NULL (DuckDB's `allow_quoted_nulls` would read both as NULL).
 */
const DIALECT =
  `delim = ',', quote = '"', escape = '"', strict_mode = true, allow_quoted_nulls = false`;

const INTEGER = String.raw`\s*[+-]?[0-9]+\s*`;

/** The longest header line read: a longer one is refused rather than cut. */
const HEADER_LIMIT = 1 << 20;

/** How timestamp text is read. */
export interface CsvTimestampOptions {
  /** A strptime format tried before ISO 8601 (the source's `timestampFormat`). */
  readonly timestampFormat?: string | undefined;
}

/** A column to parse: its name in the file and the type it is read as. */
export interface CsvColumn {
  readonly name: string;
  readonly type: ValueType;
  /** A NULL (empty) value is an error too (an entity table's timestamp). */
  readonly required?: boolean;
}

/** The first record of a CSV file, as text fields (RFC 4180 quoting). */
function parseFirstRecord(
  text: string,
): { fields: string[]; complete: boolean; length: number } {
  const fields: string[] = [];
  let field = "";
  let quoted = false;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') {
        field += '"';
        i++;
      } else quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      fields.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      fields.push(field);
      return { fields, complete: true, length: i };
    } else field += c;
  }
  fields.push(field);
  return { fields, complete: false, length: text.length };
}

/**
 * The start of a file up to the first line end outside quotes (or all of it); `undefined`
 * when that is longer than `limit` characters.
 */
async function readHead(path: string, limit: number): Promise<string | undefined> {
  const file = await Deno.open(path, { read: true }).catch((err) => {
    throw fileSystemFailure(err, { path, action: "read" }) ?? err;
  });
  try {
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(64 * 1024);
    let text = "";
    for (;;) {
      const n = await file.read(buffer);
      if (n !== null) text += decoder.decode(buffer.subarray(0, n), { stream: true });
      else text += decoder.decode();
      const first = parseFirstRecord(text);
      if (first.length > limit) return undefined;
      if (first.complete || n === null) return text;
    }
  } finally {
    file.close();
  }
}

/**
 * The column names in a CSV file's header line. Throws `SOURCE_INVALID` (via `fail`) for an
 * empty file or a header naming a column twice.
 */
export async function readCsvHeader(
  path: string,
  fail: (detail: string) => LarderError,
): Promise<string[]> {
  const text = await readHead(path, HEADER_LIMIT).catch((err) => {
    if (err instanceof Deno.errors.NotFound) throw fail("the file does not exist");
    throw err;
  });
  if (text === undefined) {
    throw fail(`the header line is longer than ${HEADER_LIMIT} characters (is this a CSV file?)`);
  }
  if (text.trim() === "") throw fail("the file is empty: expected a header line");
  const { fields } = parseFirstRecord(text);
  const names = fields.map((f, i) => (f === "" ? `column${i}` : f));
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw fail(`the header names the column "${name}" twice`);
    seen.add(name);
  }
  return names;
}

/** `read_csv` of one file with every column as text: nothing is guessed. */
export function csvTextRelation(file: string, header: readonly string[]): string {
  const columns = header.map((name) => `${str(name)}: 'VARCHAR'`).join(", ");
  return `read_csv(${str(file)}, auto_detect = false, header = true, ${DIALECT}, ` +
    `columns = {${columns}})`;
}

/**
 * `read_csv` of an entity file: the dialect fixed, `text` columns as text (Larder parses
 * them), the others typed by DuckDB for passing through (dates only when ISO 8601).
 */
export function csvSniffedRelation(
  file: string,
  text: readonly string[],
  options: { wholeFile?: boolean } = {},
): string {
  const types = text.length === 0
    ? ""
    : `, types = {${text.map((name) => `${str(name)}: 'VARCHAR'`).join(", ")}}`;
  return `read_csv(${str(file)}, header = true, ${DIALECT}, dateformat = '%Y-%m-%d'${types}` +
    `${options.wholeFile ? ", sample_size = -1" : ""})`;
}

const SQL_TYPE: Record<string, string> = {
  int32: "INTEGER",
  int64: "BIGINT",
  float32: "FLOAT",
  float64: "DOUBLE",
  string: "VARCHAR",
  bool: "BOOLEAN",
  bytes: "BLOB",
  timestamp: "TIMESTAMP",
};

/**
 * SQL: ISO 8601 text as a UTC TIMESTAMP, read exactly as `parseTimestamp()` reads it (the one
 * grammar, `TIMESTAMP_PATTERN`); NULL for anything else. The text that matches is then cast
 * through TIMESTAMPTZ (a cast straight to TIMESTAMP drops the offset), with `T` and `Z` upper
 * case and `:00` seconds added before an offset, which DuckDB's cast needs.
 */
function isoTimestamp(x: string): string {
  const upper = `upper(${x})`;
  const withSeconds = `CASE WHEN length(${x}) > 16 AND substr(${x}, 17, 1) <> ':' ` +
    `THEN substr(${upper}, 1, 16) || ':00' || substr(${upper}, 17) ELSE ${upper} END`;
  return `CASE WHEN regexp_full_match(${x}, ${str(TIMESTAMP_PATTERN)}) ` +
    `THEN CAST(TRY_CAST(${withSeconds} AS TIMESTAMPTZ) AS TIMESTAMP) END`;
}

/** SQL: text `x` parsed as `type`, NULL when it is NULL or does not fit. */
export function parsed(x: string, type: ValueType, options: CsvTimestampOptions): string {
  const { element, array } = elementType(type);
  if (array) {
    // Each item read by the scalar rules; a list whose item does not fit (NULL here, where
    // the text had a value) does not fit either.
    const items = `TRY_CAST(${x} AS VARCHAR[])`;
    const values = `list_transform(${items}, lambda __item: ${parsed("__item", element, options)})`;
    return `CASE WHEN list_aggregate(${values}, 'count') = list_aggregate(${items}, 'count') ` +
      `THEN ${values} END`;
  }
  switch (element) {
    case "int32":
    case "int64":
      return `CASE WHEN regexp_full_match(${x}, ${str(INTEGER)}) ` +
        `THEN TRY_CAST(${x} AS ${SQL_TYPE[element]}) END`;
    case "float32":
    case "float64": {
      // Out of range becomes ±inf in DuckDB; only a written infinity may be one.
      const value = `TRY_CAST(${x} AS ${SQL_TYPE[element]})`;
      return `CASE WHEN isinf(${value}) AND NOT regexp_matches(${x}, '(?i)inf') THEN NULL ` +
        `ELSE ${value} END`;
    }
    case "string":
      return x;
    case "bool":
      return `TRY_CAST(${x} AS BOOLEAN)`;
    case "bytes":
      return `try(from_base64(trim(${x})))`;
    case "timestamp":
      return options.timestampFormat === undefined
        ? isoTimestamp(x)
        : `coalesce(TRY_CAST(try_strptime(${x}, ${str(options.timestampFormat)}) AS TIMESTAMP), ${
          isoTimestamp(x)
        })`;
  }
}

/** SQL: whether the text of `column` fits. */
function fits(column: CsvColumn, options: CsvTimestampOptions): string {
  const x = ident(column.name);
  const ok = `${parsed(x, column.type, options)} IS NOT NULL`;
  return column.required ? ok : `(${x} IS NULL OR ${ok})`;
}

/**
 * SQL: the text of `column` as its type; a value that does not fit raises an error that
 * {@linkcode csvFailure} recognizes.
 */
export function csvValue(column: CsvColumn, options: CsvTimestampOptions): string {
  const x = ident(column.name);
  const fail = `error(${str(INVALID_MARKER)})`;
  return `coalesce(${parsed(x, column.type, options)}, ${
    column.required ? fail : `CASE WHEN ${x} IS NULL THEN NULL ELSE ${fail} END`
  })`;
}

function fullMessage(err: unknown): string {
  const cause = (err as { cause?: unknown })?.cause;
  const inner = cause instanceof Error ? cause.message : undefined;
  return inner ?? (err instanceof Error ? err.message : String(err));
}

/** What is wrong at one place of a CSV file. */
export interface CsvProblem {
  /** 1-based line in the file (the header is line 1). */
  readonly line: number;
  readonly column?: string;
  readonly value?: string | null;
  /** The message after the place. */
  readonly detail: string;
}

function typeLabel(type: ValueType, options: CsvTimestampOptions): string {
  if (type === "timestamp") {
    return options.timestampFormat === undefined
      ? "a valid ISO 8601 timestamp"
      : `a timestamp in the format "${options.timestampFormat}" or ISO 8601`;
  }
  if (type === "bytes") return "valid base64 (bytes)";
  return `a valid ${type}`;
}

/**
 * The problem behind a failed read of `file`: a structural one reported by DuckDB's reader
 * (wrong number of fields, an unclosed quote), or the first value of `columns` that does not
 * fit (found by reading the file again). `undefined` when it is neither.
 */
export async function csvFailure(
  session: DuckDBSession,
  err: unknown,
  read: { file: string; header: readonly string[]; columns: readonly CsvColumn[] },
  options: CsvTimestampOptions,
): Promise<CsvProblem | undefined> {
  const message = fullMessage(err);
  const structural = await structuralProblem(message, read.file);
  if (structural) return structural;
  if (!message.includes(INVALID_MARKER)) return undefined;
  return await firstInvalid(session, read, options);
}

/**
 * The structural problem DuckDB's `message` reports, at its line in `file`. DuckDB numbers
 * lines without the line breaks of quoted values: for a record with the wrong number of fields
 * or a quote never closed, the line is the file's own (`_csv_lines.ts`).
 */
async function structuralProblem(message: string, file: string): Promise<CsvProblem | undefined> {
  const at = /CSV Error on Line: (\d+)/.exec(message);
  if (!at) return undefined;
  const reported = Number(at[1]);
  const physical = async () => (await firstMalformedCsvRecord(file))?.line ?? reported;
  const fields = /Expected Number of Columns: (\d+) Found: (\d+)/.exec(message);
  if (fields) {
    return {
      line: await physical(),
      detail: `${fields[2]} fields where the header has ${fields[1]}`,
    };
  }
  if (/unterminated quote/i.test(message)) {
    return {
      line: await physical(),
      detail: "a quoted value is never closed (a missing closing '\"')",
    };
  }
  const conversion =
    /Error when converting column "(.*?)"\. Could not convert string "(.*?)" to '(.*?)'/
      .exec(message);
  if (conversion) {
    return {
      line: reported,
      column: conversion[1]!,
      value: conversion[2]!,
      detail: `column "${conversion[1]}": "${conversion[2]}" is not a valid ${conversion[3]}`,
    };
  }
  const detail = message.split("\n").map((l) => l.trim()).find((l) =>
    l !== "" && !/^(CSV Error on Line|Original Line|.*Error: CSV Error)/.test(l)
  );
  return { line: reported, detail: detail ?? "cannot be read" };
}

/**
 * A structural problem of `file` (wrong number of fields, an unclosed quote), found by reading
 * it as text; `undefined` when it reads cleanly. For a read of a file sniffed by DuckDB, whose
 * own error then describes a guess rather than the file.
 */
export async function csvStructureProblem(
  session: DuckDBSession,
  file: string,
  header: readonly string[],
): Promise<CsvProblem | undefined> {
  try {
    await session.exec(`SELECT count(*) FROM ${csvTextRelation(file, header)}`);
    return undefined;
  } catch (err) {
    return await structuralProblem(fullMessage(err), file);
  }
}

/** Reads `file` again as text and finds the first value of `columns` that does not fit. */
async function firstInvalid(
  session: DuckDBSession,
  read: { file: string; header: readonly string[]; columns: readonly CsvColumn[] },
  options: CsvTimestampOptions,
): Promise<CsvProblem | undefined> {
  const { columns } = read;
  // Records in file order (one thread, insertion order kept); their lines come from the file.
  const rows = await session.rows(
    `SELECT __record, ${
      columns.map((c, i) => `${fits(c, options)} AS __ok_${i}, ${ident(c.name)} AS __v_${i}`)
        .join(", ")
    } FROM (SELECT *, row_number() OVER () - 1 AS __record FROM ${
      csvTextRelation(read.file, read.header)
    }) WHERE NOT (${columns.map((c) => fits(c, options)).join(" AND ")}) ORDER BY __record LIMIT 1`,
  );
  const row = rows[0];
  if (!row) return undefined;
  const index = columns.findIndex((_, i) => row[`__ok_${i}`] !== true);
  const column = columns[index]!;
  const value = row[`__v_${index}`] as string | null;
  const record = Number(row.__record);
  const line = await csvRecordLine(read.file, record);
  if (line === undefined) return undefined;
  return {
    line,
    column: column.name,
    value,
    detail: value === null
      ? `column "${column.name}" is empty`
      : `column "${column.name}": ${JSON.stringify(value)} is not ${
        typeLabel(column.type, options)
      }`,
  };
}

/**
 * Whether a read failed because a later row contradicts the type DuckDB guessed from the
 * first rows (an entity file's pass-through column): read again with the whole file sampled.
 */
export function isSampledTypeError(err: unknown): boolean {
  return /This type was auto-detected from the CSV file/.test(fullMessage(err));
}

/** The error for a CSV read that failed with a known problem at `problem.line`. */
export function csvError(
  code: "SOURCE_INVALID" | "INPUT_INVALID",
  prefix: string,
  problem: CsvProblem,
  options: { cause: unknown; details: Record<string, unknown> },
): LarderError {
  return new LarderError(code, `${prefix}, line ${problem.line}: ${problem.detail}`, {
    cause: options.cause,
    details: {
      ...options.details,
      line: problem.line,
      ...(problem.column !== undefined ? { column: problem.column } : {}),
      ...(problem.value !== undefined ? { value: problem.value } : {}),
    },
  });
}
