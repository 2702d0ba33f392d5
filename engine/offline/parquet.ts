/**
 * Parquet files through `parquet-wasm` (DuckDB-WASM has no Parquet reader offline): the only
 * module that imports it. Data is exchanged as Arrow IPC stream bytes.
 */
import * as pq from "parquet-wasm";
import { type RecordBatch, Schema, Table, tableFromIPC, tableToIPC } from "apache-arrow";
import { atomicWriteFile, LarderError } from "../../registry/mod.ts";

const MAGIC = new TextEncoder().encode("PAR1");

/** Options for reading a Parquet file. */
export interface ParquetReadOptions {
  /** Read only these columns (file column names). Default: all. */
  readonly columns?: readonly string[];
  /**
   * Rows per batch when streaming.
   * @default {131072}
   */
  readonly batchRows?: number;
}

function unreadable(path: string, err: unknown): LarderError {
  if (err instanceof Deno.errors.NotFound) {
    return new LarderError("SOURCE_INVALID", `Cannot find Parquet file "${path}"`, { cause: err });
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new LarderError("SOURCE_INVALID", `Cannot read Parquet file "${path}": ${detail}`, {
    cause: err,
    details: { path },
  });
}

/** Reads only the footer of a Parquet file and returns its Arrow schema. */
export async function readParquetSchema(path: string): Promise<Schema> {
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path, { read: true });
    const size = (await file.stat()).size;
    if (size < 12) throw new Error("file is too small to be Parquet");
    const tail = await readAt(file, size - 8, 8);
    if (!sameBytes(tail.subarray(4), MAGIC)) throw new Error("not a Parquet file (no PAR1 footer)");
    const footerLength = new DataView(tail.buffer, tail.byteOffset, 4).getUint32(0, true);
    if (footerLength + 12 > size) throw new Error("corrupt footer length");
    // A file made of the footer alone is enough for the schema.
    const fake = new Uint8Array(footerLength + 12);
    fake.set(MAGIC, 0);
    fake.set(await readAt(file, size - 8 - footerLength, footerLength + 8), 4);
    return tableFromIPC(pq.readSchema(fake).intoIPCStream()).schema;
  } catch (err) {
    throw unreadable(path, err);
  } finally {
    file?.close();
  }
}

async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  await file.seek(offset, Deno.SeekMode.Start);
  const buf = new Uint8Array(length);
  let read = 0;
  while (read < length) {
    const n = await file.read(buf.subarray(read));
    if (n === null) throw new Error("unexpected end of file");
    read += n;
  }
  return buf;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Streams a Parquet file as Arrow IPC stream buffers, one per batch of rows, ready for
 * `DuckDBSession.insertIPC`. The compressed file is held in memory; decoded rows only one
 * batch at a time.
 */
export async function* readParquetIPC(
  path: string,
  options: ParquetReadOptions = {},
): AsyncGenerator<Uint8Array> {
  let file: pq.ParquetFile;
  try {
    file = await pq.ParquetFile.fromFile(new Blob([await Deno.readFile(path)]));
  } catch (err) {
    throw unreadable(path, err);
  }
  try {
    const readOptions: pq.ReaderOptions = { batchSize: options.batchRows ?? 131072 };
    if (options.columns) readOptions.columns = [...options.columns];
    let stream: ReadableStream<pq.RecordBatch>;
    try {
      stream = await file.stream(readOptions);
    } catch (err) {
      throw unreadable(path, err);
    }
    for await (const batch of stream) yield batch.intoIPCStream();
  } finally {
    file.free();
  }
}

/** Reads a whole Parquet file into an Arrow table. */
export async function readParquetFile(
  path: string,
  options: ParquetReadOptions = {},
): Promise<Table> {
  const batches: RecordBatch[] = [];
  let schema: Schema | undefined;
  for await (const ipc of readParquetIPC(path, options)) {
    const table = tableFromIPC(ipc);
    schema ??= table.schema;
    batches.push(...table.batches);
  }
  if (schema === undefined) {
    // No batches (an empty file): still return the right columns.
    const full = await readParquetSchema(path);
    const wanted = options.columns;
    const fields = wanted ? full.fields.filter((f) => wanted.includes(f.name)) : full.fields;
    return new Table(new Schema(fields, full.metadata));
  }
  return new Table(schema, batches);
}

function writerProperties(): pq.WriterProperties {
  return new pq.WriterPropertiesBuilder()
    .setCompression(pq.Compression.SNAPPY)
    .setMaxRowGroupSize(1_048_576)
    .build();
}

/** Encodes Arrow data (a table or IPC stream bytes) as Parquet bytes. */
export function encodeParquet(data: Table | Uint8Array): Uint8Array {
  const ipc = data instanceof Uint8Array ? data : tableToIPC(data, "stream");
  // writeParquet consumes the WASM table.
  return pq.writeParquet(pq.Table.fromIPCStream(ipc), writerProperties());
}

/**
 * Encodes a stream of Arrow batches (as IPC stream bytes, one schema) as Parquet, yielding
 * the file's bytes piece by piece: memory holds one batch, not the whole table.
 */
export async function* encodeParquetStream(
  batches: AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const iterator = batches[Symbol.asyncIterator]();
  const input = new ReadableStream<pq.RecordBatch>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done) {
        controller.close();
        return;
      }
      const table = pq.Table.fromIPCStream(next.value);
      for (const batch of table.recordBatches()) controller.enqueue(batch);
    },
    async cancel() {
      await iterator.return?.();
    },
  });
  const output = await pq.transformParquetStream(input, writerProperties());
  for await (const chunk of output as ReadableStream<Uint8Array>) yield chunk;
}

/** Writes Arrow data to a Parquet file atomically (a temporary file, then a rename). */
export async function writeParquetFile(path: string, data: Table | Uint8Array): Promise<void> {
  let bytes: Uint8Array;
  try {
    bytes = encodeParquet(data);
  } catch (err) {
    throw new LarderError("INTERNAL", `Cannot encode Parquet for "${path}": ${String(err)}`, {
      cause: err,
    });
  }
  await atomicWriteFile(path, bytes);
}
