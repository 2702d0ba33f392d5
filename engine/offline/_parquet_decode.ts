/**
 * Decoding one Parquet file into Arrow IPC stream buffers with parquet-wasm: shared by
 * `parquet.ts` (in the calling thread) and `_parquet_worker.ts` (in a worker). Imports nothing
 * but parquet-wasm, so the worker starts fast.
 */
import * as pq from "parquet-wasm";

/** How to decode one file. */
export interface DecodeOptions {
  /**
   * Decode the whole file in one synchronous call and return one IPC buffer: about 30% faster
   * than streaming, for a small file whose every column is wanted (the synchronous reader of
   * parquet-wasm 0.8 ignores `columns`).
   */
  readonly whole: boolean;
  readonly columns?: readonly string[] | undefined;
  readonly batchRows: number;
}

/** Files up to this size (compressed) may be decoded whole. */
export const WHOLE_FILE_BYTES = 32 * 1024 * 1024;

/** A decoding failure, with the stage it happened at (for the caller's message). */
export class DecodeError extends Error {}

/** Yields the file's rows as IPC stream buffers (one, or one per batch). */
export async function* decodeParquet(
  bytes: Uint8Array<ArrayBuffer>,
  options: DecodeOptions,
): AsyncGenerator<Uint8Array> {
  const readOptions: pq.ReaderOptions = { batchSize: options.batchRows };
  if (options.columns) readOptions.columns = [...options.columns];
  if (options.whole) {
    let ipc: Uint8Array;
    try {
      // intoIPCStream consumes (frees) the WASM table.
      ipc = pq.readParquet(bytes, readOptions).intoIPCStream();
    } catch (err) {
      throw new DecodeError(err instanceof Error ? err.message : String(err), { cause: err });
    }
    yield ipc;
    return;
  }
  let file: pq.ParquetFile;
  let stream: ReadableStream<pq.RecordBatch>;
  try {
    file = await pq.ParquetFile.fromFile(new Blob([bytes]));
  } catch (err) {
    throw new DecodeError(err instanceof Error ? err.message : String(err), { cause: err });
  }
  try {
    try {
      stream = await file.stream(readOptions);
    } catch (err) {
      throw new DecodeError(err instanceof Error ? err.message : String(err), { cause: err });
    }
    for await (const batch of stream) yield batch.intoIPCStream();
  } finally {
    file.free();
  }
}
