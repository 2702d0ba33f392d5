/**
 * The normalized form of every definition, as the registry document stores it.
 * Builders (see `definitions.ts`) turn what users write into these shapes.
 */
import { z } from "zod";
import { NameSchema } from "./names.ts";
import { ScalarTypeSchema, ValueTypeSchema } from "./value_type.ts";

const Tags = z.record(z.string(), z.string());

/** Fields every object has. */
const Common = {
  name: NameSchema,
  description: z.string().default(""),
  tags: Tags.default({}),
  owner: z.string().default(""),
};

/** A typed column. */
export const FieldSpecSchema = z.object({ name: NameSchema, type: ValueTypeSchema });
export type FieldSpec = z.infer<typeof FieldSpecSchema>;

/** An entity: the key that features are about. */
export const EntitySpecSchema = z.object({
  ...Common,
  joinKeys: z.array(NameSchema).min(1),
  valueType: ScalarTypeSchema,
});
export type EntitySpec = z.infer<typeof EntitySpecSchema>;

/** File formats a file source can hold. */
export const FileFormatSchema = z.enum(["parquet", "csv"]);
export type FileFormat = z.infer<typeof FileFormatSchema>;

/** A batch source of files: a Parquet/CSV file, a glob of files, or a folder of Parquet files. */
export const FileSourceSpecSchema = z.object({
  ...Common,
  kind: z.literal("file"),
  path: z.string().min(1),
  format: FileFormatSchema,
  timestampField: NameSchema,
  createdTimestampColumn: NameSchema.optional(),
  fieldMapping: z.record(z.string(), NameSchema).default({}),
  /** CSV only: a strptime format for timestamp values that are not ISO 8601. */
  timestampFormat: z.string().min(1).optional(),
});
export type FileSourceSpec = z.infer<typeof FileSourceSpecSchema>;

/** A push source: rows pushed through the API, stored offline in its batch source. */
export const PushSourceSpecSchema = z.object({
  ...Common,
  kind: z.literal("push"),
  batchSource: NameSchema,
});
export type PushSourceSpec = z.infer<typeof PushSourceSpecSchema>;

/** A request source: values that arrive with each request (for on-demand views). */
export const RequestSourceSpecSchema = z.object({
  ...Common,
  kind: z.literal("request"),
  schema: z.array(FieldSpecSchema).min(1),
});
export type RequestSourceSpec = z.infer<typeof RequestSourceSpecSchema>;

/** Any data source. */
export const DataSourceSpecSchema = z.discriminatedUnion("kind", [
  FileSourceSpecSchema,
  PushSourceSpecSchema,
  RequestSourceSpecSchema,
]);
export type DataSourceSpec = z.infer<typeof DataSourceSpecSchema>;

/** A feature view: features of some entities, read from one source. */
export const FeatureViewSpecSchema = z.object({
  ...Common,
  entities: z.array(NameSchema),
  /** Lookback in seconds; 0 means unlimited. */
  ttlSeconds: z.number().nonnegative(),
  features: z.array(FieldSpecSchema).min(1),
  source: NameSchema,
  online: z.boolean(),
  offline: z.boolean(),
});
export type FeatureViewSpec = z.infer<typeof FeatureViewSpecSchema>;

/** One input of an on-demand feature view: a feature view (projected) or a request source. */
export const OnDemandInputSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("featureView"), name: NameSchema, features: z.array(NameSchema) }),
  z.object({ kind: z.literal("requestSource"), name: NameSchema }),
]);
export type OnDemandInput = z.infer<typeof OnDemandInputSchema>;

/** An on-demand feature view: a TypeScript transform over other features and request data. */
export const OnDemandFeatureViewSpecSchema = z.object({
  ...Common,
  sources: z.array(OnDemandInputSchema).min(1),
  features: z.array(FieldSpecSchema).min(1),
  /** SHA-256 of the transform's source text. */
  transformHash: z.string(),
  /**
   * The transform's source text (`transform.toString()` when the view was defined), shown by
   * the registry API and the web UI. Absent in documents applied before it was recorded.
   */
  transformSource: z.string().optional(),
  writeToOnlineStore: z.boolean(),
});
export type OnDemandFeatureViewSpec = z.infer<typeof OnDemandFeatureViewSpecSchema>;

/**
 * A view and the subset of its features that a service uses; optionally under another name
 * (`view.withName()`: output columns `alias__feature`) and reading its join keys from other
 * entity columns (`view.withJoinKeyMap()`), so that one view can be joined more than once.
 */
export const ProjectionSpecSchema = z.object({
  view: NameSchema,
  features: z.array(NameSchema).min(1),
  /** The name the projection's features go by; absent: the view's own name. */
  nameAlias: NameSchema.optional(),
  /** The view's join key -> the entity column that holds its values; absent: no mapping. */
  joinKeyMap: z.record(NameSchema, NameSchema).optional(),
});
export type ProjectionSpec = z.infer<typeof ProjectionSpecSchema>;

/** A feature service: a named set of features. */
export const FeatureServiceSpecSchema = z.object({
  ...Common,
  projections: z.array(ProjectionSpecSchema).min(1),
});
export type FeatureServiceSpec = z.infer<typeof FeatureServiceSpecSchema>;

/** Actions a permission grants (Feast's). */
export const ACTIONS = [
  "CREATE",
  "DESCRIBE",
  "UPDATE",
  "DELETE",
  "READ_ONLINE",
  "READ_OFFLINE",
  "WRITE_ONLINE",
  "WRITE_OFFLINE",
] as const;
export type Action = typeof ACTIONS[number];

/** Object types a permission can cover. */
export const RESOURCE_TYPES = [
  "entity",
  "dataSource",
  "featureView",
  "onDemandFeatureView",
  "featureService",
  "permission",
] as const;
export type ResourceType = typeof RESOURCE_TYPES[number];

/** A permission: which roles may do which actions on which objects. */
export const PermissionSpecSchema = z.object({
  ...Common,
  types: z.array(z.enum(RESOURCE_TYPES)).min(1),
  namePatterns: z.array(z.string()),
  requiredTags: Tags,
  actions: z.array(z.enum(ACTIONS)).min(1),
  roles: z.array(z.string()).min(1),
});
export type PermissionSpec = z.infer<typeof PermissionSpecSchema>;

/** The kinds of object the registry holds, in the order plans list them. */
export const OBJECT_KINDS = [
  "entity",
  "dataSource",
  "featureView",
  "onDemandFeatureView",
  "featureService",
  "permission",
] as const;
export type ObjectKind = typeof OBJECT_KINDS[number];

/** The spec type of each kind. */
export interface SpecOf {
  entity: EntitySpec;
  dataSource: DataSourceSpec;
  featureView: FeatureViewSpec;
  onDemandFeatureView: OnDemandFeatureViewSpec;
  featureService: FeatureServiceSpec;
  permission: PermissionSpec;
}

/** Human names of each kind, for messages. */
export const KIND_LABEL: Record<ObjectKind, string> = {
  entity: "Entity",
  dataSource: "Data source",
  featureView: "Feature view",
  onDemandFeatureView: "On-demand feature view",
  featureService: "Feature service",
  permission: "Permission",
};
