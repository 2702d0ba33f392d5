/**
 * `writeTable`: writes typed columns to a Parquet or CSV file (atomically), for data
 * generators, tests and push-to-offline. Arrow and Parquet code load only when called.
 */
import type { RecordBatch } from "apache-arrow";
import { atomicWriteFile, elementType, LarderError, type ValueType } from "../registry/mod.ts";
import { timestampMicros, toBase64 } from "./online/value_codec.ts";

/** Columns of one table: name -> values (one per row; `null` for missing). */
export type Columns = Record<string, readonly unknown[]>;

/** `2024-01-01T00:00:00.000001Z`: ISO 8601, with microseconds when there are any. */
function isoMicros(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const iso = new Date(ms).toISOString();
  const sub = Math.round(micros - ms * 1000);
  return sub === 0 ? iso : `${iso.slice(0, -1)}${String(sub).padStart(3, "0")}Z`;
}

function csvCell(value: unknown, type: ValueType): string {
  if (value === null || value === undefined) return "";
  let text: string;
  if (elementType(type).element === "timestamp" && !elementType(type).array) {
    text = isoMicros(timestampMicros(value) ?? NaN);
  } else if (value instanceof Uint8Array) text = toBase64(value);
  else if (Array.isArray(value)) text = JSON.stringify(value);
  else text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
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
    const rows = columns[names[0]!]?.length ?? 0;
    const { columnsToIpc } = await import("./_arrow_columns.ts");
    columnsToIpc(columns, schema); // validates names and lengths
    const lines = [names.join(",")];
    for (let i = 0; i < rows; i++) {
      lines.push(names.map((n) => csvCell(columns[n]![i], schema[n]!)).join(","));
    }
    await atomicWriteFile(path, lines.join("\n") + "\n");
    return;
  }
  if (!/\.parquet$/i.test(path)) {
    throw new LarderError(
      "INPUT_INVALID",
      `Cannot write "${path}": expected a .parquet or .csv file name`,
    );
  }
  const { columnsToIpc } = await import("./_arrow_columns.ts");
  const ipc = columnsToIpc(columns, schema);
  const { writeParquetFile } = await import("./offline/mod.ts");
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
  const offline = await import("./offline/mod.ts");
  return await offline.writeBatches(path, batches);
}
