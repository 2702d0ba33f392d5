/**
 * `materialize` and `materializeIncremental`: copy the newest row per entity key of each online
 * feature view from its source to the online store, streaming, then record the window.
 */
import { DataType, type Table, type Vector } from "apache-arrow";
import {
  type EntitySpec,
  type FeatureViewSpec,
  findObject,
  type Interval,
  isLarderError,
  LarderError,
  objectOf,
  ownValue,
  type Registry,
  type RegistryDocument,
} from "../../registry/mod.ts";
import type { OfflineStore } from "../offline/offline_store.ts";
import {
  buildTiles,
  changeRings,
  type ColumnValues,
  loadWriteTimeViews,
  type OnDemandWriteResult,
  type OnlineRow,
  type OnlineStore,
  type OnlineWriteResult,
  type RingChange,
  tileIndex,
  tileLayout,
  toOnlineRows,
  type TransformLoader,
  type VerifyLocks,
  viewBatchSource,
  viewJoinKeys,
  type ViewShape,
  writeTimeRows,
} from "../online/mod.ts";
import { parseTimestamp } from "../timestamps.ts";
import { withViewLocks } from "./view_locks.ts";

/** What materialization needs. */
export interface MaterializeDeps {
  /** The registry: views are read from it and windows recorded in it. */
  readonly registry: Registry;
  readonly online: OnlineStore;
  /** The offline engine, opened on first use. */
  readonly offline: () => Promise<OfflineStore>;
  /** The feature repo: source paths are relative to it. */
  readonly repoDir: string;
  /**
   * Loads on-demand transforms (`FeatureStore.onDemandTransforms`); needed only when a
   * materialized view feeds on-demand views that write to the online store.
   */
  readonly transforms?: TransformLoader | undefined;
  /**
   * The clock for `recordedAt` and for incremental start windows.
   * @default {() => new Date()}
   */
  readonly now?: () => Date;
}

/** Where a materialization is, for progress displays. */
export interface MaterializeProgress {
  /** The feature view being materialized. */
  readonly view: string;
  /** Position of the view in this run (1-based) and the number of views. */
  readonly viewIndex: number;
  /** The number of views in this run. */
  readonly viewCount: number;
  /** `start` before the view's first row, `rows` as batches are written, `done` at its end. */
  readonly phase: "start" | "rows" | "done";
  /** Rows of this view written (or skipped as not newer) so far. */
  readonly rows: number;
  /** Rows of this view in all (one per entity key in the window). */
  readonly totalRows: number;
  /** Milliseconds since this view started. */
  readonly elapsedMs: number;
  /** The window's start (inclusive). */
  readonly start: Date;
  /** The window's end (inclusive). */
  readonly end: Date;
}

/** Options shared by both materializations. */
export interface MaterializeCommonOptions {
  /** Only these views (each must exist and be online); default: every online view. */
  readonly views?: readonly string[] | undefined;
  /** Called as rows are written (see `terminalProgress`). */
  readonly onProgress?: ((progress: MaterializeProgress) => void) | undefined;
  /**
   * Rows read from the offline engine and written per step.
   * @default {10000}
   */
  readonly batchRows?: number | undefined;
  /**
   * Batches being written while the next one is read (memory holds this many plus one).
   * @default {2}
   */
  readonly writesInFlight?: number | undefined;
  /**
   * Expiry of each view's lock in the online store (renewed while the run goes on).
   * @default {60000}
   */
  readonly lockTtlMs?: number | undefined;
}

/** The window of {@linkcode materialize}: given, or (Feast's `disable_event_timestamp`) all. */
export type MaterializeWindow =
  | {
    /** Window start, inclusive. */
    readonly start: Date;
    /** Window end, inclusive. */
    readonly end: Date;
    readonly disableEventTimestamp?: false | undefined;
  }
  | {
    /**
     * Materialize "everything up to now", as Feast does for `disable_event_timestamp`: the
     * window is from the epoch (1970-01-01T00:00:00Z) to now (`deps.now`); rows are still
     * chosen and stored by their event timestamps, and that window is recorded.
     */
    readonly disableEventTimestamp: true;
    readonly start?: undefined;
    readonly end?: undefined;
  };

/** Options for {@linkcode materialize}. */
export type MaterializeOptions = MaterializeCommonOptions & MaterializeWindow;

/** Options for {@linkcode materializeIncremental}. */
export interface MaterializeIncrementalOptions extends MaterializeCommonOptions {
  /** Window end, inclusive; the start is where the view's last window ended. */
  readonly end: Date;
}

/** What happened to one view. */
export interface ViewMaterialization {
  /** The feature view. */
  readonly view: string;
  /** The window's start (inclusive). */
  readonly start: Date;
  /** The window's end (inclusive). */
  readonly end: Date;
  /** Entity keys with a row in the window. */
  readonly rows: number;
  /** Rows stored (the others were not newer than what the store held). */
  readonly written: number;
  /** Rows not written: the store held a row at least as new. */
  readonly skipped: number;
  /**
   * Source rows in the window with a NULL join key: they belong to no entity, so they were
   * left out (as historical retrieval never matches them).
   */
  readonly nullKeyRows: number;
  /**
   * Rows of the on-demand views that write to the online store and read this view, computed
   * from each batch and written with it (only when the view has some).
   */
  readonly onDemand?: readonly OnDemandWriteResult[];
  /**
   * Entities whose aggregation tiles were rebuilt from the source (only when the view has
   * aggregations); see {@linkcode materialize}.
   */
  readonly tileRings?: number;
  /** How long the view took, in seconds. */
  readonly seconds: number;
  /** `true` when the window was empty (start after end) and nothing ran or was recorded. */
  readonly emptyWindow: boolean;
}

/** The outcome of a materialization: one entry per view, in order. */
export interface MaterializeResult {
  /** One entry per view, in the order they ran. */
  readonly views: readonly ViewMaterialization[];
}

/** What materializing one view did, before timing. */
type ViewOutcome = OnlineWriteResult & {
  rows: number;
  nullKeyRows: number;
  onDemand?: readonly OnDemandWriteResult[];
  tileRings?: number;
};

const DEFAULT_BATCH_ROWS = 10_000;
const DEFAULT_WRITES_IN_FLIGHT = 2;
const WEEK_MS = 7 * 24 * 3600 * 1000;

function selectViews(
  doc: RegistryDocument,
  names: readonly string[] | undefined,
): FeatureViewSpec[] {
  const all = doc.objects.featureView;
  if (names === undefined) {
    return Object.keys(all).sort().map((n) => all[n]!.spec).filter((v) => v.online);
  }
  const unique = [...new Set(names)];
  return unique.map((name) => {
    const { spec } = objectOf(doc, "featureView", name);
    if (!spec.online) {
      throw new LarderError(
        "INPUT_INVALID",
        `Feature view "${name}" is not online (online: false): it cannot be materialized`,
        { details: { view: name } },
      );
    }
    return spec;
  });
}

/**
 * `NOT_FOUND` when the registry holds no feature view at all (before `apply`, after
 * `teardown`): there is nothing to materialize, and the likely cause is a missed step.
 */
function checkNotEmpty(doc: RegistryDocument): void {
  if (Object.keys(doc.objects.featureView).length > 0) return;
  const empty = Object.values(doc.objects).every((kind) => Object.keys(kind).length === 0);
  throw new LarderError(
    "NOT_FOUND",
    `Cannot materialize: the registry ${
      empty ? "is empty" : "has no feature views"
    }: run apply first`,
    { details: { project: doc.project } },
  );
}

function checkWindow(start: Date, end: Date): void {
  for (const [label, date] of [["start", start], ["end", end]] as const) {
    if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
      throw new LarderError(
        "INPUT_INVALID",
        `Invalid ${label}: expected a date, got ${String(date)}`,
      );
    }
  }
  if (start.getTime() > end.getTime()) {
    throw new LarderError(
      "INPUT_INVALID",
      `The window is empty: start ${start.toISOString()} is after end ${end.toISOString()}`,
    );
  }
}

/** Milliseconds per unit of Arrow's `TimeUnit` (SECOND, MILLISECOND, MICROSECOND, NANOSECOND). */
const MS_PER_UNIT = [1000, 1, 1e-3, 1e-6];

/**
 * A column's values as JavaScript values (`null` for nulls; int64 as numbers when safe,
 * timestamps as epoch milliseconds). Numbers and timestamps are read from the typed buffers:
 * Arrow's per-value iterator costs more than the rest of materialization.
 */
function column(table: Table, name: string): ColumnValues {
  const vector = table.getChild(name) as Vector | null;
  if (vector === null) {
    throw new LarderError(
      "INTERNAL",
      `The offline engine returned no column "${name}" (it has ${
        table.schema.fields.map((f) => `"${f.name}"`).join(", ")
      })`,
    );
  }
  const type = vector.type;
  let values: ArrayLike<unknown>;
  if (DataType.isFloat(type) || (DataType.isInt(type) && type.bitWidth <= 32)) {
    values = vector.toArray() as ArrayLike<number>;
  } else if (DataType.isInt(type) || DataType.isTimestamp(type)) {
    const raw = vector.toArray() as ArrayLike<bigint>;
    const scale = DataType.isTimestamp(type) ? MS_PER_UNIT[type.unit] ?? 1 : 0;
    const out = new Array<number | bigint>(raw.length);
    for (let i = 0; i < raw.length; i++) {
      const n = Number(raw[i]!);
      out[i] = scale !== 0 ? n * scale : Number.isSafeInteger(n) ? n : raw[i]!;
    }
    values = out;
  } else {
    return Array.from(vector) as unknown[];
  }
  if (vector.nullCount === 0) return values;
  const out = Array.from(values);
  for (let i = 0; i < out.length; i++) if (!vector.isValid(i)) out[i] = null;
  return out;
}

/** Microseconds per unit of Arrow's `TimeUnit` (SECOND, MILLISECOND, MICROSECOND). */
const MICROS_PER_UNIT = [1_000_000n, 1_000n, 1n];

/**
 * A timestamp column as integer epoch microseconds (`null` for nulls): the precision DuckDB
 * and Parquet keep, which `Date` and epoch milliseconds would lose.
 */
function microsColumn(table: Table, name: string): ColumnValues {
  const vector = table.getChild(name) as Vector | null;
  if (vector === null || !DataType.isTimestamp(vector.type)) return column(table, name);
  const raw = vector.toArray() as ArrayLike<bigint | number>;
  const unit = vector.type.unit as number;
  const out = new Array<number | null>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    if (unit === 2) {
      out[i] = Number(raw[i]!);
      continue;
    }
    const v = BigInt(raw[i]!);
    if (unit < 2) out[i] = Number(v * MICROS_PER_UNIT[unit]!);
    else out[i] = Number(v / 1000n - (v % 1000n < 0n ? 1n : 0n)); // nanoseconds, floored
  }
  if (vector.nullCount > 0) {
    for (let i = 0; i < out.length; i++) if (!vector.isValid(i)) out[i] = null;
  }
  return out;
}

/**
 * Copies one view's newest rows in `[start, end]` to the online store, reading the next batch
 * while up to `writesInFlight` batches are being written. Each batch's rows of the view's
 * write-time on-demand views are computed before it is written and written with it.
 */
async function materializeView(
  deps: MaterializeDeps,
  doc: RegistryDocument,
  view: FeatureViewSpec,
  window: {
    start: Date;
    end: Date;
    batchRows: number;
    writesInFlight: number;
    signal?: AbortSignal | undefined;
  },
  report: (phase: MaterializeProgress["phase"], rows: number, total: number) => void,
): Promise<ViewOutcome> {
  const source = viewBatchSource(doc, view);
  const entities = view.entities.map((n) => findObject(doc, "entity", n)?.spec).filter(
    (e): e is EntitySpec => e !== undefined,
  );
  const shape: ViewShape = {
    name: view.name,
    joinKeys: viewJoinKeys(doc, view),
    features: view.features,
  };
  const derived = await loadWriteTimeViews(doc, view, deps.transforms);
  const onDemand = derived.map((od) => ({ view: od.spec.name, written: 0, skipped: 0 }));
  const offline = await deps.offline();
  const latest = await offline.pullLatest({
    repoDir: deps.repoDir,
    view,
    source,
    entities,
    start: window.start,
    end: window.end,
    batchRows: window.batchRows,
  });
  report("start", 0, latest.count);
  const iterator = latest[Symbol.asyncIterator]();
  let done = 0;
  let written = 0;
  let skipped = 0;
  const pending: Promise<void>[] = [];
  // Set by a failed write; read after every await (a holder, so the type is not narrowed).
  const failed: { error?: unknown; yes: boolean } = { yes: false };
  try {
    for (let offset = 0;;) {
      window.signal?.throwIfAborted();
      const next = await iterator.next();
      if (failed.yes) throw failed.error;
      while (pending.length >= window.writesInFlight || (next.done && pending.length > 0)) {
        await pending.shift();
        if (failed.yes) throw failed.error;
      }
      if (next.done) break;
      const table = next.value;
      const rows = toOnlineRows(
        shape,
        {
          keys: shape.joinKeys.map((k) => column(table, k.name)),
          features: view.features.map((f) => column(table, f.name)),
          eventTs: microsColumn(table, "event_timestamp"),
          createdTs: microsColumn(table, "created_timestamp"),
          timestampUnit: "us",
        },
        { rowOffset: offset },
      );
      const derivedRows = derived.map((od) => writeTimeRows(od, rows));
      offset += table.numRows;
      pending.push(
        Promise.all([
          deps.online.write(view.name, rows),
          ...derivedRows.map((r, d) => deps.online.write(onDemand[d]!.view, r)),
        ]).then(([result, ...others]) => {
          written += result!.written;
          skipped += result!.skipped;
          others.forEach((r, d) => {
            onDemand[d]!.written += r.written;
            onDemand[d]!.skipped += r.skipped;
          });
          done += rows.length;
          report("rows", done, latest.count);
        }, (error: unknown) => {
          if (!failed.yes) Object.assign(failed, { yes: true, error });
        }),
      );
    }
  } catch (err) {
    await Promise.all(pending);
    await iterator.return?.(undefined).catch(() => {});
    await latest.close().catch(() => {});
    throw err;
  }
  const tileRings = await backfillTiles(deps, view, shape, window);
  return {
    rows: done,
    written,
    skipped,
    nullKeyRows: latest.nullKeyRows,
    ...(derived.length > 0 ? { onDemand } : {}),
    ...(tileRings !== undefined ? { tileRings } : {}),
  };
}

/**
 * Rebuilds, from the batch source, the aggregation tiles that lie in the last longest window
 * before `end` (and after `start`): tiles k from the one holding `max(start, end − longest)` to
 * the one holding `end`, read whole (events of those tiles after `end` count too). Each rebuilt
 * tile replaces the stored one, so what was pushed before is not counted twice; tiles outside
 * the range, and entities without events in it, are left as they are.
 */
async function backfillTiles(
  deps: MaterializeDeps,
  view: FeatureViewSpec,
  shape: ViewShape,
  window: { start: Date; end: Date; batchRows: number; signal?: AbortSignal | undefined },
): Promise<number | undefined> {
  const layout = tileLayout(view);
  if (layout === undefined) return undefined;
  const doc = await deps.registry.read();
  const to = tileIndex(layout, window.end.getTime() * 1000);
  const from = Math.max(
    tileIndex(layout, window.start.getTime() * 1000),
    to - layout.ringTiles + 1,
  );
  const tileMs = layout.tileMicros / 1000;
  const offline = await deps.offline();
  const events = await offline.pullLatest({
    repoDir: deps.repoDir,
    view,
    source: viewBatchSource(doc, view),
    entities: view.entities.map((n) => findObject(doc, "entity", n)?.spec).filter(
      (e): e is EntitySpec => e !== undefined,
    ),
    start: new Date(from * tileMs),
    end: new Date((to + 1) * tileMs),
    batchRows: window.batchRows,
    allRows: true,
  });
  const nowMicros = (deps.now ?? (() => new Date()))().getTime() * 1000;
  const replace = { from, to };
  let rings = 0;
  let carry: OnlineRow[] = [];
  const flush = async (rows: readonly OnlineRow[]) => {
    const byEntity = new Map<string, OnlineRow["record"][]>();
    for (const row of rows) {
      const k = tileIndex(layout, row.record.eventMicros);
      if (k < from || k > to) continue;
      let list = byEntity.get(row.entityKey);
      if (!list) byEntity.set(row.entityKey, list = []);
      list.push(row.record);
    }
    const changes = new Map<string, RingChange>();
    for (const [key, list] of byEntity) {
      changes.set(key, { tiles: buildTiles(layout, list), replace });
    }
    if (changes.size > 0) {
      rings += (await changeRings(deps.online, layout, changes, { nowMicros })).rings;
    }
  };
  let offset = 0;
  for await (const table of events) {
    window.signal?.throwIfAborted();
    const rows = toOnlineRows(
      shape,
      {
        keys: shape.joinKeys.map((k) => column(table, k.name)),
        features: view.features.map((f) => column(table, f.name)),
        eventTs: microsColumn(table, "event_timestamp"),
        createdTs: microsColumn(table, "created_timestamp"),
        timestampUnit: "us",
      },
      { rowOffset: offset },
    );
    offset += table.numRows;
    // Rows come ordered by key: all but the batch's last entity are complete.
    const all = carry.concat(rows);
    const last = all.at(-1)?.entityKey;
    const cut = all.findIndex((r) => r.entityKey === last);
    carry = all.slice(cut);
    await flush(all.slice(0, cut));
  }
  await flush(carry);
  return rings;
}

async function run(
  deps: MaterializeDeps,
  views: readonly FeatureViewSpec[],
  windowOf: (view: FeatureViewSpec) => { start: Date; end: Date },
  options: MaterializeCommonOptions & {
    readonly signal?: AbortSignal | undefined;
    readonly verify?: VerifyLocks;
  },
  doc: RegistryDocument,
): Promise<MaterializeResult> {
  const now = deps.now ?? (() => new Date());
  const batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
  const writesInFlight = Math.max(1, options.writesInFlight ?? DEFAULT_WRITES_IN_FLIGHT);
  const results: ViewMaterialization[] = [];
  for (const [i, view] of views.entries()) {
    const { start, end } = windowOf(view);
    const began = performance.now();
    if (start.getTime() > end.getTime()) {
      results.push({
        view: view.name,
        start,
        end,
        rows: 0,
        written: 0,
        skipped: 0,
        nullKeyRows: 0,
        seconds: 0,
        emptyWindow: true,
      });
      continue;
    }
    const report = (phase: MaterializeProgress["phase"], rows: number, totalRows: number) =>
      options.onProgress?.({
        view: view.name,
        viewIndex: i + 1,
        viewCount: views.length,
        phase,
        rows,
        totalRows,
        elapsedMs: performance.now() - began,
        start,
        end,
      });
    let outcome: ViewOutcome;
    try {
      outcome = await materializeView(
        deps,
        doc,
        view,
        { start, end, batchRows, writesInFlight, signal: options.signal },
        report,
      );
      // A lost lock (broken by force, or expired): another run may be writing; record nothing.
      // The signal learns of a loss only at a renewal: ask the store now.
      await options.verify?.();
    } catch (err) {
      if (!isLarderError(err)) throw err;
      throw new LarderError(
        err.code,
        `Materialization of feature view "${view.name}" failed, and nothing was recorded for it (run it again: rows already written are skipped): ${err.message}`,
        { cause: err, ...(err.details ? { details: err.details } : {}) },
      );
    }
    report("done", outcome.rows, outcome.rows);
    await deps.registry.update((d) => ({
      ...d,
      materializations: {
        ...d.materializations,
        [view.name]: [
          ...(ownValue(d.materializations, view.name) ?? []),
          { start: start.toISOString(), end: end.toISOString(), recordedAt: now().toISOString() },
        ],
      },
    }));
    results.push({
      view: view.name,
      start,
      end,
      ...outcome,
      seconds: (performance.now() - began) / 1000,
      emptyWindow: false,
    });
  }
  return { views: results };
}

/**
 * Materializes `[start, end]` (inclusive) of every online view (or `views`): for each entity key,
 * the source row with the newest event timestamp (then the newest created timestamp) is written
 * to the online store unless the store holds a row at least as new. Rows stream from the
 * offline engine in batches. After all of a view's rows are written, the window is appended to
 * the view's materialization intervals in the registry; when anything fails (e.g. `UNAVAILABLE`:
 * the online store went away), the error names the view and nothing is recorded for it; running
 * again is safe. Views finished before the failure stay recorded. Where the online store has
 * `capabilities.locks`, the run holds a lock per view in the store: while another process
 * materializes one of the views, this fails at once with `CONFLICT` naming the view, the
 * holder (host, pid, since) and when its lock expires; `breakViewLocks` frees the lock of a
 * run that crashed. With `disableEventTimestamp` (Feast's `disable_event_timestamp`), the window
 * is from 1970-01-01T00:00:00Z to now.
 *
 * @example
 * ```ts ignore
 * await materialize({ registry, online, offline: () => store.offlineStore(), repoDir }, {
 *   start: new Date("2024-01-01T00:00:00Z"),
 *   end: new Date("2024-01-02T00:00:00Z"),
 *   onProgress: terminalProgress(),
 * });
 * ```
 */
export async function materialize(
  deps: MaterializeDeps,
  options: MaterializeOptions,
): Promise<MaterializeResult> {
  const window = options.disableEventTimestamp === true
    ? { start: new Date(0), end: (deps.now ?? (() => new Date()))() }
    : { start: options.start, end: options.end };
  checkWindow(window.start, window.end);
  return await locked(
    deps,
    options,
    (doc, views, locks) => run(deps, views, () => window, { ...options, ...locks }, doc),
  );
}

/**
 * Selects the views, holds their locks (`withViewLocks`: `CONFLICT` when another
 * materialization holds one), and runs `go` on the registry read again under the locks, so that
 * a run that ended meanwhile has recorded its window.
 */
async function locked(
  deps: MaterializeDeps,
  options: MaterializeCommonOptions,
  go: (
    doc: RegistryDocument,
    views: FeatureViewSpec[],
    locks: { readonly signal: AbortSignal | undefined; readonly verify: VerifyLocks },
  ) => Promise<MaterializeResult>,
): Promise<MaterializeResult> {
  const first = await deps.registry.read({ fresh: true });
  checkNotEmpty(first);
  const names = selectViews(first, options.views).map((v) => v.name);
  return await withViewLocks(
    deps.online,
    { views: names, ttlMs: options.lockTtlMs },
    async (signal, verify) => {
      const doc = await deps.registry.read({ fresh: true });
      return await go(doc, selectViews(doc, names), { signal, verify });
    },
  );
}

/**
 * The start of a view's next incremental window: the latest end among its recorded intervals;
 * without any, `now - ttl`; with a ttl of 0 (unlimited), `now - 52 weeks` (Feast's rules).
 */
export function incrementalStart(
  view: FeatureViewSpec,
  options: { readonly intervals: readonly Interval[]; readonly now: Date },
): Date {
  const { intervals, now } = options;
  if (intervals.length > 0) {
    return new Date(Math.max(...intervals.map((i) => parseTimestamp(i.end)?.getTime() ?? NaN)));
  }
  const lookbackMs = view.ttlSeconds > 0 ? view.ttlSeconds * 1000 : 52 * WEEK_MS;
  return new Date(now.getTime() - lookbackMs);
}

/**
 * Materializes every online view (or `views`) from where it was last materialized up to `end`
 * (see {@linkcode incrementalStart}). A view whose start is after `end` is left alone
 * (`emptyWindow: true`).
 *
 * @example
 * ```ts ignore
 * await materializeIncremental(deps, { end: new Date() });
 * ```
 */
export async function materializeIncremental(
  deps: MaterializeDeps,
  options: MaterializeIncrementalOptions,
): Promise<MaterializeResult> {
  checkWindow(options.end, options.end);
  return await locked(deps, options, (doc, views, locks) => {
    const now = (deps.now ?? (() => new Date()))();
    return run(
      deps,
      views,
      (view) => ({
        start: incrementalStart(view, {
          intervals: ownValue(doc.materializations, view.name) ?? [],
          now,
        }),
        end: options.end,
      }),
      { ...options, ...locks },
      doc,
    );
  });
}
