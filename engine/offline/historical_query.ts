/** What a point-in-time (historical) retrieval asks for, and the job it returns. */
import type { RecordBatch, Table } from "apache-arrow";
import type { BatchSourceSpec, EntitySpec, FeatureViewSpec } from "../../registry/mod.ts";
import type { StageListener } from "./_pit_sql.ts";

/**
 * The entity table ("entity dataframe"): entity key columns plus an event timestamp column.
 *
 * - a path to a `.parquet` or `.csv` file, relative to the repo (`repoDir`) unless absolute,
 *   as every path in the definitions and `larder.yaml` is;
 * - an Arrow table (from this project's `apache-arrow`);
 * - an array of row objects (`{ driver_id: 1001, event_timestamp: new Date(...) }`): numbers
 *   that are all integers become BIGINT, other numbers DOUBLE, `Date` a timestamp;
 * - `{ sql }`: a DuckDB query, which may read files (`read_csv('…')`) or tables registered
 *   with `OfflineStore.registerTable`.
 */
export type EntityInput =
  | string
  | Table
  | readonly Readonly<Record<string, unknown>>[]
  | { readonly sql: string };

/**
 * One feature view of a request, resolved by the caller. `S` narrows the sources an engine
 * reads (DuckDB: files).
 */
export interface ViewRequest<S extends BatchSourceSpec = BatchSourceSpec> {
  /** The feature view's spec. */
  readonly view: FeatureViewSpec;
  /** The view's batch source (for a push source, the push source's batch source). */
  readonly source: S;
  /** The specs of the view's entities (others are ignored). */
  readonly entities: readonly EntitySpec[];
  /** Requested feature names, in request order. */
  readonly features: readonly string[];
  /**
   * The name the features go by (output columns `name__feature` with full feature names): a
   * projection's alias.
   * @default {view.name}
   */
  readonly name?: string;
  /**
   * The view's join key -> the entity-table column that holds its values (a projection's
   * join-key map); unmapped keys are read from the column of their own name.
   */
  readonly joinKeyMap?: Readonly<Record<string, string>>;
}

/** Options shared by both kinds of historical query. */
export interface HistoricalQueryBase<S extends BatchSourceSpec = BatchSourceSpec> {
  /** The feature repository: source paths and an entity file path are relative to it. */
  readonly repoDir: string;
  /** The feature views read, in output order. */
  readonly views: readonly ViewRequest<S>[];
  /**
   * Name output columns `view__feature` instead of `feature`.
   * @default {false}
   */
  readonly fullFeatureNames?: boolean;
  /**
   * Also require `created_ts <= entity_ts` (rows with a NULL created timestamp drop out).
   * Uses a slower plan (a range join) than the default.
   * @default {false}
   */
  readonly filterByCreatedTimestamp?: boolean;
  /** Told where each run of the job is (loading or joining which view, then output). */
  readonly onStage?: StageListener;
}

/** Point-in-time join against an entity table. */
export interface EntityTableQuery<S extends BatchSourceSpec = BatchSourceSpec>
  extends HistoricalQueryBase<S> {
  /** The entity table: a file path, an Arrow table, row objects, or `{ sql }`. */
  readonly entityTable: EntityInput;
  /**
   * The entity table's event timestamp column.
   * @default {"event_timestamp", or the only timestamp column}
   */
  readonly timestampColumn?: string;
}

/**
 * A bound of a window: a `Date` (milliseconds), or epoch microseconds as a `bigint` (source
 * timestamps have microseconds: an inclusive end of `…00.000500Z` keeps a row at `.0005`).
 */
export type WindowBound = Date | bigint;

/**
 * Retrieval without an entity table: for every entity key seen in `[start, end]` (inclusive),
 * the latest value of each view as of `end` (views' ttl does not apply: the window replaces it).
 * Output: the join keys of all views, `event_timestamp` (= `end`), then the features.
 */
export interface WindowQuery<S extends BatchSourceSpec = BatchSourceSpec>
  extends HistoricalQueryBase<S> {
  /** The window's start (inclusive). */
  readonly start: WindowBound;
  /** The window's end (inclusive). */
  readonly end: WindowBound;
}

/** A historical retrieval. */
export type HistoricalQuery<S extends BatchSourceSpec = BatchSourceSpec> =
  | EntityTableQuery<S>
  | WindowQuery<S>;

/** Options for streaming a job's result. */
export interface BatchOptions {
  /**
   * Upper bound on rows per batch (DuckDB produces batches of up to 2048 rows; they are
   * yielded as they come, so this only splits larger ones).
   */
  readonly batchRows?: number;
}

/**
 * The result of a historical retrieval, computed lazily: each call runs the query in a fresh
 * DuckDB session that is closed when it finishes, so a job holds no engine memory between calls.
 * Output: the entity table's columns unchanged and in order, then the features in request order.
 */
export interface RetrievalJob {
  /** Output column names, in order. */
  readonly columns: readonly string[];
  /** The whole result as an Arrow table. */
  toArrow(): Promise<Table>;
  /**
   * The whole result as row objects (timestamps as `Date`; 64-bit integers as `number`, or
   * `bigint` beyond 2^53).
   */
  toRows(): Promise<Record<string, unknown>[]>;
  /**
   * Writes the result to a `.parquet`, `.csv` or `.json` file (by extension), streaming, through
   * a temporary file renamed at the end: no partial file is left on failure. A relative `path`
   * is relative to the repo, as the entity table's path is (not to the working folder).
   */
  write(path: string): Promise<{ rows: number }>;
  /** The result as a stream of Arrow record batches, in entity-table order. */
  batches(options?: BatchOptions): AsyncIterable<RecordBatch>;
}
