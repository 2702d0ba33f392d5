/**
 * Online window aggregations from tiles. Per entity and view, the online store keeps a ring of
 * tiles: tile k holds intermediate values (count, sum, sum of squares, min, max, the last value
 * with its time, a HyperLogLog sketch) of the events with event time in (k·S, (k+1)·S], S the
 * view's tile size. A read at T merges the tiles k = e − W/S … e − 1 where e = ⌈T / S⌉: the
 * value at T's tile end, exact when T is on a tile boundary.
 *
 * The ring is one record under its own key (view `<view>#tiles`, the entity's key), so a read
 * of it travels in the same store call as the latest values. Its `eventMicros` is a version:
 * a writer reads the ring, merges, and writes version + 1 with its own token; the store's
 * skip-if-not-newer write then lets only one of two racing writers land, and the other retries.
 */
import {
  type AggregationSpec,
  type FeatureViewSpec,
  LarderError,
  type ValueType,
} from "../../registry/mod.ts";
import type {
  OnlineKey,
  OnlineRecord,
  OnlineRow,
  OnlineStore,
  StoredValue,
} from "./online_store.ts";
import { decodeValue, encodeValue } from "./value_codec.ts";
import {
  addToSketch,
  decodeSketch,
  encodeSketch,
  estimateSketch,
  mergeSketch,
  newSketch,
  type Sketch,
} from "./hyperloglog.ts";

/** The store "view" that holds the tile rings of feature view `view`. */
export function tilesView(view: string): string {
  return `${view}#tiles`;
}

/** One aggregated column of a view's tiles. */
interface TileColumn {
  readonly name: string;
  readonly type: ValueType;
  /** Whether its tiles keep a sketch (some aggregation counts distinct values). */
  readonly sketch: boolean;
}

/** How a view's tiles are laid out. */
export interface TileLayout {
  readonly view: string;
  readonly tileMicros: number;
  /** Tiles in the longest window. */
  readonly ringTiles: number;
  readonly columns: readonly TileColumn[];
  /** Identifies the layout: a ring written under another one is not read. */
  readonly signature: string;
}

/** The tile layout of a view with aggregations, else `undefined`. */
export function tileLayout(view: FeatureViewSpec): TileLayout | undefined {
  const aggregations = view.aggregations ?? [];
  if (aggregations.length === 0 || view.tileSeconds === undefined) return undefined;
  const columns: TileColumn[] = [];
  for (const a of aggregations) {
    const type = view.features.find((f) => f.name === a.column)?.type ?? "float64";
    const found = columns.find((c) => c.name === a.column);
    const sketch = a.function === "approx_count_distinct";
    if (found) {
      if (sketch && !found.sketch) columns[columns.indexOf(found)] = { ...found, sketch };
    } else columns.push({ name: a.column, type, sketch });
  }
  const longest = Math.max(...aggregations.map((a) => a.windowSeconds));
  return {
    view: view.name,
    tileMicros: view.tileSeconds * 1e6,
    ringTiles: longest / view.tileSeconds,
    columns,
    signature: JSON.stringify([view.tileSeconds, columns.map((c) => [c.name, c.type, c.sketch])]),
  };
}

/** Intermediate values of one column in one tile. */
interface ColumnTile {
  n: number;
  sum: number;
  sq: number;
  min: unknown;
  max: unknown;
  last: unknown;
  lastT: number;
  lastC: number | null;
  /** The stored (encoded) last value, written back as it came. */
  lastStored: StoredValue;
  minStored: StoredValue;
  maxStored: StoredValue;
  sketch: Sketch | null;
}

/** One tile: its index and one entry per layout column. */
interface Tile {
  readonly k: number;
  readonly columns: ColumnTile[];
}

/** A stored tile, decoded when first needed (a write leaves most tiles as they are). */
interface StoredTile {
  readonly k: number;
  readonly raw: StoredValue;
  decoded?: Tile | undefined;
}

/** A ring as read from the store. */
export interface Ring {
  readonly version: number;
  readonly token: string | null;
  /** Tiles by index. */
  readonly tiles: Map<number, StoredTile>;
}

function decoded(layout: TileLayout, tile: StoredTile): Tile {
  tile.decoded ??= decodeTile(layout, tile.raw) ??
    { k: tile.k, columns: layout.columns.map((c) => emptyColumn(c.sketch)) };
  return tile.decoded;
}

/** One event to merge: its time and its values (stored form) by column. */
export interface TileEvent {
  readonly eventMicros: number;
  readonly createdMicros: number | null;
  readonly values: Readonly<Record<string, StoredValue>>;
}

/** Index of the tile holding event time `micros`: tiles are (k·S, (k+1)·S]. */
export function tileIndex(layout: TileLayout, micros: number): number {
  return Math.ceil(micros / layout.tileMicros) - 1;
}

function compareTyped(a: unknown, b: unknown): number {
  if (a instanceof Date && b instanceof Date) return a.getTime() - b.getTime();
  if (typeof a === "string" && typeof b === "string") {
    // Code-point order (UTF-8 byte order, as DuckDB compares strings).
    if (a === b) return 0;
    const ia = a[Symbol.iterator]();
    const ib = b[Symbol.iterator]();
    for (;;) {
      const x = ia.next();
      const y = ib.next();
      if (x.done || y.done) return x.done ? (y.done ? 0 : -1) : 1;
      const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
      if (d !== 0) return d;
    }
  }
  if (typeof a === "boolean" && typeof b === "boolean") return Number(a) - Number(b);
  const x = Number(a);
  const y = Number(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function emptyColumn(sketch: boolean): ColumnTile {
  return {
    n: 0,
    sum: 0,
    sq: 0,
    min: null,
    max: null,
    last: null,
    lastT: -Infinity,
    lastC: null,
    lastStored: null,
    minStored: null,
    maxStored: null,
    sketch: sketch ? newSketch() : null,
  };
}

/** Whether (t, c, v) comes after the column tile's last value. */
function isLater(tile: ColumnTile, t: number, c: number | null, v: unknown): boolean {
  if (tile.n === 0 || t > tile.lastT) return true;
  if (t < tile.lastT) return false;
  const a = c ?? -Infinity;
  const b = tile.lastC ?? -Infinity;
  if (a !== b) return a > b;
  return compareTyped(v, tile.last) > 0;
}

function addValue(
  tile: ColumnTile,
  column: TileColumn,
  stored: StoredValue,
  t: number,
  c: number | null,
): void {
  const v = decodeValue(stored, column.type);
  if (v === null || v === undefined) return;
  tile.n++;
  if (typeof v === "number" || typeof v === "bigint") {
    const x = Number(v);
    tile.sum += x;
    tile.sq += x * x;
  }
  if (tile.n === 1 || compareTyped(v, tile.min) < 0) [tile.min, tile.minStored] = [v, stored];
  if (tile.n === 1 || compareTyped(v, tile.max) > 0) [tile.max, tile.maxStored] = [v, stored];
  if (isLater(tile, t, c, v)) {
    [tile.last, tile.lastStored, tile.lastT, tile.lastC] = [v, stored, t, c];
  }
  // The typed value's stored form: the same text whichever path wrote it (a float32 pushed as
  // 0.1 and read back from Parquet as float32(0.1) are one value).
  if (tile.sketch) addToSketch(tile.sketch, JSON.stringify(encodeValue(v, column.type)));
}

function mergeColumn(into: ColumnTile, from: ColumnTile): void {
  if (from.n === 0) return;
  if (into.n === 0 || compareTyped(from.min, into.min) < 0) {
    [into.min, into.minStored] = [from.min, from.minStored];
  }
  if (into.n === 0 || compareTyped(from.max, into.max) > 0) {
    [into.max, into.maxStored] = [from.max, from.maxStored];
  }
  if (isLater(into, from.lastT, from.lastC, from.last)) {
    [into.last, into.lastStored, into.lastT, into.lastC] = [
      from.last,
      from.lastStored,
      from.lastT,
      from.lastC,
    ];
  }
  into.n += from.n;
  into.sum += from.sum;
  into.sq += from.sq;
  if (into.sketch && from.sketch) mergeSketch(into.sketch, from.sketch);
}

/** Encoded tile: `[k, ...columns]`, a column `[n, sum, sq, min, max, last, lastT, lastC, sketch]`. */
function encodeTile(tile: Tile): StoredValue {
  return [
    tile.k,
    ...tile.columns.map((c): StoredValue => [
      c.n,
      c.sum,
      c.sq,
      c.minStored,
      c.maxStored,
      c.lastStored,
      c.n === 0 ? null : c.lastT,
      c.lastC,
      c.sketch ? encodeSketch(c.sketch) : null,
    ]),
  ];
}

function decodeTile(layout: TileLayout, stored: StoredValue): Tile | undefined {
  if (!Array.isArray(stored) || typeof stored[0] !== "number") return undefined;
  const columns = layout.columns.map((column, i): ColumnTile => {
    const raw = stored[i + 1];
    if (!Array.isArray(raw)) return emptyColumn(column.sketch);
    const [n, sum, sq, min, max, last, lastT, lastC, sketch] = raw;
    const num = (v: StoredValue | undefined) => (typeof v === "number" ? v : 0);
    const stored3 = (v: StoredValue | undefined): StoredValue => (v === undefined ? null : v);
    return {
      n: num(n),
      sum: num(sum),
      sq: num(sq),
      min: decodeValue(stored3(min), column.type),
      max: decodeValue(stored3(max), column.type),
      last: decodeValue(stored3(last), column.type),
      lastT: typeof lastT === "number" ? lastT : -Infinity,
      lastC: typeof lastC === "number" ? lastC : null,
      lastStored: stored3(last),
      minStored: stored3(min),
      maxStored: stored3(max),
      sketch: column.sketch
        ? (typeof sketch === "string" ? decodeSketch(sketch) : newSketch())
        : null,
    };
  });
  return { k: stored[0], columns };
}

/** The ring in a stored record (`null`: none, or written under another layout). */
export function decodeRing(layout: TileLayout, record: OnlineRecord | null): Ring | null {
  if (record === null || record.values.s !== layout.signature) return null;
  const tiles = new Map<number, StoredTile>();
  const stored = record.values.t;
  if (Array.isArray(stored)) {
    for (const raw of stored) {
      if (Array.isArray(raw) && typeof raw[0] === "number") tiles.set(raw[0], { k: raw[0], raw });
    }
  }
  const token = record.values.w;
  return { version: record.eventMicros, token: typeof token === "string" ? token : null, tiles };
}

/** Of events with the same event time, those with the greatest created time (NULL lowest). */
function dedupEvents(events: readonly TileEvent[]): TileEvent[] {
  const newest = new Map<number, number>();
  for (const e of events) {
    const c = e.createdMicros ?? -Infinity;
    const seen = newest.get(e.eventMicros);
    if (seen === undefined || c > seen) newest.set(e.eventMicros, c);
  }
  if (newest.size === events.length) return [...events];
  return events.filter((e) => (e.createdMicros ?? -Infinity) === newest.get(e.eventMicros));
}

/** The tiles of `events` (deduplicated among themselves), by index. */
export function buildTiles(layout: TileLayout, events: readonly TileEvent[]): Map<number, Tile> {
  const tiles = new Map<number, Tile>();
  for (const e of dedupEvents(events)) {
    const k = tileIndex(layout, e.eventMicros);
    let tile = tiles.get(k);
    if (!tile) {
      tile = { k, columns: layout.columns.map((c) => emptyColumn(c.sketch)) };
      tiles.set(k, tile);
    }
    layout.columns.forEach((column, i) => {
      const stored = e.values[column.name];
      if (stored !== undefined && stored !== null) {
        addValue(tile!.columns[i]!, column, stored, e.eventMicros, e.createdMicros);
      }
    });
  }
  return tiles;
}

/** A tile of a changed ring: as stored (untouched), or changed. */
type NextTile = { readonly k: number; readonly raw: StoredValue } | Tile;

/**
 * The ring's tiles, encoded in order, without those older than the ring (no read at or after
 * `nowMicros` uses them).
 */
function pruned(
  layout: TileLayout,
  tiles: Map<number, NextTile>,
  nowMicros: number,
): StoredValue[] {
  let newest = -Infinity;
  for (const k of tiles.keys()) newest = Math.max(newest, k);
  const top = Math.min(newest, tileIndex(layout, nowMicros));
  return [...tiles.values()].filter((t) => t.k > top - layout.ringTiles).sort((a, b) => a.k - b.k)
    .map((t) => ("raw" in t ? t.raw : encodeTile(t)));
}

/** How a ring changes: tiles merged in, or (materialize) tiles of a range replaced. */
export interface RingChange {
  readonly tiles: Map<number, Tile>;
  /** Tiles with an index in `[from, to]` are replaced by `tiles` (absent: merged). */
  readonly replace?: { readonly from: number; readonly to: number } | undefined;
}

function changed(layout: TileLayout, ring: Ring | null, change: RingChange): Map<number, NextTile> {
  const out = new Map<number, NextTile>();
  for (const [k, tile] of ring?.tiles ?? []) {
    if (change.replace && k >= change.replace.from && k <= change.replace.to) continue;
    out.set(k, tile);
  }
  for (const [k, tile] of change.tiles) {
    const had = out.get(k);
    if (!had) {
      out.set(k, tile);
      continue;
    }
    // A fresh decode (the ring was read for this attempt): merged into, then encoded again.
    const merged = decodeTile(layout, "raw" in had ? had.raw : encodeTile(had)) ??
      { k, columns: layout.columns.map((c) => emptyColumn(c.sketch)) };
    merged.columns.forEach((c, i) => mergeColumn(c, tile.columns[i]!));
    out.set(k, merged);
  }
  return out;
}

const MAX_ATTEMPTS = 20;

/**
 * Applies tile changes to the rings of some entities of one view, atomically per ring: read
 * the rings, change them, write each as version + 1; a ring another writer replaced meanwhile
 * (the write was skipped) is read and changed again.
 */
export async function changeRings(
  online: OnlineStore,
  layout: TileLayout,
  changes: ReadonlyMap<string, RingChange>,
  options: { readonly nowMicros: number },
): Promise<{ readonly rings: number }> {
  const store = tilesView(layout.view);
  let pending = [...changes.keys()];
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt >= MAX_ATTEMPTS) {
      throw new LarderError(
        "CONFLICT",
        `Cannot update the aggregation tiles of feature view "${layout.view}": ${pending.length} entities kept changing under ${MAX_ATTEMPTS} attempts`,
      );
    }
    const keys: OnlineKey[] = pending.map((entityKey) => ({ view: store, entityKey }));
    const records = await online.read(keys);
    const token = crypto.randomUUID();
    const rows: OnlineRow[] = pending.map((entityKey, i) => {
      const record = records[i] ?? null;
      const ring = decodeRing(layout, record);
      const tiles = pruned(
        layout,
        changed(layout, ring, changes.get(entityKey)!),
        options.nowMicros,
      );
      return {
        entityKey,
        record: {
          // A ring of another layout is replaced too: its version still orders the writes.
          eventMicros: (record?.eventMicros ?? 0) + 1,
          createdMicros: null,
          values: { s: layout.signature, w: token, t: tiles },
        },
      };
    });
    const result = await online.write(store, rows);
    if (result.skipped === 0) break;
    const after = await online.read(keys);
    pending = pending.filter((_, i) => {
      const stored = after[i];
      return !(stored && stored.eventMicros === rows[i]!.record.eventMicros &&
        stored.values.w === token);
    });
  }
  return { rings: changes.size };
}

/** The value of aggregation `a` from a ring, read at `nowMicros`, and its newest event time. */
export function aggregateRing(
  layout: TileLayout,
  ring: Ring | null,
  a: AggregationSpec,
  nowMicros: number,
): { value: unknown; eventMicros: number | null } {
  const empty = a.function === "count" || a.function === "approx_count_distinct" ? 0 : null;
  if (ring === null) return { value: empty, eventMicros: null };
  const i = layout.columns.findIndex((c) => c.name === a.column);
  const column = layout.columns[i]!;
  const end = Math.ceil(nowMicros / layout.tileMicros);
  const from = end - (a.windowSeconds * 1e6) / layout.tileMicros;
  const total = emptyColumn(column.sketch && a.function === "approx_count_distinct");
  for (const [k, tile] of ring.tiles) {
    if (k >= from && k < end) mergeColumn(total, decoded(layout, tile).columns[i]!);
  }
  const eventMicros = total.n > 0 ? total.lastT : null;
  const n = total.n;
  switch (a.function) {
    case "count":
      return { value: n, eventMicros };
    case "approx_count_distinct":
      return { value: total.sketch ? estimateSketch(total.sketch) : 0, eventMicros };
    case "sum":
      return { value: n === 0 ? null : total.sum, eventMicros };
    case "mean":
      return { value: n === 0 ? null : total.sum / n, eventMicros };
    case "min":
      return { value: n === 0 ? null : total.min, eventMicros };
    case "max":
      return { value: n === 0 ? null : total.max, eventMicros };
    case "last":
      return { value: n === 0 ? null : total.last, eventMicros };
    case "var":
    case "stddev": {
      if (n < 2) return { value: null, eventMicros };
      const v = Math.max(0, (total.sq - (total.sum * total.sum) / n) / (n - 1));
      return { value: a.function === "var" ? v : Math.sqrt(v), eventMicros };
    }
  }
}

/** What {@linkcode writeTiles} did. */
export interface TileWriteResult {
  /** Entities whose tile rings changed. */
  readonly rings: number;
}

/**
 * Merges rows of a feature view (as built for the online store: one per event) into the tile
 * rings of their entities: the update that `push`, `writeOnline` and a stream processor make
 * for every event. Of rows with the same entity and event time only those with the greatest
 * created time count (among these rows; rows merged by an earlier write are not revisited).
 * Rows older than the ring (before now − the longest window) change nothing. A view without
 * aggregations: nothing to do.
 */
export async function writeTiles(
  online: OnlineStore,
  view: FeatureViewSpec,
  rows: readonly OnlineRow[],
  options: { readonly now?: Date | undefined } = {},
): Promise<TileWriteResult> {
  const layout = tileLayout(view);
  if (layout === undefined || rows.length === 0) return { rings: 0 };
  const byEntity = new Map<string, TileEvent[]>();
  for (const row of rows) {
    let events = byEntity.get(row.entityKey);
    if (!events) byEntity.set(row.entityKey, events = []);
    events.push(row.record);
  }
  const changes = new Map<string, RingChange>();
  for (const [entityKey, events] of byEntity) {
    changes.set(entityKey, { tiles: buildTiles(layout, events) });
  }
  const nowMicros = (options.now ?? new Date()).getTime() * 1000;
  return await changeRings(online, layout, changes, { nowMicros });
}
