/**
 * @module
 * Definitions and the registry document: the builders users call in their feature repo,
 * the normalized specs, the repo-wide checks, the plan diff and the registry backends.
 *
 * @example
 * ```ts
 * import { entity, FileRegistryBackend, Registry } from "./mod.ts";
 * const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
 * const registry = new Registry(new FileRegistryBackend("/tmp/registry.json"), { project: "demo" });
 * ```
 */
export {
  isLarderError,
  isUserError,
  LarderError,
  type LarderErrorCode,
  type LarderErrorOptions,
} from "./errors.ts";
export {
  elementType,
  SCALAR_TYPES,
  type ScalarType,
  ScalarTypeSchema,
  type ScalarValue,
  type ValueOf,
  type ValueType,
  ValueTypeSchema,
} from "./value_type.ts";
export { DurationSchema, NameSchema, parseDuration } from "./names.ts";
export { type Assert, type Equals, formatIssues, formatPath } from "./_zod.ts";
export { closestName, didYouMean } from "./suggest.ts";

export {
  type Action,
  ACTIONS,
  type BatchSourceSpec,
  type CommonSpec,
  type DataSourceSpec,
  type EntitySpec,
  type FeatureLoggingSpec,
  type FeatureServiceSpec,
  type FeatureViewSpec,
  type FieldSpec,
  type FileFormat,
  type FileSourceSpec,
  KIND_LABEL,
  OBJECT_KINDS,
  type ObjectKind,
  type OnDemandFeatureViewSpec,
  type OnDemandInput,
  type PermissionSpec,
  type PostgresSourceSpec,
  type ProjectionSpec,
  type PushSourceSpec,
  type RequestSourceSpec,
  RESOURCE_TYPES,
  type ResourceType,
  type SpecOf,
  type StreamBroker,
  type StreamDestination,
  type StreamFormat,
  type StreamSourceSpec,
  type StreamViewSpec,
} from "./specs.ts";
export {
  type CommonInput,
  DEFINITION,
  type Definition,
  isDefinition,
} from "./definitions/_definition.ts";
export { type Entity, entity, type EntityInput } from "./definitions/entity.ts";
export {
  type DataSource,
  type FileSource,
  fileSource,
  type FileSourceInput,
  type PostgresSource,
  postgresSource,
  type PostgresSourceInput,
  type PushSource,
  pushSource,
  type PushSourceInput,
  type RequestSource,
  requestSource,
  type RequestSourceInput,
} from "./definitions/data_source.ts";
export {
  type AggregatedSchema,
  type AggregationInput,
  type AggregationName,
  type FeatureRef,
  featureRef,
  type FeatureSchema,
  type FeatureView,
  featureView,
  type FeatureViewInput,
  type FeatureViewProjection,
  MAX_TILES_PER_WINDOW,
  type ProjectionTarget,
  type WithAggregations,
} from "./definitions/feature_view.ts";
export {
  AGGREGATION_FUNCTIONS,
  type AggregationFunction,
  aggregationOf,
  type AggregationSpec,
  AggregationSpecSchema,
  type AggregationType,
  aggregationType,
  type NumericValueType,
  viewFields,
} from "./aggregation.ts";
export {
  type StreamSource,
  streamSource,
  type StreamSourceInput,
} from "./definitions/stream_source.ts";
export {
  type EventColumns,
  type StreamFeatureView,
  streamFeatureView,
  type StreamFeatureViewInput,
  type StreamTransform,
} from "./definitions/stream_feature_view.ts";
export {
  type FeatureLoggingInput,
  type FeatureService,
  featureService,
  type FeatureServiceInput,
  type ServiceFeature,
} from "./definitions/feature_service.ts";
export {
  type ActionInput,
  expandActions,
  type Permission,
  permission,
  type PermissionInput,
} from "./definitions/permission.ts";
export { checkRepo, type FoundDefinition, type RepoContents } from "./repo_contents.ts";
export {
  describeProjection,
  joinKeyColumn,
  joinKeyMapKey,
  joinKeyMapProblems,
  projectionName,
  type ProjectionTargetSpec,
} from "./projection.ts";
export { canonicalJson, sha256Hex, specHash } from "./canonical.ts";
export {
  emptyDocument,
  findObject,
  FORMAT_VERSION,
  type Interval,
  type ObjectMeta,
  objectOf,
  type RegistryDocument,
  RegistryDocumentSchema,
  type StoredObject,
  withNameMaps,
} from "./document.ts";
export {
  holdsReservedName,
  nameMap,
  ownValue,
  refuseReservedName,
  RESERVED_NAME,
} from "./name_map.ts";
export type { RegistryBackend, StoredText } from "./backend.ts";
export { FileRegistryBackend } from "./file_backend.ts";
export { Registry, type RegistryObject, type RegistryOptions } from "./registry.ts";
export {
  applyPlan,
  type ChangeAction,
  type FieldChange,
  type ObjectChange,
  type Plan,
  planChanges,
} from "./plan.ts";
export { atomicWriteFile } from "./atomic_write.ts";
export {
  fileSystemFailure,
  type FileSystemFailureOptions,
  fileSystemRefusal,
} from "./fs_errors.ts";
export {
  type Columns as TransformColumns,
  type InputSchema,
  type OnDemandFeatureView,
  onDemandFeatureView,
  type OnDemandFeatureViewInput,
  type OnDemandSource,
  type SchemaOfSource,
  type Transform,
  transformHash,
  type UnionToIntersection,
} from "./definitions/on_demand_feature_view.ts";
export { hasBatchSource, viewBatchSource } from "./view_source.ts";
