/**
 * @module
 * The online store: the plug-in interface, its backends (SQLite, the embedded default; Deno KV,
 * embedded or on Deno Deploy; Redis over HTTP or TCP), locks shared through the store, canonical entity keys, value encoding,
 * online retrieval and direct writes.
 *
 * @example
 * ```ts ignore
 * import { getOnlineFeatures, SqliteOnlineStore } from "./mod.ts";
 * const online = await SqliteOnlineStore.open({ project: "demo", path: "data/online.sqlite" });
 * const res = await getOnlineFeatures({ registry, online }, {
 *   features: ["driver_hourly_stats:conv_rate"],
 *   entities: { driver_id: [1001, 1002] },
 * });
 * console.log(res.toRows());
 * ```
 */
export type {
  LockLease,
  OnlineKey,
  OnlineRecord,
  OnlineRow,
  OnlineStore,
  OnlineStoreCapabilities,
  OnlineWriteResult,
  StoredValue,
  ViewsWithData,
} from "./online_store.ts";
export { DenoKvOnlineStore, type DenoKvOnlineStoreOptions } from "./deno_kv_store.ts";
export { SqliteOnlineStore, type SqliteOnlineStoreOptions } from "./sqlite_store.ts";
export {
  currentHolder,
  describeHolder,
  holderEnded,
  type LockHolder,
  type LockState,
  processRunning,
} from "./lock_holder.ts";
export { type VerifyLocks, withLocks, type WithLocksOptions } from "./with_locks.ts";
export {
  decodeRedisRecord,
  encodeRedisRecord,
  REDIS_STORE_SCRIPTS,
  RedisOnlineStore,
  type RedisOnlineStoreOptions,
} from "./redis_store.ts";
export {
  createUpstashClient,
  type UpstashClientOptions,
  upstashCredentials,
  type UpstashRedis,
  UpstashTransport,
} from "./upstash_client.ts";
export {
  createRedisTransport,
  evalScriptCalls,
  isTcpRedisUrl,
  type PipelineEntry,
  redactRedisUrl,
  type RedisClusterView,
  type RedisCommand,
  redisFailure,
  type RedisScript,
  redisScript,
  type RedisTransport,
  type RedisTransportOptions,
  type ScriptCall,
  scriptSha1,
} from "./redis_transport.ts";
export {
  RedisClusterTransport,
  type RedisClusterTransportOptions,
} from "./redis_cluster_transport.ts";
export {
  CLUSTER_BUCKETS,
  CLUSTER_SLOTS,
  clusterBucket,
  clusterSlot,
  commandKey,
  parseClusterSlots,
  type SlotMap,
} from "./cluster_slot.ts";
export {
  canonicalKeyValue,
  entityKey,
  ENTITYLESS_KEY,
  type JoinKey,
  keyPart,
  viewJoinKeys,
} from "./entity_key.ts";
export {
  coerceValue,
  decodeValue,
  describeValue,
  encodeValue,
  fromBase64,
  INVALID,
  invalidReason,
  jsonValue,
  notOfType,
  rfc3339Micros,
  timestampMicros,
  type TimestampUnit,
  toBase64,
} from "./value_codec.ts";
export {
  type ColumnValues,
  newestPerKey,
  toOnlineRows,
  type ViewColumns,
  type ViewShape,
} from "./to_online_rows.ts";
export { viewBatchSource } from "../../registry/mod.ts";
export {
  documentOf,
  type EntityColumns,
  type EntityRows,
  getOnlineFeatures,
  type GetOnlineFeaturesRequest,
  type OnlineDeps,
} from "./get_online_features.ts";
export type { FeatureReference } from "../resolve_features.ts";
export {
  type FeatureStatus,
  type OnlineColumn,
  type OnlineFeaturesJson,
  OnlineFeaturesResponse,
} from "./online_response.ts";
export type { TransformLoader } from "../on_demand.ts";
export {
  commitOnlineWrite,
  type PreparedOnlineWrite,
  prepareOnlineRows,
  prepareOnlineWrite,
  writeOnline,
  type WriteOnlineDeps,
  type WriteOnlineResult,
} from "./write_online.ts";
export {
  buildTiles,
  changeRings,
  type RingChange,
  tileIndex,
  type TileLayout,
  tileLayout,
  tilesView,
  type TileWriteResult,
  writeTiles,
} from "./tiles.ts";
export { addToSketch, estimateSketch, HLL_STANDARD_ERROR, newSketch } from "./hyperloglog.ts";
export {
  loadWriteTimeViews,
  type OnDemandWriteResult,
  writeTimeRows,
  type WriteTimeView,
} from "./write_time_rows.ts";
