/**
 * Encodes feature-log parts off the serving thread: parts of 2,000 rows or more in a worker
 * (`_log_worker.ts`, started for the first such part and stopped after 30 s without work);
 * smaller parts, and every part where workers cannot start, in this thread.
 */
import { loadFeatureLogEncoder } from "../lazy.ts";
import { type LogBuffer, transferables } from "./_log_buffers.ts";
import type { EncodeAnswer, EncodeRequest } from "./_log_worker.ts";

interface Waiting {
  resolve(bytes: Uint8Array): void;
  reject(err: Error): void;
}

/**
 * How long an idle worker is kept: starting one costs a few hundred milliseconds of CPU (it
 * loads apache-arrow and parquet-wasm). A worker keeps the process alive (Deno's workers cannot
 * be unref'd): stopping it when idle lets a process that never closes the logger exit.
 */
const IDLE_MS = 30_000;

/** Parts of fewer rows are encoded in this thread: a few milliseconds, less than a worker's start. */
const WORKER_MIN_ROWS = 2_000;

/** Encodes parts as Parquet, one worker for all of them. */
export class LogEncoder {
  #worker: Worker | undefined;
  #idle: ReturnType<typeof setTimeout> | undefined;
  #inThread = false;
  #next = 0;
  readonly #waiting = new Map<number, Waiting>();

  /** The Parquet bytes of a part of `rows` rows; the buffers are handed over (unusable afterwards). */
  async encode(buffers: readonly LogBuffer[], rows: number): Promise<Uint8Array> {
    const worker = this.#inThread || (rows < WORKER_MIN_ROWS && !this.#worker)
      ? undefined
      : this.#start();
    if (!worker) {
      const { encodeLogBuffers } = await loadFeatureLogEncoder();
      return encodeLogBuffers(buffers);
    }
    if (this.#idle !== undefined) clearTimeout(this.#idle);
    this.#idle = undefined;
    const id = this.#next++;
    return await new Promise<Uint8Array>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      const request: EncodeRequest = { id, buffers };
      worker.postMessage(request, transferables(buffers));
    });
  }

  #stopWhenIdle(): void {
    if (this.#idle !== undefined) clearTimeout(this.#idle);
    const idle = setTimeout(() => {
      this.#idle = undefined;
      if (this.#waiting.size > 0) return;
      this.#worker?.terminate();
      this.#worker = undefined;
    }, IDLE_MS);
    Deno.unrefTimer(idle);
    this.#idle = idle;
  }

  /** Stops the worker; parts being encoded fail. */
  close(): void {
    if (this.#idle !== undefined) clearTimeout(this.#idle);
    this.#idle = undefined;
    this.#worker?.terminate();
    this.#worker = undefined;
    this.#fail(new Error("The feature log's encoder stopped"));
  }

  #start(): Worker | undefined {
    if (this.#worker) return this.#worker;
    try {
      const worker = new Worker(new URL("./_log_worker.ts", import.meta.url), { type: "module" });
      worker.onmessage = (event: MessageEvent<EncodeAnswer>) => {
        const answer = event.data;
        const waiting = this.#waiting.get(answer.id);
        this.#waiting.delete(answer.id);
        if ("bytes" in answer) waiting?.resolve(answer.bytes);
        else waiting?.reject(new Error(answer.error));
        if (this.#waiting.size === 0) this.#stopWhenIdle();
      };
      worker.onerror = (event) => {
        // A worker that cannot run (its modules do not load): encode here from now on.
        event.preventDefault();
        this.#inThread = true;
        this.#worker?.terminate();
        this.#worker = undefined;
        this.#fail(new Error(`The feature log's encoder failed: ${event.message}`));
      };
      this.#worker = worker;
      return worker;
    } catch {
      this.#inThread = true;
      return undefined;
    }
  }

  #fail(err: Error): void {
    for (const waiting of this.#waiting.values()) waiting.reject(err);
    this.#waiting.clear();
  }
}
