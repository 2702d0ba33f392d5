/**
 * `runStreamProcessor`: reads the stream sources of stream feature views through their
 * brokers' consumer groups and writes each batch's rows online (skip-if-not-newer, through
 * `writeOnline`) and offline (parts appended to the batch source, through `pushOffline`),
 * acknowledging an entry only once every destination durably took it. Bad events go to the
 * dead-letter stream. Processes started on any machines with the same repo share each stream
 * through the broker's consumer group; a dead one's pending entries are taken over by the
 * others (Redis: `XAUTOCLAIM`; NATS: the server's redelivery after `ack_wait`).
 */
import { hostname } from "node:os";
import {
  type FeatureViewSpec,
  findObject,
  isLarderError,
  LarderError,
  type RegistryDocument,
  viewBatchSource,
} from "../../registry/mod.ts";
import type { StreamingConfig } from "../config.ts";
import {
  commitOnlineWrite,
  type OnlineRow,
  type OnlineStore,
  prepareOnlineRows,
  viewJoinKeys,
} from "../online/mod.ts";
import type { TransformLoader } from "../on_demand.ts";
import { pushedFilesFolder, pushOffline } from "../push_offline.ts";
import type { DeadLetter, StreamBroker, StreamEntry } from "./broker.ts";
import { createBroker } from "./create_broker.ts";
import { eventRows, type RowColumns, type StreamViewPlan } from "./event_rows.ts";
import { OfflineLedger } from "./offline_ledger.ts";
import { PartWriter } from "./part_writer.ts";
import { StreamMetrics, type ViewStreamStats } from "./stream_metrics.ts";

import type { StreamTransformFn } from "../transforms.ts";

/** What {@linkcode runStreamProcessor} needs. */
export interface StreamProcessorDeps {
  /** The registry document the views are read from (read once, at start). */
  readonly doc: RegistryDocument;
  readonly repoDir: string;
  readonly streaming: StreamingConfig;
  readonly online: () => Promise<OnlineStore>;
  /** Transforms of write-time on-demand views reading the stream views. */
  readonly transforms?: TransformLoader;
  /** Transforms of the stream views that have one, checked against the registry. */
  readonly streamTransforms: (views: readonly FeatureViewSpec[]) => Promise<
    ReadonlyMap<string, StreamTransformFn>
  >;
}

/** Options of {@linkcode runStreamProcessor} and `FeatureStore.stream`. */
export interface StreamOptions {
  /** The stream feature views to process. @default every stream feature view */
  readonly views?: readonly string[];
  /** Stops the processor: the batches in flight finish and are acknowledged first. */
  readonly signal?: AbortSignal;
  /** This process's consumer name in each group; unique per process. @default `<host>-<pid>` */
  readonly consumer?: string;
  /** Most entries per batch. @default {500} */
  readonly batchSize?: number;
  /** Most batches of a view read and not yet written. @default {4} */
  readonly maxInFlightBatches?: number;
  /** How long a read waits for entries when the stream is idle, in ms. @default {1000} */
  readonly blockMs?: number;
  /**
   * How long an entry may stay unacknowledged before another consumer takes it over (its
   * consumer is then presumed dead), in ms. Must exceed twice `offlineFlushMs`.
   * @default {30000}
   */
  readonly reclaimIdleMs?: number;
  /** How often to look for entries to take over (Redis), in ms. @default {1000} */
  readonly reclaimIntervalMs?: number;
  /** Rows gathered before a part is appended to the batch source. @default {5000} */
  readonly offlineFlushRows?: number;
  /**
   * Most time rows wait before their part is appended, in ms.
   * @default {2000}, or a quarter of `reclaimIdleMs` when that is less
   */
  readonly offlineFlushMs?: number;
  /** Where the counters go (pass one to serve them as Prometheus metrics). @default a new one */
  readonly metrics?: StreamMetrics;
  /** Called every `progressIntervalMs` and once at the end. */
  readonly onProgress?: (metrics: StreamMetrics) => void;
  /** How often `onProgress` is called, in ms. @default {250} */
  readonly progressIntervalMs?: number;
  /**
   * Called before entries are acknowledged, once every destination took them (for tests that
   * crash a processor at that point).
   */
  readonly beforeAck?: (view: string, entries: readonly StreamEntry[]) => void | Promise<void>;
}

/** What a run did, per view. */
export interface StreamResult {
  /** The counters of each view, in the order the views were run. */
  readonly views: readonly ViewStreamStats[];
}

/** The group of view `view`'s consumers: one per view, shared by every process. */
export function consumerGroup(project: string, view: string): string {
  return `larder_${project}_${view}`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Errors worth retrying: the store or the broker is away, a file operation failed. */
function transient(err: unknown): boolean {
  return isLarderError(err) &&
    ["UNAVAILABLE", "IO_FAILED", "TIMEOUT", "CONFLICT"].includes(err.code);
}

/** The stream views to run, checked. */
function chosenViews(doc: RegistryDocument, names: readonly string[] | undefined) {
  const streamViews = Object.values(doc.objects.featureView).map((v) => v.spec)
    .filter((v) => v.stream !== undefined).sort((a, b) => a.name.localeCompare(b.name));
  if (names === undefined) {
    if (streamViews.length === 0) {
      throw new LarderError(
        "NOT_FOUND",
        "The registry has no stream feature views: define one with streamFeatureView() and apply",
      );
    }
    return streamViews;
  }
  return names.map((name) => {
    const found = streamViews.find((v) => v.name === name);
    if (found) return found;
    const plain = findObject(doc, "featureView", name) !== undefined;
    throw new LarderError(
      "NOT_FOUND",
      `${
        plain
          ? `Feature view "${name}" is not a stream feature view`
          : `Cannot find stream feature view "${name}"`
      }: the registry has ${
        streamViews.length ? streamViews.map((v) => `"${v.name}"`).join(", ") : "none"
      }`,
      { details: { view: name } },
    );
  });
}

/**
 * Runs until `options.signal` aborts, then finishes the batches in flight, appends and
 * acknowledges what it holds, and resolves. Throws at start for a view or configuration that
 * cannot run (`NOT_FOUND`, `DRIFT`, `INPUT_INVALID`, an unreachable broker); afterwards,
 * failing writes are retried (the entries stay unacknowledged meanwhile) and bad events go to
 * the dead-letter stream.
 */
export async function runStreamProcessor(
  deps: StreamProcessorDeps,
  options: StreamOptions = {},
): Promise<StreamResult> {
  const reclaimIdleMs = options.reclaimIdleMs ?? 30_000;
  const o = {
    batchSize: options.batchSize ?? 500,
    maxInFlight: options.maxInFlightBatches ?? 4,
    blockMs: options.blockMs ?? 1000,
    reclaimIdleMs,
    reclaimIntervalMs: options.reclaimIntervalMs ?? Math.min(1000, reclaimIdleMs),
    flushRows: options.offlineFlushRows ?? 5000,
    flushMs: options.offlineFlushMs ?? Math.max(1, Math.min(2000, Math.floor(reclaimIdleMs / 4))),
  };
  for (const [name, value] of Object.entries(o)) {
    if (!Number.isInteger(value) || value < 1) {
      throw new LarderError(
        "INPUT_INVALID",
        `Stream option "${name}" must be a positive integer, got ${value}`,
      );
    }
  }
  if (o.reclaimIdleMs <= 2 * o.flushMs) {
    throw new LarderError(
      "INPUT_INVALID",
      `Stream option "reclaimIdleMs" (${o.reclaimIdleMs} ms) must exceed twice "offlineFlushMs" (${o.flushMs} ms): entries held for an offline part would be taken over by other processes`,
    );
  }
  const { doc } = deps;
  const views = chosenViews(doc, options.views);
  const transforms = await deps.streamTransforms(views.filter((v) => v.stream?.transformHash));
  const consumer = options.consumer ?? `${hostname()}-${Deno.pid}`;
  const metrics = options.metrics ?? new StreamMetrics();
  const signal = options.signal ?? new AbortController().signal;

  const workers: ViewWorker[] = [];
  try {
    for (const view of views) {
      const source = findObject(doc, "dataSource", view.source)?.spec;
      if (source?.kind !== "stream") {
        throw new LarderError(
          "NOT_FOUND",
          `Stream feature view "${view.name}": the registry has no stream source "${view.source}"`,
        );
      }
      const batch = viewBatchSource(doc, view);
      if (batch.kind !== "file") {
        throw new LarderError(
          "INPUT_INVALID",
          `Stream feature view "${view.name}": stream source "${source.name}" keeps its events in ${batch.kind} source "${batch.name}", which Larder reads but never writes: give the stream source a file batch source`,
          { details: { view: view.name, source: source.name, batchSource: batch.name } },
        );
      }
      const plan: StreamViewPlan = {
        view,
        source,
        batch,
        joinKeys: viewJoinKeys(doc, view),
        transform: transforms.get(view.name),
      };
      const broker = await createBroker(source, deps.streaming, {
        group: consumerGroup(doc.project, view.name),
        consumer,
        ackWaitMs: o.reclaimIdleMs,
        maxInFlight: o.batchSize * o.maxInFlight,
      });
      workers.push(new ViewWorker(plan, broker, deps, o, metrics, options));
      await broker.open();
    }
  } catch (err) {
    await Promise.all(workers.map((w) => w.broker.close().catch(() => {})));
    throw err;
  }

  const progress = options.onProgress;
  const timer = progress
    ? setInterval(() => progress(metrics), options.progressIntervalMs ?? 250)
    : undefined;
  try {
    await Promise.all(workers.map((w) => w.run(signal)));
  } finally {
    clearInterval(timer);
    progress?.(metrics);
  }
  return { views: views.map((v) => metrics.of(v.name)) };
}

type Settings = {
  batchSize: number;
  maxInFlight: number;
  blockMs: number;
  reclaimIdleMs: number;
  reclaimIntervalMs: number;
  flushRows: number;
  flushMs: number;
};

/** Rows of entries `kept`, as columns and as online rows. */
interface OnlineRows {
  readonly kept: StreamEntry[];
  readonly columns: RowColumns;
  readonly online: OnlineRow[];
}

/** Rows waiting for the next offline part, and their entries. */
interface Held {
  columns: RowColumns;
  entries: StreamEntry[];
  since: number;
  /** When the read of the first-read of them was sent (they were delivered after). */
  readAt: number;
}

/** The consumer of one view. */
class ViewWorker {
  readonly broker: StreamBroker;
  readonly #plan: StreamViewPlan;
  readonly #deps: StreamProcessorDeps;
  readonly #o: Settings;
  readonly #stats: ViewStreamStats;
  readonly #metrics: StreamMetrics;
  readonly #options: StreamOptions;
  readonly #writeOnline: boolean;
  readonly #writeOffline: boolean;
  #held: Held | undefined;
  /** Ids of the entries of the part being appended (the flush acknowledges them). */
  readonly #flushingIds = new Set<string>();
  #flushing: Promise<void> = Promise.resolve();
  /** The flush that has not started yet, if one is queued. */
  #nextFlush: Promise<void> | undefined;
  /** Flushes queued or running. */
  #flushesQueued = 0;
  #ledger: Promise<OfflineLedger> | undefined;
  readonly #parts = new PartWriter();
  #signal: AbortSignal = new AbortController().signal;
  #fatal: unknown;

  constructor(
    plan: StreamViewPlan,
    broker: StreamBroker,
    deps: StreamProcessorDeps,
    o: Settings,
    metrics: StreamMetrics,
    options: StreamOptions,
  ) {
    this.#plan = plan;
    this.broker = broker;
    this.#deps = deps;
    this.#o = o;
    this.#metrics = metrics;
    this.#stats = metrics.of(plan.view.name);
    this.#options = options;
    const to = plan.view.stream!.writeTo;
    this.#writeOnline = to !== "offline";
    this.#writeOffline = to !== "online";
  }

  get #view(): string {
    return this.#plan.view.name;
  }

  async run(signal: AbortSignal): Promise<void> {
    this.#signal = signal;
    const inFlight = new Set<Promise<void>>();
    let lastReclaim = -Infinity;
    const lagTimer = setInterval(() => void this.#readLag(), 1000);
    try {
      await this.#readLag();
      // Loads the offline writer now rather than while the first batch waits for it.
      if (this.#writeOffline) {
        this.#parts.start();
        await this.#offlineLedger();
      }
      while (!signal.aborted && this.#fatal === undefined) {
        while (inFlight.size >= this.#o.maxInFlight) await Promise.race(inFlight);
        if (signal.aborted || this.#fatal !== undefined) break;
        let entries: StreamEntry[] = [];
        // Before the read: the broker delivered what it answers after this.
        const readAt = performance.now();
        try {
          const now = readAt;
          if (
            !this.broker.capabilities.redeliversByItself &&
            now - lastReclaim >= this.#o.reclaimIntervalMs
          ) {
            entries = await this.broker.reclaim(this.#o.reclaimIdleMs, this.#o.batchSize);
            if (entries.length < this.#o.batchSize) lastReclaim = now;
          }
          if (entries.length === 0) {
            entries = await this.broker.read(this.#o.batchSize, this.#o.blockMs);
          }
        } catch (err) {
          if (!transient(err)) throw err;
          this.#stats.errors++;
          await sleep(500, signal);
          continue;
        }
        if (entries.length > 0) {
          const batch = this.#process(entries, readAt).catch((err) => {
            this.#fatal ??= err;
          }).finally(() => inFlight.delete(batch));
          inFlight.add(batch);
        }
        if (this.#held && performance.now() - this.#held.since >= this.#o.flushMs) {
          // In the background: reading and online writes go on while the part is written.
          this.#flush().catch((err) => {
            this.#fatal ??= err;
          });
        }
      }
      await Promise.all(inFlight);
      if (this.#fatal === undefined) await this.#flush();
    } finally {
      clearInterval(lagTimer);
      await this.#flushing.catch(() => {});
      await this.#readLag();
      this.#parts.close();
      // A consumer name per process: gone from the group unless it still holds entries.
      await this.broker.leave().catch(() => false);
      await this.broker.close();
    }
    if (this.#fatal !== undefined) throw this.#fatal;
  }

  async #readLag(): Promise<void> {
    try {
      const lag = await this.broker.lag();
      this.#stats.undelivered = lag.undelivered;
      this.#stats.pending = lag.pending;
    } catch {
      // The next reading will tell; lag is informational.
    }
  }

  /** Repeats `fn` while it fails transiently, until it succeeds or the processor stops. */
  async #retrying<T>(fn: () => Promise<T>): Promise<T | typeof GAVE_UP> {
    for (let delay = 100;; delay = Math.min(delay * 2, 2000)) {
      try {
        return await fn();
      } catch (err) {
        if (!transient(err)) throw err;
        this.#stats.errors++;
        if (this.#signal.aborted) return GAVE_UP;
        await sleep(delay, this.#signal);
      }
    }
  }

  async #process(entries: StreamEntry[], readAt: number): Promise<void> {
    const started = performance.now();
    const stats = this.#stats;
    stats.events += entries.length;
    stats.redelivered += entries.filter((e) => e.deliveries > 1).length;
    const rows = eventRows(this.#plan, entries);
    let kept = rows.entries;
    let columns = rows.columns;
    const dead: DeadLetter[] = [...rows.dead];
    if (this.#writeOnline && kept.length > 0) {
      const written = await this.#retrying(() =>
        this.#writeOnlineIsolating({ kept, columns, online: rows.online })
      );
      if (written === GAVE_UP) return;
      ({ kept, columns } = written);
      dead.push(...written.dead);
    }
    const ackNow: StreamEntry[] = [];
    if (this.#writeOffline && kept.length > 0) {
      // A redelivered entry may already be in a part: its row is not appended twice.
      const again = kept.filter((e) => e.deliveries > 1);
      const inParts = again.length > 0
        ? await (await this.#offlineLedger()).written(again.map((e) => e.id))
        : new Set<string>();
      const holding: number[] = [];
      kept.forEach((e, i) => {
        if (this.#flushingIds.has(e.id)) return; // that flush acknowledges it
        if (inParts.has(e.id)) ackNow.push(e);
        else holding.push(i);
      });
      stats.offlineDuplicatesSkipped += ackNow.length;
      this.#hold(holding.map((i) => kept[i]!), pick(columns, holding), readAt);
    } else ackNow.push(...kept);
    if (dead.length > 0) {
      if (await this.#retrying(() => this.broker.deadLetter(dead)) === GAVE_UP) return;
      stats.deadLetters += dead.length;
      ackNow.push(...dead.map((d) => d.entry));
    }
    if (ackNow.length > 0) await this.#ack(ackNow);
    this.#metrics.observeBatch(this.#view, performance.now() - started);
    if (this.#held && this.#held.entries.length >= this.#o.flushRows) {
      // Parts are written in the background, one at a time, while reading and online writes go
      // on; a batch waits only while the part before is still being written.
      if (this.#flushesQueued > 0) await this.#flushing;
      if (this.#held && this.#held.entries.length >= this.#o.flushRows) {
        this.#flush().catch((err) => {
          this.#fatal ??= err;
        });
      }
    }
  }

  async #ack(entries: readonly StreamEntry[]): Promise<void> {
    await this.#options.beforeAck?.(this.#view, entries);
    if (await this.#retrying(() => this.broker.ack(entries)) === GAVE_UP) return;
    this.#stats.acked += entries.length;
  }

  /**
   * Writes rows online (checked by `eventRows` already); a row refused (`INPUT_INVALID`, or
   * `DEFINITION_INVALID` from a write-time transform) becomes a dead letter and the others
   * are written (one by one when the error does not say which row).
   */
  async #writeOnlineIsolating(
    rows: OnlineRows,
  ): Promise<{ kept: StreamEntry[]; columns: RowColumns; dead: DeadLetter[] }> {
    let { kept, columns, online: given } = rows;
    const dead: DeadLetter[] = [];
    const online = await this.#deps.online();
    const deps = {
      registry: this.#deps.doc,
      ...(this.#deps.transforms ? { transforms: this.#deps.transforms } : {}),
    };
    for (;;) {
      if (kept.length === 0) return { kept, columns, dead };
      try {
        const prepared = await prepareOnlineRows(deps, this.#view, given);
        const result = await commitOnlineWrite(online, prepared);
        this.#stats.onlineRows += kept.length;
        this.#stats.onlineWritten += result.written;
        return { kept, columns, dead };
      } catch (err) {
        if (
          !isLarderError(err) || (err.code !== "INPUT_INVALID" && err.code !== "DEFINITION_INVALID")
        ) {
          throw err;
        }
        const row = (err.details as { row?: unknown } | undefined)?.row;
        if (typeof row === "number" && row >= 0 && row < kept.length) {
          dead.push({ entry: kept[row]!, view: this.#view, reason: err.message });
          const rest = kept.map((_, i) => i).filter((i) => i !== row);
          columns = pick(columns, rest);
          given = rest.map((i) => given[i]!);
          kept = rest.map((i) => kept[i]!);
          continue;
        }
        if (kept.length === 1) {
          dead.push({ entry: kept[0]!, view: this.#view, reason: err.message });
          return { kept: [], columns: pick(columns, []), dead };
        }
        // The error names no row: find the bad ones by writing each row alone.
        const good: number[] = [];
        for (let i = 0; i < kept.length; i++) {
          const one = await this.#writeOnlineIsolating({
            kept: [kept[i]!],
            columns: pick(columns, [i]),
            online: [given[i]!],
          });
          dead.push(...one.dead);
          if (one.kept.length === 1) good.push(i);
        }
        return { kept: good.map((i) => kept[i]!), columns: pick(columns, good), dead };
      }
    }
  }

  #offlineLedger(): Promise<OfflineLedger> {
    return this.#ledger ??= pushedFilesFolder(
      this.#deps.repoDir,
      this.#deps.doc,
      this.#plan.source.name,
    )
      .then((dir) => new OfflineLedger(dir, this.#view));
  }

  #hold(entries: StreamEntry[], columns: RowColumns, readAt: number): void {
    if (entries.length === 0) return;
    if (!this.#held) {
      this.#held = { columns: pick(columns, []), entries: [], since: performance.now(), readAt };
    }
    const held = this.#held;
    held.readAt = Math.min(held.readAt, readAt);
    // An entry delivered again while held (taken back after a stall) is held once.
    const ids = new Set(held.entries.map((e) => e.id));
    entries.forEach((e, i) => {
      if (ids.has(e.id)) return;
      held.entries.push(e);
      for (const [name, values] of Object.entries(columns)) held.columns[name]!.push(values[i]);
    });
  }

  /**
   * Appends the held rows as one part, then acknowledges their entries. Serialized; a flush
   * asked for while another waits to start is that one (it takes whatever is held then).
   */
  #flush(): Promise<void> {
    if (this.#nextFlush) return this.#nextFlush;
    this.#flushesQueued++;
    const run = this.#flushing.then(() => {
      this.#nextFlush = undefined;
      return this.#flushHeld();
    }).finally(() => this.#flushesQueued--);
    this.#nextFlush = run;
    this.#flushing = run.catch(() => {});
    return run;
  }

  async #flushHeld(): Promise<void> {
    const held = this.#held;
    this.#held = undefined;
    if (!held || held.entries.length === 0) return;
    for (const e of held.entries) this.#flushingIds.add(e.id);
    try {
      await this.#appendHeld(held);
    } finally {
      this.#flushingIds.clear();
    }
  }

  async #appendHeld(held: Held): Promise<void> {
    const ledger = await this.#offlineLedger();
    // Entries another process took over while they were held (this one stalled) are its to
    // write; renewing the rest keeps them from being taken over while the part is written.
    // Entries delivered less than half of `reclaimIdleMs` ago cannot have been taken over and
    // have at least that half left (if every process uses the same `reclaimIdleMs`), so only
    // older holds are renewed: a renew costs Redis ~20 ms per 5,000 entries.
    const young = performance.now() - held.readAt < this.#o.reclaimIdleMs / 2;
    const owned = young
      ? held.entries
      : await this.#retrying(() => this.broker.renew(held.entries));
    if (owned === GAVE_UP) return;
    const ownedIds = new Set(owned.map((e) => e.id));
    const rows = held.entries.map((e, i) => ownedIds.has(e.id) ? i : -1).filter((i) => i >= 0);
    let entries = rows.map((i) => held.entries[i]!);
    let columns = pick(held.columns, rows);
    const dead: DeadLetter[] = [];
    let ledgerFile: string | undefined;
    const appended = await this.#retrying(async () => {
      for (;;) {
        if (entries.length === 0) return [];
        try {
          return (await pushOffline(this.#deps.repoDir, this.#deps.doc, {
            pushSource: this.#plan.source.name,
            columns,
            prefix: `stream-${this.#view}`,
            forView: this.#view,
            write: (file, out, types) => this.#parts.write(file, out, types),
            beforeWrite: async (file) => {
              ledgerFile = await ledger.record(file, entries.map((e) => e.id));
            },
          })).files;
        } catch (err) {
          if (ledgerFile !== undefined) await ledger.forget(ledgerFile);
          ledgerFile = undefined;
          const row = isLarderError(err) && err.code === "INPUT_INVALID"
            ? (err.details as { row?: unknown } | undefined)?.row
            : undefined;
          if (typeof row !== "number" || row < 0 || row >= entries.length) throw err;
          dead.push({ entry: entries[row]!, view: this.#view, reason: (err as Error).message });
          const rest = entries.map((_, i) => i).filter((i) => i !== row);
          columns = pick(columns, rest);
          entries = rest.map((i) => entries[i]!);
        }
      }
    });
    if (appended === GAVE_UP) return;
    this.#stats.offlineRows += entries.length;
    this.#stats.offlineParts += appended.length;
    if (dead.length > 0) {
      if (await this.#retrying(() => this.broker.deadLetter(dead)) === GAVE_UP) return;
      this.#stats.deadLetters += dead.length;
    }
    await this.#ack([...entries, ...dead.map((d) => d.entry)]);
    if (ledgerFile !== undefined) await ledger.forget(ledgerFile);
  }
}

const GAVE_UP: unique symbol = Symbol("gave up");

function pick(columns: RowColumns, rows: readonly number[]): RowColumns {
  const out: RowColumns = {};
  for (const [name, values] of Object.entries(columns)) out[name] = rows.map((i) => values[i]);
  return out;
}
