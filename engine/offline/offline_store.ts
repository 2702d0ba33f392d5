/** The plug-in point for the offline engine (historical retrieval, source reads). */
import type { Table } from "apache-arrow";
import type { FileSourceSpec, ValueType } from "../../registry/mod.ts";
import type { HistoricalQuery, RetrievalJob } from "./historical_query.ts";
import type { LatestRows, PullLatestOptions } from "./pull_latest.ts";

/** A column of a source file as stored (before `fieldMapping`). */
export interface SourceColumn {
  readonly name: string;
  /** The engine's own type name, for messages (e.g. `DOUBLE`, `TIMESTAMP WITH TIME ZONE`). */
  readonly physicalType: string;
  /** The closest Larder value type, or `undefined` when there is none. */
  readonly valueType: ValueType | undefined;
}

/**
 * An offline engine. Implementations pass `tests/contracts/offline_store_contract.ts`.
 * Paths in source specs are relative to `repoDir`.
 */
export interface OfflineStore {
  /** Columns of a file source; throws `SOURCE_INVALID` when files are missing or unreadable. */
  describeSource(source: FileSourceSpec, repoDir: string): Promise<SourceColumn[]>;
  /**
   * Point-in-time retrieval (or, with `start`/`end`, the latest values in a window).
   * Validates the query now (`NOT_FOUND`, `INPUT_INVALID`, `SOURCE_INVALID`) and returns a
   * lazy job.
   */
  getHistoricalFeatures(query: HistoricalQuery): Promise<RetrievalJob>;
  /** The materialization read: the newest row per entity key in `[start, end]`, in batches. */
  pullLatest(options: PullLatestOptions): Promise<LatestRows>;
  /** Makes Arrow data queryable by name from `{ sql }` entity inputs (replaces a table of that name). */
  registerTable(name: string, data: Table | Uint8Array): Promise<void>;
  /** Releases the engine (WASM memory, workers). */
  close(): Promise<void>;
}
