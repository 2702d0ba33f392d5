/** `writeOnline`: writes rows of one feature view straight to the online store (push, write-to-online). */
import {
  type FeatureViewSpec,
  LarderError,
  objectOf,
  ownValue,
  refuseReservedName,
  type Registry,
  type RegistryDocument,
  viewBatchSource,
} from "../../registry/mod.ts";
import { viewJoinKeys } from "./entity_key.ts";
import { documentOf, type EntityColumns, type EntityRows } from "./get_online_features.ts";
import type { OnlineRow, OnlineStore, OnlineWriteResult } from "./online_store.ts";
import { type ColumnValues, newestPerKey, toOnlineRows } from "./to_online_rows.ts";
import { describeValue } from "./value_codec.ts";
import { type TileWriteResult, writeTiles } from "./tiles.ts";
import { loadWriteTimeViews, type OnDemandWriteResult, writeTimeRows } from "./write_time_rows.ts";
import type { TransformLoader } from "../on_demand.ts";

/** What {@linkcode writeOnline} needs. */
export interface WriteOnlineDeps {
  /** The registry, or a document already read from it. */
  readonly registry: Registry | RegistryDocument;
  readonly online: OnlineStore;
  /**
   * Loads on-demand transforms (from the definitions); needed only when the view feeds
   * on-demand views that write to the online store.
   */
  readonly transforms?: TransformLoader | undefined;
  /**
   * The clock that aggregation tiles are kept against (tiles older than the longest window
   * before now are dropped).
   * @default {() => new Date()}
   */
  readonly now?: (() => Date) | undefined;
}

/** What {@linkcode writeOnline} did. */
export interface WriteOnlineResult extends OnlineWriteResult {
  /** Distinct entity keys among the given rows (the newest row of each was offered). */
  readonly rows: number;
  /** Rows of the on-demand views that write to the online store (only when the view has some). */
  readonly onDemand?: readonly OnDemandWriteResult[];
  /** Entities whose aggregation tiles changed (only when the view has aggregations). */
  readonly tiles?: TileWriteResult;
}

/** Rows per call to the store. */
const CHUNK_ROWS = 10_000;

function viewOf(doc: RegistryDocument, name: string): FeatureViewSpec {
  return objectOf(doc, "featureView", name).spec;
}

function asColumns(data: EntityColumns | EntityRows): EntityColumns {
  if (Array.isArray(data)) {
    const rows = data as EntityRows;
    const bad = rows.findIndex((row) => row === null || typeof row !== "object");
    if (bad >= 0) {
      throw new LarderError(
        "INPUT_INVALID",
        `Row ${bad} is ${
          describeValue(rows[bad])
        }: rows must be objects such as { driver_id: 1001 }`,
      );
    }
    for (const row of rows) refuseReservedName(row, "column");
    const names = new Set(rows.flatMap((row) => Object.keys(row)));
    return Object.fromEntries([...names].map((n) => [n, rows.map((row) => row[n])]));
  }
  const columns = data as EntityColumns;
  refuseReservedName(columns, "column");
  const lengths = new Set(Object.values(columns).map((c) => (Array.isArray(c) ? c.length : -1)));
  if (lengths.has(-1) || lengths.size > 1) {
    throw new LarderError(
      "INPUT_INVALID",
      `Columns must be arrays of one length (${
        Object.entries(columns).map(([n, v]) => `${n}: ${Array.isArray(v) ? v.length : typeof v}`)
          .join(", ")
      })`,
    );
  }
  return columns;
}

/**
 * Writes rows of a feature view to the online store, skip-if-not-newer (a row replaces the
 * stored one only when its event timestamp is later). The data holds the view's join keys, every
 * feature (by feature name, or by the source column that `fieldMapping` renames to it) and the
 * source's timestamp column (its created-timestamp column optionally); other columns are
 * ignored. Several rows of one key: the newest is written. Throws `INPUT_INVALID` naming a
 * missing column or a value that does not fit its declared type; nothing is written then.
 *
 * On-demand views that write to the online store and read this view get their outputs for the
 * same rows (same keys and timestamps, skip-if-not-newer too). Their transforms run before
 * anything is written, so a failing transform (`DEFINITION_INVALID`) writes nothing.
 *
 * @example
 * ```ts ignore
 * await writeOnline({ registry, online }, "driver_hourly_stats", {
 *   driver_id: [1001],
 *   event_timestamp: [new Date()],
 *   conv_rate: [0.5],
 *   acc_rate: [0.9],
 * });
 * ```
 */
export async function writeOnline(
  deps: WriteOnlineDeps,
  viewName: string,
  data: EntityColumns | EntityRows,
): Promise<WriteOnlineResult> {
  return await commitOnlineWrite(deps.online, await prepareOnlineWrite(deps, viewName, data), {
    now: deps.now,
  });
}

/**
 * The rows {@linkcode writeOnline} would write, checked and with the write-time on-demand
 * outputs computed, before anything is written: a writer of several views prepares all of
 * them first, so that bad data or a failing transform for one writes none.
 */
export interface PreparedOnlineWrite {
  /** The feature view. */
  readonly view: string;
  /** Its spec. */
  readonly spec: FeatureViewSpec;
  /** Every given row (for the view's aggregation tiles). */
  readonly events: readonly OnlineRow[];
  /** Its rows, the newest per entity key. */
  readonly rows: readonly OnlineRow[];
  /** The rows of its write-time on-demand views. */
  readonly derived: readonly { readonly view: string; readonly rows: readonly OnlineRow[] }[];
}

/** Checks the data and runs write-time transforms for {@linkcode writeOnline}; writes nothing. */
export async function prepareOnlineWrite(
  deps: Omit<WriteOnlineDeps, "online">,
  viewName: string,
  data: EntityColumns | EntityRows,
): Promise<PreparedOnlineWrite> {
  const doc = await documentOf(deps.registry);
  const view = onlineViewOf(doc, viewName);
  const source = viewBatchSource(doc, view);
  const joinKeys = viewJoinKeys(doc, view);
  const columns = asColumns(data);
  const renamedFrom = new Map(Object.entries(source.fieldMapping).map(([from, to]) => [to, from]));
  const missing: string[] = [];
  const column = (name: string, required: boolean): ColumnValues | undefined => {
    const found = ownValue(columns, name) ?? ownValue(columns, renamedFrom.get(name) ?? "");
    if (!found && required) missing.push(name);
    return found;
  };
  const keys = joinKeys.map((k) => column(k.name, true));
  const features = view.features.map((f) => column(f.name, true));
  const eventTs = column(source.timestampField, true);
  const createdTs = source.createdTimestampColumn
    ? column(source.createdTimestampColumn, false)
    : undefined;
  if (missing.length > 0) {
    const have = Object.keys(columns).map((n) => `"${n}"`);
    throw new LarderError(
      "INPUT_INVALID",
      `Cannot write to feature view "${viewName}": missing ${
        missing.length === 1 ? "column" : "columns"
      } ${missing.map((n) => `"${n}"`).join(", ")}; the data has ${
        have.length === 0 ? "no columns" : have.join(", ")
      }`,
      { details: { view: viewName, missing } },
    );
  }
  const events = toOnlineRows(
    { name: viewName, joinKeys, features: view.features },
    {
      keys: keys as ColumnValues[],
      features: features as ColumnValues[],
      eventTs: eventTs!,
      createdTs,
    },
    { timestampColumn: source.timestampField },
  );
  return await preparedOf(doc, view, events, deps.transforms);
}

/**
 * {@linkcode prepareOnlineWrite} for rows already checked and encoded by their caller (the
 * stream processor, which reads each event's fields as their declared types once, as
 * `toOnlineRows` would): the view is checked, the values are not. Input from outside the
 * engine goes through {@linkcode prepareOnlineWrite}.
 */
export async function prepareOnlineRows(
  deps: Omit<WriteOnlineDeps, "online">,
  viewName: string,
  events: readonly OnlineRow[],
): Promise<PreparedOnlineWrite> {
  const doc = await documentOf(deps.registry);
  return await preparedOf(doc, onlineViewOf(doc, viewName), events, deps.transforms);
}

function onlineViewOf(doc: RegistryDocument, viewName: string): FeatureViewSpec {
  const view = viewOf(doc, viewName);
  if (!view.online) {
    throw new LarderError(
      "INPUT_INVALID",
      `Feature view "${viewName}" is not served online (online: false)`,
    );
  }
  return view;
}

async function preparedOf(
  doc: RegistryDocument,
  view: FeatureViewSpec,
  events: readonly OnlineRow[],
  transforms: TransformLoader | undefined,
): Promise<PreparedOnlineWrite> {
  const rows = newestPerKey(events);
  const derived = (await loadWriteTimeViews(doc, view, transforms))
    .map((od) => ({ view: od.spec.name, rows: writeTimeRows(od, rows) }));
  return { view: view.name, spec: view, events, rows, derived };
}

/** Writes what {@linkcode prepareOnlineWrite} prepared, skip-if-not-newer. */
export async function commitOnlineWrite(
  online: OnlineStore,
  prepared: PreparedOnlineWrite,
  options: { readonly now?: (() => Date) | undefined } = {},
): Promise<WriteOnlineResult> {
  const { spec: view, events, rows, derived } = prepared;
  const own = await writeChunks(online, prepared.view, rows);
  const onDemand: OnDemandWriteResult[] = [];
  for (const d of derived) {
    onDemand.push({ view: d.view, ...await writeChunks(online, d.view, d.rows) });
  }
  // Every event (not only the newest per key) goes into the tiles.
  const tiles = view.aggregations?.length
    ? await writeTiles(online, view, events, { now: options.now?.() })
    : undefined;
  return {
    rows: rows.length,
    ...own,
    ...(derived.length > 0 ? { onDemand } : {}),
    ...(tiles ? { tiles } : {}),
  };
}

async function writeChunks(
  online: OnlineStore,
  view: string,
  rows: readonly OnlineRow[],
): Promise<OnlineWriteResult> {
  let written = 0;
  let skipped = 0;
  for (let i = 0; i < rows.length; i += CHUNK_ROWS) {
    const result = await online.write(view, rows.slice(i, i + CHUNK_ROWS));
    written += result.written;
    skipped += result.skipped;
  }
  return { written, skipped };
}
