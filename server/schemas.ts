/**
 * The HTTP bodies, defined once: the handlers validate with these schemas and
 * `/openapi.json` is generated from them.
 */
import { z } from "zod";
import { parseTimestamp, timestampError } from "../engine/mod.ts";

export { parseTimestamp };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** An object, feature or column name. */
export const NameSchema = z.string().max(256).regex(NAME, {
  error: (iss) =>
    `invalid name ${
      JSON.stringify(String(iss.input).slice(0, 80))
    }: use letters, digits and "_", not starting with a digit`,
});

/** A JSON scalar as a cell value. */
export const ScalarSchema = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** One cell: a scalar, or a list of scalars for list-typed features. */
export const CellSchema = z.union([ScalarSchema, z.array(ScalarSchema)]);

/** A column-major table: column name -> one value per row. */
export const ColumnsSchema = z.record(NameSchema, z.array(CellSchema)).meta({
  description:
    "Column name -> one value per row (all columns the same length). int64 values beyond ±9007199254740991 (2^53 - 1) go as decimal strings: JSON numbers that large are not exact and are refused",
  example: { driver_id: [1001, 1002], event_timestamp: ["2021-04-12T10:59:42Z", null] },
});

/** A timestamp as RFC 3339 text; without an offset it is UTC. */
export const TimestampSchema = z.string().max(64).refine(
  (s) => parseTimestamp(s) !== undefined,
  { error: (iss) => timestampError(String(iss.input), "an RFC 3339 timestamp") },
).meta({ format: "date-time", example: "2021-04-12T10:59:42Z" });

/** `POST /get-online-features`. */
export const GetOnlineFeaturesBodySchema = z.strictObject({
  features: z.array(z.string().min(1).max(512)).min(1).max(10_000).optional().meta({
    description: '`"view:feature"` references; give either this or `feature_service`',
    example: ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"],
  }),
  feature_service: NameSchema.optional().meta({ description: "A feature service name" }),
  entities: ColumnsSchema.meta({
    description: "Join key (and request data) columns, one value per entity row",
    example: { driver_id: [1001, 1002] },
  }),
  full_feature_names: z.boolean().default(false).meta({
    description: "Name output columns `view__feature` instead of `feature`",
  }),
}).refine((b) => (b.features === undefined) !== (b.feature_service === undefined), {
  error: 'expected exactly one of "features" and "feature_service"',
});
export type GetOnlineFeaturesBody = z.output<typeof GetOnlineFeaturesBodySchema>;

/** Serving statuses, as in Feast's `ServingService.proto`. */
export const StatusSchema = z.enum(["PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE"]);

/** The answer of `POST /get-online-features`: column-major, entity columns first. */
export const OnlineFeaturesResponseSchema = z.object({
  metadata: z.object({ feature_names: z.array(z.string()) }),
  results: z.array(z.object({
    values: z.array(z.unknown()),
    statuses: z.array(StatusSchema),
    event_timestamps: z.array(z.string().meta({ format: "date-time" })),
  })),
});
export type OnlineFeaturesResponse = z.output<typeof OnlineFeaturesResponseSchema>;

/** Where `/push` writes. */
export const PushTargetSchema = z.enum(["online", "offline", "online_and_offline"]);
export type PushTarget = z.output<typeof PushTargetSchema>;

/** `POST /push`. */
export const PushBodySchema = z.strictObject({
  push_source_name: NameSchema,
  df: ColumnsSchema,
  to: PushTargetSchema.default("online"),
  allow_registry_cache: z.boolean().optional().meta({
    description: "Accepted for Feast compatibility; the registry is always served from cache",
  }),
  transform_on_write: z.boolean().optional().meta({
    description: "Accepted for Feast compatibility; ignored",
  }),
});
export type PushBody = z.output<typeof PushBodySchema>;

/** `POST /write-to-online-store`. */
export const WriteToOnlineStoreBodySchema = z.strictObject({
  feature_view_name: NameSchema,
  df: ColumnsSchema,
  allow_registry_cache: z.boolean().optional(),
  transform_on_write: z.boolean().optional(),
});
export type WriteToOnlineStoreBody = z.output<typeof WriteToOnlineStoreBodySchema>;

/** The answer of `/push` and `/write-to-online-store`. */
export const WriteResponseSchema = z.object({
  feature_views: z.array(z.string()),
  rows: z.number().int(),
  online: z.object({ written: z.number().int(), skipped: z.number().int() }).optional(),
  offline: z.object({ files: z.array(z.string()) }).optional(),
});
export type WriteResponse = z.output<typeof WriteResponseSchema>;

/** `POST /materialize`. */
export const MaterializeBodySchema = z.strictObject({
  start_ts: TimestampSchema,
  end_ts: TimestampSchema,
  feature_views: z.array(NameSchema).max(1000).optional().meta({
    description: "Default: every online feature view",
  }),
  // An unreadable time is reported by its own field only (`undefined > x` is false).
}).refine((b) => !(parseTimestamp(b.start_ts)! > parseTimestamp(b.end_ts)!), {
  error: '"start_ts" must not be after "end_ts"',
  path: ["start_ts"],
});
export type MaterializeBody = z.output<typeof MaterializeBodySchema>;

/** `POST /materialize-incremental`. */
export const MaterializeIncrementalBodySchema = z.strictObject({
  end_ts: TimestampSchema,
  feature_views: z.array(NameSchema).max(1000).optional(),
});
export type MaterializeIncrementalBody = z.output<typeof MaterializeIncrementalBodySchema>;

/** The answer of the materialize endpoints. */
export const MaterializeResponseSchema = z.object({
  feature_views: z.array(z.object({
    name: z.string(),
    start: z.string().meta({ format: "date-time" }),
    end: z.string().meta({ format: "date-time" }),
    rows: z.number().int().optional(),
    null_key_rows: z.number().int().optional().meta({
      description: "Source rows in the window without a join key value, left out",
    }),
  })),
});
export type MaterializeResponse = z.output<typeof MaterializeResponseSchema>;

/**
 * `GET /health`: `ok`, or `degraded` (still serving correctly, see `registry.error`), both
 * with 200; `unavailable` comes as a 503 error whose `details` hold `registry` and
 * `online_store`. `error` is there only for callers with valid credentials.
 */
export const HealthResponseSchema = z.object({
  status: z.enum(["ok", "degraded", "unavailable"]),
  registry: z.object({
    ok: z.boolean(),
    version: z.number().int().optional().meta({ description: "The version served" }),
    error: z.string().optional().meta({ description: "Only for callers with valid credentials" }),
  }),
  online_store: z.object({
    ok: z.boolean(),
    error: z.string().optional().meta({ description: "Only for callers with valid credentials" }),
  }),
});
export type HealthResponse = z.output<typeof HealthResponseSchema>;

/** Every error answer. */
export const ErrorResponseSchema = z.object({
  error: z.object({
    code: z.string().meta({ example: "INPUT_INVALID" }),
    message: z.string(),
    details: z.record(z.string(), z.unknown()),
  }),
});

/** One registry object. */
export const RegistryObjectSchema = z.object({
  kind: z.string(),
  name: z.string(),
  spec: z.record(z.string(), z.unknown()),
  meta: z.object({ createdAt: z.string(), updatedAt: z.string(), hash: z.string() }),
});
