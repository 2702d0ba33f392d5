/** Writing a stream of Arrow batches to a .parquet, .csv or .json file, atomically. */
import { extname } from "node:path";
import { type RecordBatch, Table, tableToIPC } from "apache-arrow";
import { atomicWriteFile, LarderError } from "../../registry/mod.ts";
import { encodeParquet, encodeParquetStream } from "./parquet.ts";
import { csvLine, csvList } from "../_csv_cells.ts";
import { batchRows } from "./_values.ts";

/** Output formats, chosen by file extension. */
export type OutputFormat = "parquet" | "csv" | "json";

/** The format for a path, or `INPUT_INVALID`. */
export function outputFormat(path: string): OutputFormat {
  const ext = extname(path).toLowerCase();
  if (ext === ".parquet") return "parquet";
  if (ext === ".csv") return "csv";
  if (ext === ".json") return "json";
  throw new LarderError(
    "INPUT_INVALID",
    `Cannot write "${path}": the extension must be .parquet, .csv or .json`,
    { details: { path } },
  );
}

type ListItem = string | number | bigint | boolean | null;

function isListItem(item: unknown): item is ListItem {
  return item === null || ["string", "number", "bigint", "boolean"].includes(typeof item);
}

/** A value of a JSON-style row as CSV field text: lists as Larder's CSV reader reads them. */
function cellText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.every(isListItem)) return csvList(value);
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

async function* encodeText(
  batches: AsyncIterable<RecordBatch>,
  format: "csv" | "json",
  counter: { rows: number },
): AsyncGenerator<Uint8Array> {
  const encoder = new TextEncoder();
  let first = true;
  let header = false;
  for await (const batch of batches) {
    if (format === "csv" && !header) {
      header = true;
      yield encoder.encode(`${csvLine(batch.schema.fields.map((f) => f.name))}\n`);
    }
    const rows = batchRows(batch, "json");
    counter.rows += rows.length;
    let text = "";
    for (const row of rows) {
      if (format === "csv") text += `${csvLine(Object.values(row).map(cellText))}\n`;
      else {
        text += `${first ? "[\n" : ",\n"}${JSON.stringify(row)}`;
        first = false;
      }
    }
    if (text) yield encoder.encode(text);
  }
  if (format === "json") yield encoder.encode(first ? "[]\n" : "\n]\n");
}

async function* encodeParquetBatches(
  batches: AsyncIterable<RecordBatch>,
  counter: { rows: number },
): AsyncGenerator<Uint8Array> {
  // Peek: an empty result still needs a file with the schema.
  const iterator = batches[Symbol.asyncIterator]();
  const head: RecordBatch[] = [];
  let next = await iterator.next();
  while (!next.done && next.value.numRows === 0) {
    head.push(next.value);
    next = await iterator.next();
  }
  if (next.done) {
    const schema = head[0]?.schema;
    if (!schema) throw new LarderError("INTERNAL", "The result has no schema");
    yield encodeParquet(new Table(schema));
    return;
  }
  const firstBatch = next.value;
  async function* ipc(): AsyncGenerator<Uint8Array> {
    counter.rows += firstBatch.numRows;
    yield tableToIPC(new Table(firstBatch), "stream");
    for (;;) {
      const item = await iterator.next();
      if (item.done) return;
      if (item.value.numRows === 0) continue;
      counter.rows += item.value.numRows;
      yield tableToIPC(new Table(item.value), "stream");
    }
  }
  yield* encodeParquetStream(ipc());
}

/**
 * Streams `batches` into `path` through a temporary file beside it, renamed at the end;
 * on failure the temporary file is removed and `path` is untouched.
 */
export async function writeBatches(
  path: string,
  batches: AsyncIterable<RecordBatch>,
): Promise<{ rows: number }> {
  const format = outputFormat(path);
  const counter = { rows: 0 };
  await atomicWriteFile(
    path,
    format === "parquet"
      ? encodeParquetBatches(batches, counter)
      : encodeText(batches, format, counter),
  );
  return counter;
}
