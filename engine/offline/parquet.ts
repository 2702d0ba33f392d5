/**
 * Parquet files through `parquet-wasm` (DuckDB-WASM has no Parquet reader offline): the only
 * module that imports it. Data is exchanged as Arrow IPC stream bytes.
 */
import * as pq from "parquet-wasm";
import { type RecordBatch, Schema, Table, tableFromIPC, tableToIPC } from "apache-arrow";
import {
  atomicWriteFile,
  fileSystemFailure,
  isLarderError,
  LarderError,
} from "../../registry/mod.ts";
import { DecodeError, decodeParquet, WHOLE_FILE_BYTES } from "./_parquet_decode.ts";
import type { FromWorker, ToWorker } from "./_parquet_worker.ts";
import { RangeBlob, remoteParquet } from "./_remote_parquet.ts";
import { defaultObjectStore, isObjectUrl, redactUrl } from "../object_store/mod.ts";

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
  /** Read only these row groups (by index). Default: all. */
  readonly rowGroups?: readonly number[];
}

function unreadable(path: string, err: unknown): LarderError {
  if (isLarderError(err) && err.code !== "INTERNAL") return err;
  // A URL's query string may hold a signature.
  if (isObjectUrl(path)) path = redactUrl(path);
  const refused = fileSystemFailure(err, { path, action: "read Parquet file" });
  if (refused) return refused;
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
  if (isObjectUrl(path)) {
    try {
      return footerSchema((await remoteParquet(path)).footer);
    } catch (err) {
      throw unreadable(path, err);
    }
  }
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path, { read: true });
    const size = (await file.stat()).size;
    if (size < 12) throw new Error("file is too small to be Parquet");
    const tail = await readAt(file, size - 8, 8);
    if (!sameBytes(tail.subarray(4), MAGIC)) throw new Error("not a Parquet file (no PAR1 footer)");
    const footerLength = new DataView(tail.buffer, tail.byteOffset, 4).getUint32(0, true);
    if (footerLength + 12 > size) throw new Error("corrupt footer length");
    return footerSchema(await readAt(file, size - 8 - footerLength, footerLength + 8));
  } catch (err) {
    throw unreadable(path, err);
  } finally {
    file?.close();
  }
}

/**
 * The Arrow schema in a Parquet footer (the footer, its 4-byte length and the closing magic).
 * A file made of the footer alone is enough for parquet-wasm, which copies what it is given
 * into WebAssembly memory: the footer, not the whole file.
 */
function footerSchema(footer: Uint8Array): Schema {
  const fake = new Uint8Array(footer.length + 4);
  fake.set(MAGIC, 0);
  fake.set(footer, 4);
  return tableFromIPC(pq.readSchema(fake).intoIPCStream()).schema;
}

/** Top-level column names of a Parquet file in memory (empty if the footer is unreadable). */
function fileColumns(bytes: Uint8Array): string[] {
  try {
    if (bytes.length < 12) return [];
    const footerLength = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 8, 4)
      .getUint32(0, true);
    if (footerLength + 12 > bytes.length) return [];
    return footerSchema(bytes.subarray(bytes.length - 8 - footerLength)).fields.map((f) => f.name);
  } catch {
    return [];
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

function decodeFailure(path: string, err: unknown): LarderError {
  return unreadable(path, err instanceof DecodeError && err.cause ? err.cause : err);
}

/**
 * Streams a Parquet file as Arrow IPC stream buffers, ready for `DuckDBSession.insertIPC`: a
 * small file (≤ 32 MiB) whose every column is wanted as one buffer, else one batch of rows at
 * a time. The compressed file is held in memory.
 */
export async function* readParquetIPC(
  path: string,
  options: ParquetReadOptions = {},
): AsyncGenerator<Uint8Array> {
  yield* decodeFile(path, undefined, options);
}

/**
 * Decodes one file in this thread: `whole` as the caller worked it out, or `undefined` to work
 * it out here from the file's size and footer.
 */
async function* decodeFile(
  path: string,
  whole: boolean | undefined,
  options: ParquetReadOptions,
): AsyncGenerator<Uint8Array> {
  if (isObjectUrl(path)) {
    yield* decodeRemote(path, options);
    return;
  }
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    throw unreadable(path, err);
  }
  const wanted = options.columns;
  whole ??= bytes.length <= WHOLE_FILE_BYTES &&
    (wanted === undefined || fileColumns(bytes).every((c) => wanted.includes(c)));
  try {
    yield* decodeParquet(bytes, {
      whole,
      columns: options.columns,
      batchRows: options.batchRows ?? 131072,
    });
  } catch (err) {
    if (err instanceof DecodeError) throw decodeFailure(path, err);
    throw err;
  }
}

/**
 * Decodes a Parquet file in object storage, one row group at a time: the row group's column
 * chunks of `options.columns` are fetched first (concurrently, by explicit ranges; a failure
 * rejects here), then decoded from memory while the next row group's are fetched. Only
 * `options.rowGroups` are read.
 */
async function* decodeRemote(
  url: string,
  options: ParquetReadOptions,
): AsyncGenerator<Uint8Array> {
  if (options.rowGroups?.length === 0) return;
  const store = defaultObjectStore();
  let file: pq.ParquetFile;
  let remote;
  let blob: RangeBlob;
  try {
    remote = await remoteParquet(url, store);
    blob = new RangeBlob(remote, store);
    // The page indexes (when written) are read with the metadata.
    const indexes = remote.rowGroups.flatMap((g) => g.pageIndex ? [g.pageIndex] : []);
    if (indexes.length > 0) {
      await blob.prefetch([[
        Math.min(...indexes.map((r) => r[0])),
        Math.max(...indexes.map((r) => r[1])),
      ]]);
    }
    file = await pq.ParquetFile.fromFile(blob as unknown as Blob);
  } catch (err) {
    throw unreadable(url, err);
  }
  const check = () => {
    if (blob.failure !== undefined) throw unreadable(url, blob.failure);
  };
  try {
    const groups = options.rowGroups ?? remote.rowGroups.map((_, i) => i);
    const wanted = options.columns;
    const fetchGroup = (group: number) => {
      const chunks = remote.rowGroups[group]?.chunks;
      const fetched = blob.fetch(
        chunks
          ? [...chunks].filter(([name]) => wanted === undefined || wanted.includes(name))
            .map(([, range]) => range)
          : [],
      );
      // Awaited (and its error thrown) in turn; until then it must not count as unhandled.
      fetched.catch(() => {});
      return fetched;
    };
    // The next row group's chunks are fetched while this one decodes.
    let next = groups.length > 0 ? fetchGroup(groups[0]!) : undefined;
    for (const [i, group] of groups.entries()) {
      try {
        blob.use(await next!);
      } catch (err) {
        throw unreadable(url, err);
      }
      next = i + 1 < groups.length ? fetchGroup(groups[i + 1]!) : undefined;
      const readOptions: pq.ReaderOptions = {
        batchSize: options.batchRows ?? 131072,
        rowGroups: [group],
      };
      if (wanted) readOptions.columns = [...wanted];
      let reader: ReadableStreamDefaultReader<pq.RecordBatch>;
      try {
        reader = (await file.stream(readOptions)).getReader();
      } catch (err) {
        check();
        throw unreadable(url, err);
      }
      for (;;) {
        let batch: ReadableStreamReadResult<pq.RecordBatch>;
        try {
          batch = await reader.read();
        } catch (err) {
          check();
          throw unreadable(url, err);
        }
        check();
        if (batch.done) break;
        yield batch.value.intoIPCStream();
      }
    }
  } finally {
    file.free();
  }
}

/** Decodes `jobs` one after the other in this thread. */
async function* decodeInThread(
  jobs: readonly { path: string; whole: boolean; rowGroups?: readonly number[] | undefined }[],
  options: ParquetReadOptions,
): AsyncGenerator<{ path: string; ipc: Uint8Array }> {
  for (const job of jobs) {
    const read = job.rowGroups ? { ...options, rowGroups: job.rowGroups } : options;
    for await (const ipc of decodeFile(job.path, job.whole, read)) yield { path: job.path, ipc };
  }
}

/** One file for {@linkcode readParquetFilesIPC}. */
export interface ParquetFileToRead {
  readonly path: string;
  /** Every column of the file (from its footer), to know whether `columns` drops any. */
  readonly fileColumns: readonly string[];
  /** Only these row groups (files in object storage). Default: all. */
  readonly rowGroups?: readonly number[] | undefined;
}

/**
 * `workerMinBytes`: below this many bytes of files in all, decoding in a worker does not pay
 * for starting it. A knob so that tests can take the worker path on small files.
 */
export const parquetTuning: { workerMinBytes: number } = { workerMinBytes: 64 * 1024 * 1024 };

/**
 * Streams several Parquet files as Arrow IPC stream buffers, in order. With enough data and a
 * spare core, the files are decoded in a worker (`_parquet_worker.ts`) a couple of buffers ahead
 * of the caller, so decoding overlaps whatever the caller does with each buffer (inserting it
 * into DuckDB); otherwise in the calling thread, like {@linkcode readParquetIPC}.
 */
export async function* readParquetFilesIPC(
  files: readonly ParquetFileToRead[],
  options: ParquetReadOptions = {},
): AsyncGenerator<{ path: string; ipc: Uint8Array }> {
  const wanted = options.columns;
  const sizes = await Promise.all(
    files.map((f) =>
      isObjectUrl(f.path) ? Promise.resolve(0) : Deno.stat(f.path).then((s) => s.size, () => 0)
    ),
  );
  const jobs = files.map((f, i) => ({
    path: f.path,
    whole: sizes[i]! <= WHOLE_FILE_BYTES &&
      (wanted === undefined || f.fileColumns.every((c) => wanted.includes(c))),
    rowGroups: f.rowGroups,
  }));
  const total = sizes.reduce((a, b) => a + b, 0);
  const batchRows = options.batchRows ?? 131072;
  const remote = files.some((f) => isObjectUrl(f.path));
  // Remote files are fetched range by range in this thread (the worker has no client).
  if (remote || total < parquetTuning.workerMinBytes || navigator.hardwareConcurrency < 2) {
    yield* decodeInThread(jobs, options);
    return;
  }
  let worker: Worker;
  try {
    worker = new Worker(new URL("./_parquet_worker.ts", import.meta.url), { type: "module" });
  } catch {
    // No workers here (a restricted runtime): decode in this thread.
    yield* decodeInThread(jobs, options);
    return;
  }
  const inbox: FromWorker[] = [];
  let notify: (() => void) | undefined;
  worker.onmessage = (event: MessageEvent<FromWorker>) => {
    inbox.push(event.data);
    notify?.();
    notify = undefined;
  };
  worker.onerror = (event) => {
    event.preventDefault();
    inbox.push({ kind: "error", path: "", message: event.message, notFound: false });
    notify?.();
    notify = undefined;
  };
  try {
    const start: ToWorker = {
      kind: "start",
      files: jobs,
      columns: wanted,
      batchRows,
      window: 2,
    };
    worker.postMessage(start);
    for (;;) {
      while (inbox.length === 0) await new Promise<void>((resolve) => (notify = resolve));
      const message = inbox.shift()!;
      if (message.kind === "end") return;
      if (message.kind === "error") {
        throw message.notFound
          ? new LarderError("SOURCE_INVALID", `Cannot find Parquet file "${message.path}"`)
          : new LarderError(
            "SOURCE_INVALID",
            `Cannot read Parquet file "${message.path}": ${message.message}`,
            { details: { path: message.path } },
          );
      }
      worker.postMessage({ kind: "credit" } satisfies ToWorker);
      yield { path: message.path, ipc: message.ipc };
    }
  } finally {
    worker.terminate();
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

/** Options for writing Parquet. */
export interface ParquetWriteOptions {
  /**
   * Most rows per row group: smaller groups let readers in object storage skip more.
   * @default {1048576}
   */
  readonly rowGroupRows?: number;
}

function writerProperties(options: ParquetWriteOptions = {}): pq.WriterProperties {
  return new pq.WriterPropertiesBuilder()
    .setCompression(pq.Compression.SNAPPY)
    .setMaxRowGroupSize(options.rowGroupRows ?? 1_048_576)
    .build();
}

/** Encodes Arrow data (a table or IPC stream bytes) as Parquet bytes. */
export function encodeParquet(
  data: Table | Uint8Array,
  options: ParquetWriteOptions = {},
): Uint8Array {
  const ipc = data instanceof Uint8Array ? data : tableToIPC(data, "stream");
  // writeParquet consumes the WASM table.
  return pq.writeParquet(pq.Table.fromIPCStream(ipc), writerProperties(options));
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
