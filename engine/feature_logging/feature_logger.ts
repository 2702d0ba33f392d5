/**
 * `FeatureLogger`: logs what online reads of feature services served, as Feast's feature
 * server does. Recording a request is synchronous and cheap (a sample draw, a bound check, a
 * reference kept); rows wait in a bounded in-memory queue and are written in the background
 * as Parquet parts, one per service and date, through a {@linkcode LogSink}.
 */
import {
  type FeatureLoggingSpec,
  findObject,
  LarderError,
  type RegistryDocument,
} from "../../registry/mod.ts";
import type { OnlineFeaturesResponse } from "../online/online_response.ts";
import { isoMicros } from "../timestamps.ts";
import { type FeatureLogSchema, featureLogSchema } from "./log_schema.ts";
import { defaultLogSinks, type LogSink, type LogSinkFactory } from "./log_sink.ts";
import type { LogBuffer } from "./_log_buffers.ts";
import { logBuffers, type Served, utcDate } from "./_log_columns.ts";
import { LogEncoder } from "./_log_encoder.ts";

/** Options for {@linkcode FeatureLogger}. */
export interface FeatureLoggerOptions {
  /** The repo folder: relative destination paths are relative to it. */
  readonly repoDir: string;
  /** Most rows waiting to be written; a request that does not fit is dropped. @default {100000} */
  readonly queueSize?: number;
  /** Write once a service has this many rows waiting. @default {10000} */
  readonly batchSize?: number;
  /** Write whatever waits this often; 0 writes only on demand. @default {10000} */
  readonly flushIntervalMs?: number;
  /** The sampling draw, in [0, 1): a request is logged when it is below the rate. @default Math.random */
  readonly random?: () => number;
  /** The clock: the request time of logged rows. @default {() => new Date()} */
  readonly now?: () => Date;
  /** Makes the sink of a destination path. @default local folders and `s3://` URLs ({@linkcode defaultLogSinks}) */
  readonly sinks?: LogSinkFactory;
  /** Where failed writes are reported (never to the caller of the read). @default console.error */
  readonly logError?: (err: unknown) => void;
}

/** One online read of a feature service, as served. */
export interface ServedRead {
  /** The feature service named by the request. */
  readonly service: string;
  /** The request's entity columns (as sent: request fields are taken from them). */
  readonly entities: Readonly<Record<string, readonly unknown[]>>;
  /** What was served. */
  readonly response: OnlineFeaturesResponse;
  /** Whether the response names features `view__feature`. */
  readonly fullFeatureNames: boolean;
  /** The request's id. @default a random UUID */
  readonly requestId?: string;
}

/** Counters of a {@linkcode FeatureLogger} since it started. */
export interface FeatureLogStats {
  /** Requests whose rows were queued. */
  readonly loggedRequests: number;
  /** Rows queued. */
  readonly loggedRows: number;
  /** Requests of logged services left out by sampling. */
  readonly sampledOutRequests: number;
  /** Requests dropped because the queue was full. */
  readonly droppedRequests: number;
  /** Rows of those requests. */
  readonly droppedRows: number;
  /** Rows waiting to be written now (including ones kept after a failed write). */
  readonly queuedRows: number;
  /** Parts written. */
  readonly writtenParts: number;
  /** Rows in those parts. */
  readonly writtenRows: number;
  /** Failed writes of a part (its rows are kept and written again at the next flush). */
  readonly failedWrites: number;
  /** Rows given up: unwritable at shutdown, or of a service whose log cannot be made. */
  readonly lostRows: number;
}

interface Batch {
  readonly schema: FeatureLogSchema;
  readonly logging: FeatureLoggingSpec;
  served: Served[];
  rows: number;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A turn of the event loop: requests waiting run before the log's work goes on. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** `part-20261203T173501.123456Z-1a2b3c4d.parquet`: names sort by the time of their first row. */
function partName(micros: number): string {
  const time = isoMicros(micros).replace(/[-:]/g, "");
  return `part-${time}-${crypto.randomUUID().slice(0, 8)}.parquet`;
}

/**
 * Logs served feature-service reads as Parquet parts under each service's
 * `logging.destination.path`, partitioned by date: `<path>/date=2026-12-03/part-….parquet`,
 * with Feast's logging schema (entity columns; per feature its value, `__timestamp` and
 * `__status`; `__log_timestamp`, `__log_date`, `__request_id`).
 *
 * {@linkcode log} never throws and never waits: a request is sampled by the service's
 * `sampleRate`, and dropped (counted) when the queue is full. Rows are written once a
 * service has `batchSize` waiting, every `flushIntervalMs`, on {@linkcode flush} and on
 * {@linkcode close}. A failed write is reported to `logError`, and its rows are kept (still
 * counting against the queue) to be written at the next flush; parts already written stay.
 *
 * @example
 * ```ts ignore
 * const logger = new FeatureLogger({ repoDir: store.repoDir });
 * const response = await getOnlineFeatures(deps, { featureService: "driver_activity", entities });
 * logger.log(doc, { service: "driver_activity", entities, response, fullFeatureNames: false });
 * await logger.close(); // writes what waits
 * ```
 */
export class FeatureLogger {
  readonly #repoDir: string;
  readonly #queueSize: number;
  readonly #batchSize: number;
  readonly #random: () => number;
  readonly #now: () => Date;
  readonly #sinks: LogSinkFactory;
  readonly #logError: (err: unknown) => void;
  readonly #sinkByPath = new Map<string, LogSink>();
  #pending = new Map<string, Batch>();
  #queued = 0;
  #chain: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | undefined;
  #flushSoon = false;
  #closed = false;
  readonly #encoder = new LogEncoder();
  #stats = {
    loggedRequests: 0,
    loggedRows: 0,
    sampledOutRequests: 0,
    droppedRequests: 0,
    droppedRows: 0,
    writtenParts: 0,
    writtenRows: 0,
    failedWrites: 0,
    lostRows: 0,
  };

  /** A logger; its interval timer does not keep the process alive. */
  constructor(options: FeatureLoggerOptions) {
    this.#repoDir = options.repoDir;
    this.#queueSize = options.queueSize ?? 100_000;
    this.#batchSize = options.batchSize ?? 10_000;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? (() => new Date());
    this.#sinks = options.sinks ?? defaultLogSinks;
    this.#logError = options.logError ?? ((err: unknown) => console.error(err));
    const every = options.flushIntervalMs ?? 10_000;
    if (every > 0) {
      const timer = setInterval(() => void this.flush(), every);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /** The counters, for metrics. */
  get stats(): FeatureLogStats {
    return { ...this.#stats, queuedRows: this.#queued };
  }

  /**
   * Queues the rows of one served read when its service has `logging` in `doc` and the
   * sample draw and the queue let it in; returns whether it did. Never throws.
   */
  log(doc: RegistryDocument, read: ServedRead): boolean {
    try {
      return this.#log(doc, read);
    } catch (err) {
      this.#logError(err);
      return false;
    }
  }

  #log(doc: RegistryDocument, read: ServedRead): boolean {
    if (this.#closed) return false;
    const logging = findObject(doc, "featureService", read.service)?.spec.logging;
    if (logging === undefined) return false;
    if (!(this.#random() < logging.sampleRate)) {
      this.#stats.sampledOutRequests++;
      return false;
    }
    const rows = read.response.rowCount;
    if (rows === 0) return false;
    if (this.#queued + rows > this.#queueSize) {
      this.#stats.droppedRequests++;
      this.#stats.droppedRows += rows;
      return false;
    }
    const schema = featureLogSchema(doc, read.service);
    const key = `${read.service}\u0000${logging.destination.path}\u0000${schema.signature}`;
    let batch = this.#pending.get(key);
    if (!batch) {
      batch = { schema, logging, served: [], rows: 0 };
      this.#pending.set(key, batch);
    }
    batch.served.push({
      columns: new Map(read.response.columns.map((c) => [c.name, c])),
      entities: read.entities,
      rows,
      logMicros: this.#now().getTime() * 1000,
      requestId: read.requestId ?? crypto.randomUUID(),
      fullFeatureNames: read.fullFeatureNames,
    });
    batch.rows += rows;
    this.#queued += rows;
    this.#stats.loggedRequests++;
    this.#stats.loggedRows += rows;
    if (batch.rows >= this.#batchSize && !this.#flushSoon) {
      this.#flushSoon = true;
      // After the response is on its way, not in the request's turn.
      setTimeout(() => {
        this.#flushSoon = false;
        void this.flush();
      }, 0);
    }
    return true;
  }

  /** Writes every row waiting; resolves when done (failures go to `logError`). */
  flush(): Promise<void> {
    const run = this.#chain.then(() => this.#writeAll());
    this.#chain = run.catch(() => {});
    return this.#chain;
  }

  /** Stops the timer and writes what waits; rows that still cannot be written are lost. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
    this.#encoder.close();
    if (this.#queued > 0) {
      const lost = this.#queued;
      this.#stats.lostRows += lost;
      this.#queued = 0;
      this.#pending.clear();
      this.#logError(
        new LarderError(
          "IO_FAILED",
          `Feature logging stopped with ${lost} logged ${
            lost === 1 ? "row" : "rows"
          } that could not be written`,
        ),
      );
    }
  }

  async #writeAll(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batches = this.#pending;
    this.#pending = new Map();
    for (const [key, batch] of batches) {
      const failed = await this.#writeBatch(batch);
      if (failed.length === 0) continue;
      // Kept for the next flush, before what arrived meanwhile.
      const rows = failed.reduce((n, s) => n + s.rows, 0);
      const later = this.#pending.get(key);
      this.#pending.set(key, {
        ...batch,
        served: [...failed, ...(later?.served ?? [])],
        rows: rows + (later?.rows ?? 0),
      });
    }
  }

  /** Writes one batch, a part per date; returns the reads of the parts that failed. */
  async #writeBatch(batch: Batch): Promise<Served[]> {
    const { schema, logging } = batch;
    let sink: LogSink;
    try {
      sink = this.#sink(logging.destination.path, schema.service);
    } catch (err) {
      this.#stats.lostRows += batch.rows;
      this.#queued -= batch.rows;
      this.#logError(err);
      return [];
    }
    const byDate = new Map<string, Served[]>();
    for (const s of batch.served) {
      const date = utcDate(s.logMicros);
      const list = byDate.get(date);
      if (list) list.push(s);
      else byDate.set(date, [s]);
    }
    const failed: Served[] = [];
    for (const [date, served] of byDate) {
      const rows = served.reduce((n, s) => n + s.rows, 0);
      const key = `date=${date}/${partName(served[0]!.logMicros)}`;
      let bytes: Uint8Array;
      try {
        bytes = await this.#encode(schema, served);
      } catch (err) {
        // Not a storage problem: writing these rows again would fail again.
        this.#stats.lostRows += rows;
        this.#queued -= rows;
        this.#logError(
          new LarderError(
            "INTERNAL",
            `Cannot encode the feature log of "${schema.service}": ${messageOf(err)}; ${rows} ${
              rows === 1 ? "row" : "rows"
            } lost`,
            { cause: err },
          ),
        );
        continue;
      }
      try {
        await sink.write(key, bytes);
        this.#stats.writtenParts++;
        this.#stats.writtenRows += rows;
        this.#queued -= rows;
      } catch (err) {
        this.#stats.failedWrites++;
        failed.push(...served);
        this.#logError(
          new LarderError(
            "IO_FAILED",
            `Cannot write the feature log of "${schema.service}" to "${sink.location}": ${
              messageOf(err)
            }; ${rows} ${rows === 1 ? "row is" : "rows are"} kept to try again`,
            { cause: err },
          ),
        );
      }
    }
    return failed;
  }

  #sink(path: string, service: string): LogSink {
    let sink = this.#sinkByPath.get(path);
    if (!sink) {
      sink = this.#sinks(path, { repoDir: this.#repoDir, service });
      this.#sinkByPath.set(path, sink);
    }
    return sink;
  }

  async #encode(schema: FeatureLogSchema, served: readonly Served[]): Promise<Uint8Array> {
    const buffers: LogBuffer[] = [];
    for (const group of logBuffers(schema, served)) {
      buffers.push(...group);
      await nextTurn();
    }
    return await this.#encoder.encode(buffers, served.reduce((n, s) => n + s.rows, 0));
  }
}
