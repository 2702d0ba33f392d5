/**
 * `PartWriter`: writes the offline parts of the stream processor in a worker thread, so that
 * encoding Parquet (Arrow, then parquet-wasm) never stalls reading and online writes. Same
 * contract as `writeTable`: atomic, and the same `LarderError`s.
 */
import { LarderError, type LarderErrorCode, type ValueType } from "../../registry/mod.ts";

/** One table to write. */
export interface PartJob {
  readonly id: number;
  readonly file: string;
  readonly columns: Record<string, readonly unknown[]>;
  readonly types: Record<string, ValueType>;
}

/** The worker's answer. */
export type PartReply =
  | { readonly id: number; readonly ok: true }
  | {
    readonly id: number;
    readonly ok: false;
    readonly error: {
      readonly code?: LarderErrorCode;
      readonly message: string;
      readonly details?: Record<string, unknown> | undefined;
      readonly name?: string;
    };
  };

/** Writes tables in one worker thread, started on first use. */
export class PartWriter {
  #worker: Worker | undefined;
  #next = 0;
  readonly #waiting = new Map<number, { resolve: () => void; reject: (err: unknown) => void }>();

  /** Starts the worker now (it loads the Parquet writer while nothing waits for it). */
  start(): void {
    this.#worker ??= this.#start();
  }

  /** Writes `columns` to `file` as `writeTable` does, in the worker. */
  write(
    file: string,
    columns: Record<string, readonly unknown[]>,
    types: Record<string, ValueType>,
  ): Promise<void> {
    const worker = this.#worker ??= this.#start();
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      worker.postMessage({ id, file, columns, types } satisfies PartJob);
    });
  }

  #start(): Worker {
    const worker = new Worker(new URL("./_part_writer_worker.ts", import.meta.url), {
      type: "module",
    });
    worker.onmessage = ({ data }: MessageEvent<PartReply>) => {
      const waiting = this.#waiting.get(data.id);
      this.#waiting.delete(data.id);
      if (!waiting) return;
      if (data.ok) return waiting.resolve();
      const { code, message, details, name } = data.error;
      if (code !== undefined) {
        waiting.reject(new LarderError(code, message, details ? { details } : {}));
      } else {
        const err = new Error(message);
        if (name) err.name = name;
        waiting.reject(err);
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      const err = new LarderError(
        "IO_FAILED",
        `The offline part writer stopped: ${event.message}`,
      );
      for (const w of this.#waiting.values()) w.reject(err);
      this.#waiting.clear();
      this.#worker?.terminate();
      this.#worker = undefined;
    };
    return worker;
  }

  /** Stops the worker (after the writes in progress were answered). */
  close(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
  }
}
