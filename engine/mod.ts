/**
 * @module
 * The engine shared by the CLI and the server: configuration, definition loading and
 * `FeatureStore`. The offline engine (DuckDB) is loaded lazily, never on the online path.
 *
 * @example
 * ```ts
 * import { FeatureStore } from "./mod.ts";
 * const store = await FeatureStore.open({ repo: "examples/driver_repo" });
 * console.log((await store.plan()).plan.hasChanges);
 * await store.close();
 * ```
 */
export {
  type AuthConfig,
  configFromObject,
  type DuckDBOfflineStoreConfig,
  type FeatureLogConfig,
  FeatureLogConfigSchema,
  type FeatureServerConfig,
  type LarderConfig,
  LarderConfigSchema,
  loadConfig,
  type OfflineStoreConfig,
  type OnlineStoreConfig,
  parseConfig,
  type PostgresOfflineStoreConfig,
  type RegistryConfig,
} from "./config.ts";
export {
  definitionModules,
  loadDefinitions,
  type LoadedDefinitions,
} from "./definitions_loader.ts";
export {
  type ApplyOptions,
  type ApplyResult,
  FeatureStore,
  type FeatureStoreOptions,
  type OnlineRequest,
  type PlanResult,
} from "./feature_store.ts";
export type {
  AnyFeatureRef,
  ColumnName,
  EntityColumnsOf,
  FeatureColumns,
  FeatureListMember,
  FeaturesRow,
  HistoricalRow,
  MemberColumns,
  SchemaColumns,
  ServiceColumns,
  Simplify,
  TypedRequest,
  TypedRetrievalJob,
  TypedRow,
} from "./typed_rows.ts";
export { createRegistryBackend } from "./registry_backends.ts";
// For edge entries (server/edge.ts, server/workers.ts): Redis over HTTP only.
export { requireHttpRedis } from "./online_factory.ts";
export { type Columns, writeBatches, writeTable } from "./table_writer.ts";
export type {
  CheckSourceOptions,
  EntityTableQuery,
  HistoricalQuery,
  HistoricalQueryBase,
  LatestRows,
  OfflineStore,
  PullLatestOptions,
  SourceColumn,
  SourceReader,
  ViewRequest,
  WindowBound,
  WindowQuery,
} from "./offline/mod.ts";
export type {
  FeatureStatus,
  LockHolder,
  LockLease,
  LockState,
  OnDemandWriteResult,
  OnlineKey,
  OnlineRecord,
  OnlineRow,
  OnlineStore,
  OnlineStoreCapabilities,
  OnlineWriteResult,
  StoredValue,
  TileWriteResult,
  ViewsWithData,
} from "./online/mod.ts";
export type { ObjectStoreConfig } from "./object_store/mod.ts";
export {
  type Action,
  type Assert,
  closestName,
  didYouMean,
  type Equals,
  type FieldChange,
  fileSystemFailure,
  fileSystemRefusal,
  findObject,
  formatIssues,
  formatPath,
  isLarderError,
  isUserError,
  KIND_LABEL,
  LarderError,
  type LarderErrorCode,
  type ObjectChange,
  type ObjectKind,
  ownValue,
  type Plan,
  type RegistryDocument,
  type RegistryObject,
  RESERVED_NAME,
} from "../registry/mod.ts";
export {
  assertPermitted,
  decide,
  type Decision,
  forbidden,
  grantsAnyAction,
  permittedResources,
  type Principal,
  type Resource,
  rolesText,
} from "./permissions.ts";
export { readResources, viewReadResources } from "./read_resources.ts";
// For the feature server (server/): online reads and writes; materialization is loaded on first
// use (it pulls in apache-arrow, which the online path must not load).
export { getOnlineFeatures, writeOnline } from "./online/mod.ts";
export { loadMaterialize } from "./lazy.ts";
// Feature logging (the feature server's): Arrow and parquet-wasm load on the first logged read.
export {
  defaultLogSinks,
  FeatureLogger,
  type FeatureLoggerOptions,
  type FeatureLogSchema,
  featureLogSchema,
  type FeatureLogStats,
  LocalLogSink,
  LOG_DATE_COLUMN,
  LOG_TIMESTAMP_COLUMN,
  type LogSink,
  type LogSinkFactory,
  REQUEST_ID_COLUMN,
  type ServedRead,
  STATUS_CODES,
} from "./feature_logging/mod.ts";
// For the Redis HTTP bridge (server/redis_http/): the Lua scripts it lets through by default.
export { LARDER_REDIS_SCRIPTS, scriptSha1 } from "./redis_scripts.ts";
// For the bridge in front of a Redis Cluster: the slot rule and the slot map.
export {
  CLUSTER_SLOTS,
  clusterSlot,
  commandKey,
  parseClusterSlots,
  type SlotMap,
} from "./online/mod.ts";
export { ShapeCache } from "./shape_cache.ts";
export {
  parseTimestamp,
  parseTimestampMicros,
  parseWindowBound,
  timestampError,
  timestampProblem,
} from "./timestamps.ts";
export { type ColumnData, pushOffline } from "./push_offline.ts";
export { pushRows } from "./push_rows.ts";
export type { HistoricalFeaturesOptions } from "./historical_retrieval.ts";
export type { BatchOptions, EntityInput, RetrievalJob } from "./offline/historical_query.ts";
export type { RetrievalStage, StageListener } from "./offline/_pit_sql.ts";
export type { FeatureReference, ResolvedRequest } from "./resolve_features.ts";
export type { LoadedTransform } from "./on_demand.ts";
export type {
  EntityColumns,
  EntityRows,
  GetOnlineFeaturesRequest,
  OnlineColumn,
  OnlineFeaturesJson,
  OnlineFeaturesResponse,
  WriteOnlineResult,
} from "./online/mod.ts";
export type {
  BrokenViewLock,
  MaterializeProgress,
  MaterializeResult,
  MaterializeWindow,
  ViewMaterialization,
} from "./materialize/mod.ts";
export type { TransformLoader } from "./on_demand.ts";
export {
  consumerGroup,
  StreamMetrics,
  type StreamOptions,
  streamProgressLine,
  type StreamResult,
  streamTerminalProgress,
  type ViewStreamStats,
} from "./streaming/mod.ts";
export type {
  BrokerCapabilities,
  BrokerLag,
  BrokerOptions,
  DeadLetter,
  DeadLetterRecord,
  StreamBroker,
  StreamEntry,
} from "./streaming/mod.ts";
export type { StreamingConfig } from "./config.ts";
