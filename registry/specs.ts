/**
 * The normalized form of every definition, as the registry document stores it.
 * Builders (see `definitions.ts`) turn what users write into these shapes.
 */
import { z } from "zod";
import type { Assert, Equals } from "./_zod.ts";
import { type AggregationSpec, AggregationSpecSchema } from "./aggregation.ts";
import { NameSchema } from "./names.ts";
import {
  type ScalarType,
  ScalarTypeSchema,
  type ValueType,
  ValueTypeSchema,
} from "./value_type.ts";

const Tags = z.record(z.string(), z.string());

/** Fields every object has. */
const Common = {
  name: NameSchema,
  description: z.string().default(""),
  tags: Tags.default({}),
  owner: z.string().default(""),
};

/** Fields every stored object has. */
export interface CommonSpec {
  /** The object's name, unique among objects of its kind. */
  name: string;
  /** Free text shown by the CLI, the registry API and the web UI. */
  description: string;
  /** Free key -> value labels. */
  tags: Record<string, string>;
  /** Who owns the object (often an email address). */
  owner: string;
}

/** A typed column. */
export interface FieldSpec {
  /** Column name. */
  name: string;
  /** Its value type. */
  type: ValueType;
}
const fieldSpec = z.object({ name: NameSchema, type: ValueTypeSchema });
/** Schema of a {@linkcode FieldSpec}. */
export const FieldSpecSchema: z.ZodType<FieldSpec> = fieldSpec;
type _FieldSpec = Assert<Equals<z.output<typeof fieldSpec>, FieldSpec>>;

/** An entity: the key that features are about. */
export interface EntitySpec extends CommonSpec {
  /** The columns that identify one entity. */
  joinKeys: string[];
  /** The value type of the join keys. */
  valueType: ScalarType;
}
const entitySpec = z.object({
  ...Common,
  joinKeys: z.array(NameSchema).min(1),
  valueType: ScalarTypeSchema,
});
/** Schema of an {@linkcode EntitySpec}. */
export const EntitySpecSchema: z.ZodType<EntitySpec> = entitySpec;
type _EntitySpec = Assert<Equals<z.output<typeof entitySpec>, EntitySpec>>;

/** File formats a file source can hold. */
export type FileFormat = "parquet" | "csv";
/** Schema of a {@linkcode FileFormat}. */
export const FileFormatSchema: z.ZodType<FileFormat, FileFormat> = z.enum(["parquet", "csv"]);

/** A batch source of files: a Parquet/CSV file, a glob of files, or a folder of Parquet files. */
export interface FileSourceSpec extends CommonSpec {
  /** Discriminates the kinds of data source. */
  kind: "file";
  /** A file, a glob or a folder, relative to the repo unless absolute. */
  path: string;
  /** The files' format. */
  format: FileFormat;
  /** The event-time column. */
  timestampField: string;
  /** The column saying when each row was written, which breaks ties on event time. */
  createdTimestampColumn?: string | undefined;
  /** File column -> feature or key name. */
  fieldMapping: Record<string, string>;
  /** CSV only: a strptime format for timestamp values that are not ISO 8601. */
  timestampFormat?: string | undefined;
}
const fileSourceSpec = z.object({
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
/** Schema of a {@linkcode FileSourceSpec}. */
export const FileSourceSpecSchema: z.ZodType<FileSourceSpec> = fileSourceSpec;
type _FileSourceSpec = Assert<Equals<z.output<typeof fileSourceSpec>, FileSourceSpec>>;

/**
 * A batch source in PostgreSQL (or a Postgres-wire warehouse): a table or a query, read by the
 * `postgres` offline store.
 */
export interface PostgresSourceSpec extends CommonSpec {
  /** Discriminates the kinds of data source. */
  kind: "postgres";
  /** A table or view, optionally schema-qualified (`analytics.driver_stats`); or `query`. */
  table?: string | undefined;
  /** A SELECT whose rows are the source (run as a subquery); or `table`. */
  query?: string | undefined;
  /** The event-time column. */
  timestampField: string;
  /** The column saying when each row was written, which breaks ties on event time. */
  createdTimestampColumn?: string | undefined;
  /** Source column -> feature or key name. */
  fieldMapping: Record<string, string>;
}
const postgresSourceSpec = z.object({
  ...Common,
  kind: z.literal("postgres"),
  table: z.string().min(1).optional(),
  query: z.string().min(1).optional(),
  timestampField: NameSchema,
  createdTimestampColumn: NameSchema.optional(),
  fieldMapping: z.record(z.string(), NameSchema).default({}),
});
/** Schema of a {@linkcode PostgresSourceSpec}. */
export const PostgresSourceSpecSchema: z.ZodType<PostgresSourceSpec> = postgresSourceSpec;
type _PostgresSourceSpec = Assert<Equals<z.output<typeof postgresSourceSpec>, PostgresSourceSpec>>;

/** A source that holds rows offline: files, or a PostgreSQL table or query. */
export type BatchSourceSpec = FileSourceSpec | PostgresSourceSpec;

/** A push source: rows pushed through the API, stored offline in its batch source. */
export interface PushSourceSpec extends CommonSpec {
  /** Discriminates the kinds of data source. */
  kind: "push";
  /** The file source that pushed rows are stored beside offline. */
  batchSource: string;
}
const pushSourceSpec = z.object({
  ...Common,
  kind: z.literal("push"),
  batchSource: NameSchema,
});
/** Schema of a {@linkcode PushSourceSpec}. */
export const PushSourceSpecSchema: z.ZodType<PushSourceSpec> = pushSourceSpec;
type _PushSourceSpec = Assert<Equals<z.output<typeof pushSourceSpec>, PushSourceSpec>>;

/** Brokers a stream source can read. */
export type StreamBroker = "redis" | "nats";

/**
 * How a stream's events are encoded: `fields`, the fields of a Redis Streams entry, one per
 * column (values are text, read as the declared types); `json`, one JSON object per event (the
 * message body on NATS, the entry's `data` field on Redis).
 */
export type StreamFormat = "fields" | "json";

/** A stream source: events read from a broker, stored offline in its batch source. */
export interface StreamSourceSpec extends CommonSpec {
  /** Discriminates the kinds of data source. */
  kind: "stream";
  /** The broker holding the stream. */
  broker: StreamBroker;
  /** The Redis stream key, or the NATS JetStream stream name. */
  stream: string;
  /** NATS only: the subject events are published on. */
  subject?: string | undefined;
  /** How events are encoded. */
  format: StreamFormat;
  /** The event field holding each event's event time. */
  timestampField: string;
  /** The file source that holds the events offline (backfill, historical retrieval). */
  batchSource: string;
  /** Where events that cannot be written go, with the reason: a stream of the same broker. */
  deadLetterStream: string;
}
const streamSourceSpec = z.object({
  ...Common,
  kind: z.literal("stream"),
  broker: z.enum(["redis", "nats"]),
  stream: z.string().min(1),
  subject: z.string().min(1).optional(),
  format: z.enum(["fields", "json"]),
  timestampField: NameSchema,
  batchSource: NameSchema,
  deadLetterStream: z.string().min(1),
});
/** Schema of a {@linkcode StreamSourceSpec}. */
export const StreamSourceSpecSchema: z.ZodType<StreamSourceSpec> = streamSourceSpec;
type _StreamSourceSpec = Assert<Equals<z.output<typeof streamSourceSpec>, StreamSourceSpec>>;

/** A request source: values that arrive with each request (for on-demand views). */
export interface RequestSourceSpec extends CommonSpec {
  /** Discriminates the kinds of data source. */
  kind: "request";
  /** The fields each request carries. */
  schema: FieldSpec[];
}
const requestSourceSpec = z.object({
  ...Common,
  kind: z.literal("request"),
  schema: z.array(fieldSpec).min(1),
});
/** Schema of a {@linkcode RequestSourceSpec}. */
export const RequestSourceSpecSchema: z.ZodType<RequestSourceSpec> = requestSourceSpec;
type _RequestSourceSpec = Assert<Equals<z.output<typeof requestSourceSpec>, RequestSourceSpec>>;

/** Any data source. */
export type DataSourceSpec =
  | FileSourceSpec
  | PostgresSourceSpec
  | PushSourceSpec
  | StreamSourceSpec
  | RequestSourceSpec;
/** Schema of a {@linkcode DataSourceSpec}. */
export const DataSourceSpecSchema: z.ZodType<DataSourceSpec> = z.discriminatedUnion("kind", [
  fileSourceSpec,
  postgresSourceSpec,
  pushSourceSpec,
  streamSourceSpec,
  requestSourceSpec,
]);

/** Where a stream feature view's processor writes the rows of its events. */
export type StreamDestination = "online" | "offline" | "both";

/** What makes a feature view a stream feature view. */
export interface StreamViewSpec {
  /** Where the stream processor writes rows: the online store, the batch source, or both. */
  writeTo: StreamDestination;
  /** SHA-256 of the transform's source text; absent: events are rows as they are. */
  transformHash?: string | undefined;
  /** The transform's source text, shown by the registry API and the web UI. */
  transformSource?: string | undefined;
}
const streamViewSpec = z.object({
  writeTo: z.enum(["online", "offline", "both"]),
  transformHash: z.string().optional(),
  transformSource: z.string().optional(),
});
/** Schema of a {@linkcode StreamViewSpec}. */
export const StreamViewSpecSchema: z.ZodType<StreamViewSpec> = streamViewSpec;
type _StreamViewSpec = Assert<Equals<z.output<typeof streamViewSpec>, StreamViewSpec>>;

/** A feature view: features of some entities, read from one source. */
export interface FeatureViewSpec extends CommonSpec {
  /** The entities the features describe (none for an entityless view). */
  entities: string[];
  /** Lookback in seconds; 0 means unlimited. */
  ttlSeconds: number;
  /** The features, in order. */
  features: FieldSpec[];
  /** The data source read. */
  source: string;
  /** Whether `materialize` copies the view to the online store. */
  online: boolean;
  /** Whether historical retrieval may read the view. */
  offline: boolean;
  /** Time-window aggregations of the features (absent: none). */
  aggregations?: AggregationSpec[] | undefined;
  /** The tile size of the online aggregations, in seconds (absent: no aggregations). */
  tileSeconds?: number | undefined;
  /** Present on stream feature views: what the stream processor does with their events. */
  stream?: StreamViewSpec | undefined;
}
const featureViewSpec = z.object({
  ...Common,
  entities: z.array(NameSchema),
  /** Lookback in seconds; 0 means unlimited. */
  ttlSeconds: z.number().nonnegative(),
  features: z.array(fieldSpec).min(1),
  source: NameSchema,
  online: z.boolean(),
  offline: z.boolean(),
  /** Time-window aggregations of the features (absent: none). */
  aggregations: z.array(AggregationSpecSchema).optional(),
  /** The tile size of the online aggregations, in seconds (absent: no aggregations). */
  tileSeconds: z.number().positive().optional(),
  stream: streamViewSpec.optional(),
});
/** Schema of a {@linkcode FeatureViewSpec}. */
export const FeatureViewSpecSchema: z.ZodType<FeatureViewSpec> = featureViewSpec;
type _FeatureViewSpec = Assert<Equals<z.output<typeof featureViewSpec>, FeatureViewSpec>>;

/** One input of an on-demand feature view: a feature view (projected) or a request source. */
export type OnDemandInput =
  | { kind: "featureView"; name: string; features: string[] }
  | { kind: "requestSource"; name: string };
const onDemandInput = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("featureView"), name: NameSchema, features: z.array(NameSchema) }),
  z.object({ kind: z.literal("requestSource"), name: NameSchema }),
]);
/** Schema of an {@linkcode OnDemandInput}. */
export const OnDemandInputSchema: z.ZodType<OnDemandInput> = onDemandInput;
type _OnDemandInput = Assert<Equals<z.output<typeof onDemandInput>, OnDemandInput>>;

/** An on-demand feature view: a TypeScript transform over other features and request data. */
export interface OnDemandFeatureViewSpec extends CommonSpec {
  /** What the transform reads, in order. */
  sources: OnDemandInput[];
  /** The transform's outputs. */
  features: FieldSpec[];
  /** SHA-256 of the transform's source text. */
  transformHash: string;
  /**
   * The transform's source text (`transform.toString()` when the view was defined), shown by
   * the registry API and the web UI. Absent in documents applied before it was recorded.
   */
  transformSource?: string | undefined;
  /** Whether the outputs are computed when rows are written online and then stored. */
  writeToOnlineStore: boolean;
}
const onDemandFeatureViewSpec = z.object({
  ...Common,
  sources: z.array(onDemandInput).min(1),
  features: z.array(fieldSpec).min(1),
  /** SHA-256 of the transform's source text. */
  transformHash: z.string(),
  /**
   * The transform's source text (`transform.toString()` when the view was defined), shown by
   * the registry API and the web UI. Absent in documents applied before it was recorded.
   */
  transformSource: z.string().optional(),
  writeToOnlineStore: z.boolean(),
});
/** Schema of an {@linkcode OnDemandFeatureViewSpec}. */
export const OnDemandFeatureViewSpecSchema: z.ZodType<OnDemandFeatureViewSpec> =
  onDemandFeatureViewSpec;
type _OnDemandFeatureViewSpec = Assert<
  Equals<z.output<typeof onDemandFeatureViewSpec>, OnDemandFeatureViewSpec>
>;

/**
 * A view and the subset of its features that a service uses; optionally under another name
 * (`view.withName()`: output columns `alias__feature`) and reading its join keys from other
 * entity columns (`view.withJoinKeyMap()`), so that one view can be joined more than once.
 */
export interface ProjectionSpec {
  /** The feature view projected. */
  view: string;
  /** The features used, in order. */
  features: string[];
  /** The name the projection's features go by; absent: the view's own name. */
  nameAlias?: string | undefined;
  /** The view's join key -> the entity column that holds its values; absent: no mapping. */
  joinKeyMap?: Record<string, string> | undefined;
}
const projectionSpec = z.object({
  view: NameSchema,
  features: z.array(NameSchema).min(1),
  /** The name the projection's features go by; absent: the view's own name. */
  nameAlias: NameSchema.optional(),
  /** The view's join key -> the entity column that holds its values; absent: no mapping. */
  joinKeyMap: z.record(NameSchema, NameSchema).optional(),
});
/** Schema of a {@linkcode ProjectionSpec}. */
export const ProjectionSpecSchema: z.ZodType<ProjectionSpec> = projectionSpec;
type _ProjectionSpec = Assert<Equals<z.output<typeof projectionSpec>, ProjectionSpec>>;

/**
 * Logging of what the feature server serves for a service (Feast's `LoggingConfig`): a sample
 * of the requests that name the service, written as Parquet parts under `destination.path`.
 */
export interface FeatureLoggingSpec {
  /** The share of requests logged, from 0 (none) to 1 (every request). */
  sampleRate: number;
  /** Where the parts go. */
  destination: {
    /** A folder, relative to the repo unless absolute; parts go to `date=YYYY-MM-DD/` in it. */
    path: string;
  };
}
const featureLoggingSpec = z.object({
  sampleRate: z.number().min(0).max(1),
  destination: z.object({ path: z.string().min(1) }),
});
/** Schema of a {@linkcode FeatureLoggingSpec}. */
export const FeatureLoggingSpecSchema: z.ZodType<FeatureLoggingSpec> = featureLoggingSpec;
type _FeatureLoggingSpec = Assert<Equals<z.output<typeof featureLoggingSpec>, FeatureLoggingSpec>>;

/** A feature service: a named set of features. */
export interface FeatureServiceSpec extends CommonSpec {
  /** The features, grouped by the view (and the name) they are read from. */
  projections: ProjectionSpec[];
  /** Logging of the features served for the service; absent: not logged. */
  logging?: FeatureLoggingSpec | undefined;
}
const featureServiceSpec = z.object({
  ...Common,
  projections: z.array(projectionSpec).min(1),
  logging: featureLoggingSpec.optional(),
});
/** Schema of a {@linkcode FeatureServiceSpec}. */
export const FeatureServiceSpecSchema: z.ZodType<FeatureServiceSpec> = featureServiceSpec;
type _FeatureServiceSpec = Assert<
  Equals<z.output<typeof featureServiceSpec>, FeatureServiceSpec>
>;

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
/** An action a permission grants. */
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
/** An object type a permission can cover. */
export type ResourceType = typeof RESOURCE_TYPES[number];

/** A permission: which roles may do which actions on which objects. */
export interface PermissionSpec extends CommonSpec {
  /** The object types covered. */
  types: ResourceType[];
  /** Regular expressions, one of which must match an object's whole name (none: every name). */
  namePatterns: string[];
  /** Tags an object must carry, all of them. */
  requiredTags: Record<string, string>;
  /** The actions granted. */
  actions: Action[];
  /** The roles granted them (any one suffices). */
  roles: string[];
}
const permissionSpec = z.object({
  ...Common,
  types: z.array(z.enum(RESOURCE_TYPES)).min(1),
  namePatterns: z.array(z.string()),
  requiredTags: Tags,
  actions: z.array(z.enum(ACTIONS)).min(1),
  roles: z.array(z.string()).min(1),
});
/** Schema of a {@linkcode PermissionSpec}. */
export const PermissionSpecSchema: z.ZodType<PermissionSpec> = permissionSpec;
type _PermissionSpec = Assert<Equals<z.output<typeof permissionSpec>, PermissionSpec>>;

/** The kinds of object the registry holds, in the order plans list them. */
export const OBJECT_KINDS = [
  "entity",
  "dataSource",
  "featureView",
  "onDemandFeatureView",
  "featureService",
  "permission",
] as const;
/** A kind of object the registry holds. */
export type ObjectKind = typeof OBJECT_KINDS[number];

/** The spec type of each kind. */
export interface SpecOf {
  /** Entities. */
  entity: EntitySpec;
  /** Data sources. */
  dataSource: DataSourceSpec;
  /** Feature views. */
  featureView: FeatureViewSpec;
  /** On-demand feature views. */
  onDemandFeatureView: OnDemandFeatureViewSpec;
  /** Feature services. */
  featureService: FeatureServiceSpec;
  /** Permissions. */
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
