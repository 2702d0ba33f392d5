/** Historical retrieval for `FeatureStore`: resolve the request, join, compute on-demand views. */
import { z } from "zod";
import {
  findObject,
  formatIssues,
  joinKeyColumn,
  LarderError,
  refuseReservedName,
  type RegistryDocument,
  type ValueType,
  viewBatchSource,
} from "../registry/mod.ts";
import { coerceValue, INVALID, notOfType } from "./online/value_codec.ts";
import type { TransformLoader } from "./on_demand.ts";
import { OnDemandJob } from "./on_demand_job.ts";
import type {
  EntityInput,
  HistoricalQuery,
  RetrievalJob,
  ViewRequest,
} from "./offline/historical_query.ts";
import type { OfflineStore } from "./offline/offline_store.ts";
import type { StageListener } from "./offline/_pit_sql.ts";
import { type FeatureReference, type ResolvedView, resolveFeatures } from "./resolve_features.ts";
import { isoMicros, parseTimestamp, parseTimestampMicros, timestampError } from "./timestamps.ts";

/** Options for `FeatureStore.getHistoricalFeatures`. */
export interface HistoricalFeaturesOptions {
  /**
   * The entity table: a `.parquet`/`.csv` path, an Arrow table, row objects, or `{ sql }`. Omit
   * it and pass `start`/`end` for the latest values per key. A relative path is relative to
   * the repo folder (as paths in the definitions and `larder.yaml` are), not to the working
   * folder: `"data/driver_entities.parquet"` is `<repo>/data/driver_entities.parquet`.
   */
  readonly entities?: EntityInput;
  /** `"view:feature"` references or typed handles (of views or of projections). */
  readonly features?: readonly FeatureReference[];
  /** A feature service (name or object) instead of `features`. */
  readonly featureService?: string | { readonly name: string };
  /** Name columns `view__feature`. @default false */
  readonly fullFeatureNames?: boolean;
  /** Also require created <= entity timestamp. @default false */
  readonly filterByCreatedTimestamp?: boolean;
  /** The entity table's timestamp column. @default "event_timestamp" or the only timestamp column */
  readonly timestampColumn?: string;
  /** Told where each run of the job is: loading or joining which view, then output. */
  readonly onStage?: StageListener;
  /**
   * Window start, without an entity table (inclusive): a `Date`, or ISO 8601 text, read to
   * the microsecond (`"2024-01-01T00:00:00.000500Z"`).
   */
  readonly start?: Date | string;
  /** Window end, without an entity table (inclusive); like `start`. */
  readonly end?: Date | string;
}

/** A window bound as epoch microseconds: text keeps the microseconds a `Date` cannot hold. */
const Time = z.union([
  z.date(),
  z.string().refine((s) => parseTimestamp(s) !== undefined, {
    error: (iss) => timestampError(String(iss.input)),
  }),
]).transform((v) =>
  v instanceof Date ? BigInt(v.getTime()) * 1000n : BigInt(parseTimestampMicros(v)!)
);

const OptionsSchema = z.object({
  entities: z.unknown().optional(),
  features: z.array(z.unknown()).optional(),
  featureService: z.union([z.string(), z.object({ name: z.string() }).transform((s) => s.name)])
    .optional(),
  fullFeatureNames: z.boolean().default(false),
  filterByCreatedTimestamp: z.boolean().default(false),
  timestampColumn: z.string().min(1).optional(),
  start: Time.optional(),
  end: Time.optional(),
  onStage: z.custom<StageListener>((v) => typeof v === "function", {
    error: "expected a function",
  }).optional(),
});

type EntityRows = readonly Readonly<Record<string, unknown>>[];

/**
 * Refuses a `__proto__` column (it would be dropped on the way into Arrow) and join-key
 * numbers that are not of the entity's integer type in row objects, above all int64 numbers
 * beyond 2^53: not exact, they would match another entity's rows.
 */
function checkEntityRows(
  rows: EntityRows,
  views: readonly ResolvedView[],
  doc: RegistryDocument,
): void {
  for (const row of rows) refuseReservedName(row, "entity column");
  const keys = new Map<string, ValueType>();
  for (const view of views) {
    for (const name of view.spec.entities) {
      const entity = findObject(doc, "entity", name)?.spec;
      if (entity?.valueType !== "int64" && entity?.valueType !== "int32") continue;
      for (const key of entity.joinKeys) {
        keys.set(joinKeyColumn(view, key), entity.valueType);
      }
    }
  }
  for (const [key, type] of keys) {
    rows.forEach((row, r) => {
      const value = row?.[key];
      if (typeof value === "number" && coerceValue(value, type) === INVALID) {
        throw new LarderError(
          "INPUT_INVALID",
          `Entity row ${r}: join key "${key}": ${notOfType(value, type)}`,
          { details: { row: r, joinKey: key } },
        );
      }
    });
  }
}

/** What historical retrieval needs from the store. */
export interface HistoricalDeps {
  readonly repoDir: string;
  readonly document: RegistryDocument;
  readonly offline: OfflineStore;
  /** Loads the transforms of on-demand views from the definitions (checked against the registry). */
  readonly transforms: TransformLoader;
}

/** Resolves, validates and starts a historical retrieval; see `FeatureStore.getHistoricalFeatures`. */
export async function historicalFeatures(
  deps: HistoricalDeps,
  options: HistoricalFeaturesOptions,
): Promise<RetrievalJob> {
  const parsed = OptionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new LarderError(
      "INPUT_INVALID",
      `getHistoricalFeatures: ${formatIssues(parsed.error, options).join("; ")}`,
    );
  }
  const o = parsed.data;
  const windowed = o.entities === undefined;
  if (windowed && (o.start === undefined || o.end === undefined)) {
    throw new LarderError(
      "INPUT_INVALID",
      'Pass "entities" (an entity table), or "start" and "end" for the latest values per key',
    );
  }
  if (!windowed && (o.start !== undefined || o.end !== undefined)) {
    throw new LarderError("INPUT_INVALID", 'Pass either "entities" or "start"/"end", not both');
  }
  if (o.start !== undefined && o.end !== undefined && o.start > o.end) {
    throw new LarderError(
      "INPUT_INVALID",
      `The window start (${isoMicros(o.start)}) is after its end (${isoMicros(o.end)})`,
    );
  }
  const request = resolveFeatures(deps.document, {
    features: o.features as FeatureReference[] | undefined,
    featureService: o.featureService,
    fullFeatureNames: o.fullFeatureNames,
    path: "offline",
  });
  if (Array.isArray(o.entities)) {
    checkEntityRows(o.entities as EntityRows, request.views, deps.document);
  }
  const views: ViewRequest[] = request.views.map((v) => ({
    view: v.spec,
    source: viewBatchSource(deps.document, v.spec),
    entities: v.spec.entities.map((e) => findObject(deps.document, "entity", e)!.spec),
    features: v.features.map((f) => f.name),
    ...(v.name !== v.spec.name ? { name: v.name } : {}),
    ...(v.joinKeyMap !== undefined ? { joinKeyMap: v.joinKeyMap } : {}),
  }));
  const onDemand = request.onDemand.length > 0;
  const base = {
    repoDir: deps.repoDir,
    views,
    // On-demand views read their inputs by full name and rename afterwards.
    fullFeatureNames: onDemand || o.fullFeatureNames,
    filterByCreatedTimestamp: o.filterByCreatedTimestamp,
    ...(o.onStage ? { onStage: o.onStage } : {}),
  };
  const query: HistoricalQuery = windowed ? { ...base, start: o.start!, end: o.end! } : {
    ...base,
    entityTable: o.entities as EntityInput,
    ...(o.timestampColumn ? { timestampColumn: o.timestampColumn } : {}),
  };
  const job = await deps.offline.getHistoricalFeatures(query);
  if (!onDemand) return job;
  const missing = request.requestFields.filter((f) => !job.columns.includes(f.name));
  if (missing.length > 0) {
    const needs = request.onDemand.map((od) => `"${od.spec.name}"`).join(", ");
    throw new LarderError(
      "INPUT_INVALID",
      `The entity table has no ${missing.length === 1 ? "column" : "columns"} ${
        missing.map((f) => `"${f.name}"`).join(", ")
      }, which on-demand feature view ${needs} reads as request data`,
      { details: { missing: missing.map((f) => f.name) } },
    );
  }
  const transforms = await deps.transforms(
    request.onDemand.map((od) => od.spec.name),
    deps.document,
  );
  return new OnDemandJob(job, request, transforms);
}
