/**
 * The HTTP bodies, defined once: the handlers validate with these schemas and
 * `/openapi.json` is generated from them.
 */
import { z } from "zod";
import { type Assert, type Equals, parseTimestamp, timestampError } from "../engine/mod.ts";

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
export const TimestampSchema: z.ZodType<string, string> = z.string().max(64).refine(
  (s) => parseTimestamp(s) !== undefined,
  { error: (iss) => timestampError(String(iss.input), "an RFC 3339 timestamp") },
).meta({ format: "date-time", example: "2021-04-12T10:59:42Z" });

/** A serving status, as in Feast's `ServingService.proto`. */
export type ServingStatus = "PRESENT" | "NULL_VALUE" | "NOT_FOUND" | "OUTSIDE_MAX_AGE";
/** Schema of a {@linkcode ServingStatus}. */
export const StatusSchema: z.ZodType<ServingStatus, ServingStatus> = z.enum([
  "PRESENT",
  "NULL_VALUE",
  "NOT_FOUND",
  "OUTSIDE_MAX_AGE",
]);

/** The answer of `POST /get-online-features`: column-major, entity columns first. */
export interface OnlineFeaturesResponse {
  /** The output columns' names, in order. */
  metadata: { feature_names: string[] };
  /** One entry per column, in the order of `feature_names`. */
  results: {
    /** One value per entity row. */
    values: unknown[];
    /** Whether each value was found, null, missing or too old. */
    statuses: ServingStatus[];
    /** Each value's event time (RFC 3339). */
    event_timestamps: string[];
  }[];
}
const onlineFeaturesResponse = z.object({
  metadata: z.object({ feature_names: z.array(z.string()) }),
  results: z.array(z.object({
    values: z.array(z.unknown()),
    statuses: z.array(StatusSchema),
    event_timestamps: z.array(z.string().meta({ format: "date-time" })),
  })),
});
/** Schema of an {@linkcode OnlineFeaturesResponse}. */
export const OnlineFeaturesResponseSchema: z.ZodType<OnlineFeaturesResponse> =
  onlineFeaturesResponse;
type _OnlineFeaturesResponse = Assert<
  Equals<z.output<typeof onlineFeaturesResponse>, OnlineFeaturesResponse>
>;

/** Where `/push` writes. */
export const PushTargetSchema = z.enum(["online", "offline", "online_and_offline"]);
export type PushTarget = z.output<typeof PushTargetSchema>;

/** What writing one view online did. */
const ViewWriteSchema = z.object({
  view: z.string(),
  written: z.number().int(),
  skipped: z.number().int(),
});

/** The answer of `/push` and `/write-to-online-store`. */
export const WriteResponseSchema = z.object({
  feature_views: z.array(z.string()).meta({
    description:
      "The feature views written, each followed by the write-time on-demand views (writeToOnlineStore) written with it",
  }),
  rows: z.number().int(),
  online: z.object({
    written: z.number().int().meta({ description: "Rows stored, summed over the feature views" }),
    skipped: z.number().int().meta({
      description: "Rows not newer than the stored ones, summed over the feature views",
    }),
  }).optional(),
  views: z.array(ViewWriteSchema).optional().meta({
    description:
      "What the online write did per view, on-demand views included, in the order of feature_views (the SDK's `views`)",
  }),
  offline: z.object({ files: z.array(z.string()) }).optional(),
});
export type WriteResponse = z.output<typeof WriteResponseSchema>;

/**
 * An object schema that ignores unknown keys, as Feast's request models do (they are dropped
 * from the output), or, with `strict`, refuses them (`feature_server.strict_bodies: true`).
 */
function bodyObject<S extends z.core.$ZodLooseShape>(shape: S, strict: boolean): z.ZodObject<S> {
  // Both parse to the same output; only unknown keys are treated differently.
  return strict ? z.strictObject(shape) as unknown as z.ZodObject<S> : z.object(shape);
}

/** A column given as one value: that value in every row, as pandas broadcasts it. */
const BroadcastSchema = ScalarSchema.meta({
  description: "A single value for every row (at least one other column must be a list)",
});

/** `df` of `/push` and `/write-to-online-store`: columns as lists, or single values. */
export const DataFrameSchema = z.record(NameSchema, z.union([z.array(CellSchema), BroadcastSchema]))
  .meta({
    description:
      'Column name -> one value per row (all list columns the same length). A column given as a single value (`"string_feature": "test2"`) is that value in every row, as `pandas.DataFrame(df)` reads it in Feast. int64 values beyond ±9007199254740991 (2^53 - 1) go as decimal strings',
    example: {
      driver_id: [1001, 1002],
      event_timestamp: ["2021-04-12T10:59:42Z", "2021-04-12T10:59:42Z"],
      conv_rate: [0.5, 0.25],
      source: "batch_job",
    },
  });
export type DataFrameBody = z.output<typeof DataFrameSchema>;

const VERSION_UNSUPPORTED =
  'feature view versions are not supported: leave "version" out or null (the one current definition of each view is materialized)';

/** Feast's `version` of a materialization: Larder has no versions, so only absent or null. */
const VersionSchema = z.string().max(64).nullish().meta({
  description: "Feast's feature view version; versions are not supported: only null is accepted",
});

/** Feast's `full_feature_names` of a materialization (it names on-demand transform inputs). */
const MaterializeFullNamesSchema = z.boolean().default(false).meta({
  description:
    "As in Feast: only on-demand views that write to the online store would see it; `true` is refused for views that feed such views (their transforms read inputs by feature name) and has no effect otherwise",
});

const FeatureViewsSchema = z.array(NameSchema).max(1000).nullish().meta({
  description: "Default (absent or null): every online feature view",
});

function getOnlineFeaturesBody(strict: boolean) {
  return bodyObject({
    features: z.array(z.string().min(1).max(512)).max(10_000).optional().meta({
      description:
        '`"view:feature"` references; give either this or `feature_service` (an empty list counts as not given, Feast\'s default)',
      example: ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"],
    }),
    feature_service: NameSchema.nullish().meta({ description: "A feature service name" }),
    entities: ColumnsSchema.meta({
      description:
        "Join key (and request data) columns, one value per entity row: lists, not single values",
      example: { driver_id: [1001, 1002] },
    }),
    full_feature_names: z.boolean().default(false).meta({
      description: "Name output columns `view__feature` instead of `feature`",
    }),
    include_feature_view_version_metadata: z.boolean().default(false).meta({
      description:
        "Accepted for Feast compatibility; no effect (Feast's JSON answer carries no version metadata either)",
    }),
  }, strict).refine(
    (b) => (b.features !== undefined && b.features.length > 0) !== (b.feature_service != null),
    { error: 'expected exactly one of "features" and "feature_service"' },
  );
}

function pushBody(strict: boolean) {
  return bodyObject({
    push_source_name: NameSchema,
    df: DataFrameSchema,
    to: PushTargetSchema.default("online"),
    allow_registry_cache: z.boolean().default(true).meta({
      description:
        "Accepted for Feast compatibility; no effect: the registry is always served from memory, refreshed in the background",
    }),
    transform_on_write: z.boolean().default(true).meta({
      description:
        "Accepted for Feast compatibility; no effect (in Feast it applies to on-demand views written directly, which a push never targets)",
    }),
  }, strict);
}

function writeToOnlineStoreBody(strict: boolean) {
  return bodyObject({
    feature_view_name: NameSchema,
    df: DataFrameSchema,
    allow_registry_cache: z.boolean().default(true).meta({
      description:
        "Accepted for Feast compatibility; no effect: the registry is always served from memory, refreshed in the background",
    }),
    transform_on_write: z.boolean().default(true).meta({
      description:
        "Accepted for Feast compatibility; no effect (Feast applies it to on-demand views; this endpoint writes feature views)",
    }),
  }, strict);
}

function materializeBody(strict: boolean) {
  return bodyObject({
    start_ts: TimestampSchema.nullish().meta({
      description: 'Window start, inclusive; required unless "disable_event_timestamp" is true',
    }),
    end_ts: TimestampSchema.nullish().meta({
      description: 'Window end, inclusive; required unless "disable_event_timestamp" is true',
    }),
    feature_views: FeatureViewsSchema,
    disable_event_timestamp: z.boolean().default(false).meta({
      description:
        'As Feast\'s server: materialize the window from 1970-01-01T00:00:00Z to now; "start_ts" and "end_ts" (which Feast\'s client sends along) are checked but not used',
    }),
    full_feature_names: MaterializeFullNamesSchema,
    version: VersionSchema,
  }, strict).superRefine((b, ctx) => {
    if (b.version != null) {
      ctx.addIssue({ code: "custom", path: ["version"], message: VERSION_UNSUPPORTED });
    }
    if (b.disable_event_timestamp) return;
    for (const key of ["start_ts", "end_ts"] as const) {
      if (b[key] == null) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: 'is required unless "disable_event_timestamp" is true',
        });
      }
    }
    // An unreadable time is reported by its own field only (`undefined > x` is false).
    if (
      b.start_ts != null && b.end_ts != null &&
      parseTimestamp(b.start_ts)! > parseTimestamp(b.end_ts)!
    ) {
      ctx.addIssue({
        code: "custom",
        path: ["start_ts"],
        message: '"start_ts" must not be after "end_ts"',
      });
    }
  });
}

function materializeIncrementalBody(strict: boolean) {
  return bodyObject({
    end_ts: TimestampSchema,
    feature_views: FeatureViewsSchema,
    full_feature_names: MaterializeFullNamesSchema,
    version: VersionSchema,
  }, strict).superRefine((b, ctx) => {
    if (b.version != null) {
      ctx.addIssue({ code: "custom", path: ["version"], message: VERSION_UNSUPPORTED });
    }
  });
}

/** The schemas of the five JSON bodies, in one strictness. */
function bodySchemas(strict: boolean) {
  return {
    getOnlineFeatures: getOnlineFeaturesBody(strict),
    push: pushBody(strict),
    writeToOnlineStore: writeToOnlineStoreBody(strict),
    materialize: materializeBody(strict),
    materializeIncremental: materializeIncrementalBody(strict),
  };
}
/** The body schemas of a server: unknown keys ignored (Feast's way), the default. */
export const BODY_SCHEMAS = bodySchemas(false);
/** The same, refusing unknown keys (`feature_server.strict_bodies: true`). */
export const STRICT_BODY_SCHEMAS: BodySchemas = bodySchemas(true);
/** The schemas of the JSON bodies, by endpoint. */
export type BodySchemas = typeof BODY_SCHEMAS;

/** `POST /get-online-features`. */
export const GetOnlineFeaturesBodySchema = BODY_SCHEMAS.getOnlineFeatures;
export type GetOnlineFeaturesBody = z.output<typeof GetOnlineFeaturesBodySchema>;
/** `POST /push`. */
export const PushBodySchema = BODY_SCHEMAS.push;
export type PushBody = z.output<typeof PushBodySchema>;
/** `POST /write-to-online-store`. */
export const WriteToOnlineStoreBodySchema = BODY_SCHEMAS.writeToOnlineStore;
export type WriteToOnlineStoreBody = z.output<typeof WriteToOnlineStoreBodySchema>;
/** `POST /materialize`. */
export const MaterializeBodySchema = BODY_SCHEMAS.materialize;
export type MaterializeBody = z.output<typeof MaterializeBodySchema>;
/** `POST /materialize-incremental`. */
export const MaterializeIncrementalBodySchema = BODY_SCHEMAS.materializeIncremental;
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
