/**
 * @module
 * Larder: a feature store for TypeScript and the edge.
 *
 * Define entities, sources, feature views and services in a feature repo, then `apply`
 * them to the registry, build point-in-time-correct training sets, materialize the latest
 * values into an online store and serve them.
 *
 * @example
 * ```ts
 * import { entity, featureService, featureView, fileSource } from "larder";
 *
 * export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
 * export const source = fileSource({
 *   name: "driver_stats_source",
 *   path: "data/driver_stats.parquet",
 *   timestampField: "event_timestamp",
 * });
 * export const stats = featureView({
 *   name: "driver_hourly_stats",
 *   entities: [driver],
 *   ttl: "2h",
 *   schema: { conv_rate: "float32" },
 *   source,
 * });
 * export const activity = featureService({ name: "driver_activity", features: [stats] });
 * ```
 */
export {
  type DataSource,
  type Entity,
  entity,
  type EntityInput,
  type FeatureRef,
  type FeatureSchema,
  type FeatureService,
  featureService,
  type FeatureServiceInput,
  type FeatureView,
  featureView,
  type FeatureViewInput,
  type FeatureViewProjection,
  type FileSource,
  fileSource,
  type FileSourceInput,
  isLarderError,
  LarderError,
  type LarderErrorCode,
  type OnDemandFeatureView,
  onDemandFeatureView,
  type Permission,
  permission,
  type PermissionInput,
  type ProjectionTarget,
  type PushSource,
  pushSource,
  type PushSourceInput,
  type RequestSource,
  requestSource,
  type RequestSourceInput,
  type TransformColumns,
  type ValueOf,
  type ValueType,
} from "./registry/mod.ts";
export {
  type ApplyOptions,
  type ApplyResult,
  type Columns,
  type EntityColumns,
  type EntityInput as EntityTableInput,
  type EntityRows,
  FeatureStore,
  type FeatureStoreOptions,
  type GetOnlineFeaturesRequest,
  type HistoricalFeaturesOptions,
  type LarderConfig,
  type MaterializeProgress,
  type MaterializeResult,
  type OnlineFeaturesResponse,
  parseTimestamp,
  type PlanResult,
  type RetrievalJob,
  type RetrievalStage,
  timestampError,
  writeTable,
} from "./engine/mod.ts";
