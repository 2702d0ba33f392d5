/**
 * @module
 * The offline engine: reading file sources (Parquet, CSV), point-in-time (historical)
 * retrieval and the materialization read, on DuckDB-WASM (the default) or native DuckDB
 * (`engine: "native"`: every core, spilling to disk).
 *
 * @example
 * ```ts ignore
 * import { DuckDBOfflineStore } from "./mod.ts";
 * const store = new DuckDBOfflineStore({ memoryLimit: "2GB" });
 * const job = await store.getHistoricalFeatures({
 *   repoDir: "/repo",
 *   entityTable: [{ driver_id: 1001, event_timestamp: new Date("2024-01-02T00:00:00Z") }],
 *   views: [{ view, source, entities: [driver], features: ["conv_rate"] }],
 * });
 * console.log(await job.toRows());
 * await store.close();
 * ```
 */
export type {
  CheckSourceOptions,
  OfflineStore,
  SourceColumn,
  SourceReader,
} from "./offline_store.ts";
export { DuckDBOfflineStore, type DuckDBOfflineStoreOptions } from "./duckdb_store.ts";
export {
  DuckDB,
  type DuckDBEngine,
  type DuckDBMode,
  type DuckDBOptions,
  DuckDBSession,
} from "./duckdb.ts";
export {
  encodeParquet,
  type ParquetReadOptions,
  type ParquetWriteOptions,
  readParquetFile,
  readParquetSchema,
  writeParquetFile,
} from "./parquet.ts";
export {
  classifySourcePath,
  isGlob,
  pushedPartsFolder,
  resolveSourceFiles,
  type SourcePath,
} from "./source_files.ts";
export { type FileColumn, fileColumns } from "./file_columns.ts";
export { checkSourceCompatibility, joinKeysOf, sourceLayout } from "./source_compatibility.ts";
export type {
  BatchOptions,
  EntityInput,
  EntityTableQuery,
  HistoricalQuery,
  HistoricalQueryBase,
  RetrievalJob,
  ViewRequest,
  WindowBound,
  WindowQuery,
} from "./historical_query.ts";
export type { LatestRows, PullLatestOptions } from "./pull_latest.ts";
export { writeBatches } from "./_writers.ts";
export { batchColumn, batchRows, tableFromRows } from "./_values.ts";
export { inferTimestampColumn, type TimestampCandidate } from "./_load.ts";
export {
  checkEntityColumns,
  type EntityTableColumn,
  planOutputs,
  projectionOf,
  requestName,
  windowMicros,
} from "./historical.ts";
export { requireSourceKind } from "./source_kind.ts";
export { CREATED_TIMESTAMP_COLUMN, EVENT_TIMESTAMP_COLUMN } from "./pull_latest.ts";
