/** The plug-in point for the offline engine (historical retrieval, source reads). */
import type { Table } from "apache-arrow";
import type {
  BatchSourceSpec,
  EntitySpec,
  FeatureViewSpec,
  ValueType,
} from "../../registry/mod.ts";
import type { HistoricalQuery, RetrievalJob } from "./historical_query.ts";
import type { LatestRows, PullLatestOptions } from "./pull_latest.ts";

/** A column of a source file as stored (before `fieldMapping`). */
export interface SourceColumn {
  /** The column's name in the file. */
  readonly name: string;
  /** The engine's own type name, for messages (e.g. `DOUBLE`, `TIMESTAMP WITH TIME ZONE`). */
  readonly physicalType: string;
  /** The closest Larder value type, or `undefined` when there is none. */
  readonly valueType: ValueType | undefined;
  /**
   * The values are text (CSV), read as whatever type the view declares: any declared type
   * fits the column, and each value is checked when it is read.
   */
  readonly textual?: boolean;
  /** Why the column cannot be read at all (a float16 column), for messages. */
  readonly unreadable?: string;
  /** The file the column was described from (Parquet: a source's first file). */
  readonly file?: string;
}

/** A feature view that reads a source, with the specs of its entities. */
export interface SourceReader {
  /** The feature view's spec. */
  readonly view: FeatureViewSpec;
  /** The specs of the view's entities. */
  readonly entities: readonly EntitySpec[];
}

/**
 * What {@linkcode OfflineStore.checkSource} checks: one view (`view`, `entities`), or several
 * views of one source (`views`), whose files are then read once for all of them.
 */
export type CheckSourceOptions<S extends BatchSourceSpec = BatchSourceSpec> =
  & {
    readonly repoDir: string;
    /** The views' batch source (for a push source, the push source's batch source). */
    readonly source: S;
  }
  & (SourceReader | { readonly views: readonly SourceReader[] });

/**
 * An offline engine. Implementations pass `tests/contracts/offline_store_contract.ts`.
 * Paths in source specs are relative to `repoDir`.
 */
export interface OfflineStore {
  /**
   * Columns of a batch source; throws `SOURCE_INVALID` when it is missing or unreadable, or
   * is of a kind this store does not read.
   */
  describeSource(source: BatchSourceSpec, repoDir: string): Promise<SourceColumn[]>;
  /**
   * Every problem that stops the view (or views) from reading `source`, as messages: missing
   * or mistyped columns (see `checkSourceCompatibility`), and for text formats (CSV) the first
   * value that does not parse as declared, reading every row once. Throws `SOURCE_INVALID`
   * when the files are missing or unreadable.
   */
  checkSource(options: CheckSourceOptions): Promise<string[]>;
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
