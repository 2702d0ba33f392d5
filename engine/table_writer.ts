/**
 * `writeTable`: writes typed columns to a Parquet or CSV file (atomically), for data
 * generators, tests and push-to-offline. Arrow and Parquet code load only when called.
 */
import type { RecordBatch } from "apache-arrow";
import {
  atomicWriteFile,
  elementType,
  LarderError,
  ownValue,
  type ScalarType,
  type ValueType,
} from "../registry/mod.ts";
import { csvLine, csvList } from "./_csv_cells.ts";
import {
  coerceValue,
  INVALID,
  invalidReason,
  timestampMicros,
  toBase64,
} from "./online/value_codec.ts";
import { loadArrowColumns, loadOffline } from "./lazy.ts";
import { isoMicros, parseTimestampMicros } from "./timestamps.ts";

/** Columns of one table: name -> values (one per row; `null` for missing). */
export type Columns = Record<string, readonly unknown[]>;

/**
 * Throws `INPUT_INVALID` unless `columns` has values for every column of `schema`, all of one
 * length; returns that length.
 */
export function checkColumns(columns: Columns, schema: Record<string, ValueType>): number {
  const names = Object.keys(schema);
  const lengths = new Set(names.map((n) => ownValue(columns, n)?.length ?? -1));
  if (lengths.has(-1) || lengths.size > 1) {
    const missing = names.filter((n) => ownValue(columns, n) === undefined);
    throw new LarderError(
      "INPUT_INVALID",
      missing.length > 0
        ? `Cannot write the table: no values for ${missing.map((n) => `"${n}"`).join(", ")}`
        : `Cannot write the table: columns have different lengths (${
          names.map((n) => `${n}: ${columns[n]!.length}`).join(", ")
        })`,
    );
  }
  const [length = 0] = lengths;
  return length;
}

function shown(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  }
  if (typeof value === "bigint") return `${value}n`;
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return "an invalid Date";
  return typeof value === "object" ? "an object" : String(value);
}

/** `INPUT_INVALID` for a value of column `name` that its type cannot hold. */
export function invalidValue(
  name: string,
  type: ValueType,
  value: unknown,
  row: number,
  reason = invalidReason(value, type),
): LarderError {
  return new LarderError(
    "INPUT_INVALID",
    `Column "${name}" row ${row}: expected ${type}, got ${shown(value)}${
      reason ? `: ${reason}` : ""
    }`,
    { details: { column: name, row, type } },
  );
}

/** The times ISO 8601 text with a four-digit year can name, which is what CSV files hold. */
const CSV_TIMES = {
  min: parseTimestampMicros("0000-01-01T00:00:00Z")!,
  max: parseTimestampMicros("9999-12-31T23:59:59.999999Z")!,
};

/** A timestamp as CSV text; throws for a value that is none, or has no four-digit year. */
function timestampText(value: unknown, fail: (reason?: string) => Error): string {
  const micros = timestampMicros(value);
  if (micros === null || Number.isNaN(micros)) throw fail();
  if (micros < CSV_TIMES.min || micros > CSV_TIMES.max) {
    throw fail("a CSV file holds timestamps as ISO 8601 text, with years 0000 to 9999");
  }
  return isoMicros(micros);
}

/** A typed scalar (from `coerceValue`) as list-item or field content. */
function scalarText(typed: unknown, type: ScalarType): string | number | bigint | boolean {
  if (type === "bytes") return toBase64(typed as Uint8Array);
  return typed as string | number | bigint | boolean;
}

/**
 * A value of `type` as the CSV text Larder's reader reads back as that value (`null` for no
 * value); throws `fail` for one that does not fit.
 */
function csvText(value: unknown, type: ValueType, fail: (reason?: string) => Error): string | null {
  if (value === null || value === undefined) return null;
  const { element, array } = elementType(type);
  if (!array && element === "timestamp") return timestampText(value, fail);
  const typed = coerceValue(value, type);
  if (typed === INVALID) throw fail();
  if (!array) return String(scalarText(typed, element));
  // Timestamps from the given items: a Date holds milliseconds, ISO text may hold microseconds.
  const given = element === "timestamp" ? [...(value as Iterable<unknown>)] : [];
  return csvList(
    (typed as unknown[]).map((item, i) =>
      item === null
        ? null
        : element === "timestamp"
        ? timestampText(given[i], fail)
        : scalarText(item, element)
    ),
  );
}

/**
 * Writes `columns` to `path` as Parquet (`.parquet`) or CSV (`.csv`); either the whole
 * file appears or nothing does.
 *
 * @example
 * ```ts
 * import { writeTable } from "larder";
 * await writeTable("/tmp/x.parquet", { id: [1, 2] }, { id: "int64" });
 * ```
 */
export async function writeTable(
  path: string,
  columns: Columns,
  schema: Record<string, ValueType>,
): Promise<void> {
  if (/\.csv$/i.test(path)) {
    const names = Object.keys(schema);
    const rows = checkColumns(columns, schema);
    const cells = names.map((name) => {
      const type = schema[name]!;
      return columns[name]!.map((value, row) =>
        csvText(value, type, (reason) => invalidValue(name, type, value, row, reason))
      );
    });
    const lines = [csvLine(names)];
    for (let i = 0; i < rows; i++) lines.push(csvLine(cells.map((column) => column[i] ?? null)));
    await atomicWriteFile(path, lines.join("\n") + "\n");
    return;
  }
  if (!/\.parquet$/i.test(path)) {
    throw new LarderError(
      "INPUT_INVALID",
      `Cannot write "${path}": expected a .parquet or .csv file name`,
    );
  }
  const { columnsToIpc } = await loadArrowColumns("Writing a table");
  const ipc = columnsToIpc(columns, schema);
  const { writeParquetFile } = await loadOffline("Writing a Parquet file");
  await writeParquetFile(path, ipc);
}

/**
 * Streams Arrow record batches into a `.parquet`, `.csv` or `.json` file through a temporary
 * file renamed at the end: no partial file is left on failure.
 */
export async function writeBatches(
  path: string,
  batches: AsyncIterable<RecordBatch>,
): Promise<{ rows: number }> {
  const offline = await loadOffline("Writing a file");
  return await offline.writeBatches(path, batches);
}
