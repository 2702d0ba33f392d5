/**
 * A worker that decodes Parquet files for `readParquetFilesIPC` (parquet.ts) while the calling
 * thread inserts earlier batches into DuckDB. Protocol: one `start` message with the files,
 * then `credit` messages (one per batch the caller took); it answers `batch`, then `end` or
 * `error`.
 */
import { type DecodeOptions, decodeParquet } from "./_parquet_decode.ts";

/** The caller's messages. */
export type ToWorker =
  | {
    readonly kind: "start";
    readonly files: readonly { readonly path: string; readonly whole: boolean }[];
    readonly columns?: readonly string[] | undefined;
    readonly batchRows: number;
    /** Batches the worker may send ahead of the caller. */
    readonly window: number;
  }
  | { readonly kind: "credit" };

/** The worker's messages. */
export type FromWorker =
  | { readonly kind: "batch"; readonly path: string; readonly ipc: Uint8Array }
  | { readonly kind: "end" }
  | { readonly kind: "error"; readonly path: string; readonly message: string; notFound: boolean };

const scope = globalThis as unknown as {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
};

let credits = 0;
let wake: (() => void) | undefined;

async function run(job: Extract<ToWorker, { kind: "start" }>): Promise<void> {
  credits = job.window;
  for (const file of job.files) {
    try {
      const bytes = await Deno.readFile(file.path);
      const options: DecodeOptions = {
        whole: file.whole,
        columns: job.columns,
        batchRows: job.batchRows,
      };
      for await (const ipc of decodeParquet(bytes, options)) {
        while (credits <= 0) await new Promise<void>((resolve) => (wake = resolve));
        credits--;
        const whole = ipc.byteOffset === 0 && ipc.byteLength === ipc.buffer.byteLength;
        scope.postMessage(
          { kind: "batch", path: file.path, ipc },
          whole ? [ipc.buffer as ArrayBuffer] : [],
        );
      }
    } catch (err) {
      scope.postMessage({
        kind: "error",
        path: file.path,
        message: err instanceof Error ? err.message : String(err),
        notFound: err instanceof Deno.errors.NotFound,
      });
      return;
    }
  }
  scope.postMessage({ kind: "end" });
}

scope.onmessage = (event) => {
  const message = event.data;
  if (message.kind === "credit") {
    credits++;
    wake?.();
    wake = undefined;
  } else {
    void run(message);
  }
};
