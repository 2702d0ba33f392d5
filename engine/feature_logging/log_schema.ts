/**
 * `featureLogSchema`: the columns of a feature service's log, derived from the service as the
 * registry describes it (Feast's `FeatureServiceLoggingSource.get_schema`), so that every part
 * written for one registry document has the same columns and types.
 */
import {
  findObject,
  LarderError,
  type RegistryDocument,
  type ValueType,
} from "../../registry/mod.ts";
import { viewJoinKeys } from "../online/entity_key.ts";
import type { FeatureStatus } from "../online/online_response.ts";
import { resolveFeatures } from "../resolve_features.ts";

/** Column with the time the request was served (UTC, microseconds). */
export const LOG_TIMESTAMP_COLUMN = "__log_timestamp";
/** Column with the UTC date of {@linkcode LOG_TIMESTAMP_COLUMN}, `YYYY-MM-DD`. */
export const LOG_DATE_COLUMN = "__log_date";
/** Column with the id of the request that a row was served for. */
export const REQUEST_ID_COLUMN = "__request_id";

/** Feast's `FieldStatus` numbers (`ServingService.proto`), as `__status` columns hold them. */
export const STATUS_CODES: Readonly<Record<FeatureStatus, number>> = {
  PRESENT: 1,
  NULL_VALUE: 2,
  NOT_FOUND: 3,
  OUTSIDE_MAX_AGE: 4,
};

/** A column of a log: its name and Larder value type. */
export interface LogColumn {
  readonly name: string;
  readonly type: ValueType;
}

/** One feature of a log: where its value comes from in a response, and its three columns. */
export interface LoggedFeature {
  /** `view__feature` (the projection's alias, if any, for the view): the value column. */
  readonly column: string;
  /**
   * The feature's column in a response read without full feature names; `undefined` when two
   * features of the service share a name (it is read with full names only).
   */
  readonly output: string | undefined;
  /** The same with full feature names (`view__feature`). */
  readonly fullOutput: string;
  readonly type: ValueType;
}

/** The columns of one feature service's log. */
export interface FeatureLogSchema {
  /** The service. */
  readonly service: string;
  /** Entity columns (join keys, as the request names them), then request fields. */
  readonly keys: readonly LogColumn[];
  /** The features, in the service's order. */
  readonly features: readonly LoggedFeature[];
  /**
   * Every column in file order: keys; per feature its value, `__timestamp` and `__status`;
   * then `__log_timestamp`, `__log_date`, `__request_id`.
   */
  readonly columns: readonly LogColumn[];
  /** The columns as one string: parts of equal signatures can be written together. */
  readonly signature: string;
}

const cache = new WeakMap<RegistryDocument, Map<string, FeatureLogSchema>>();

/**
 * The log columns of `service` in `doc` (cached per document). Throws `NOT_FOUND` for an
 * unknown service, as retrieval does.
 *
 * @example
 * ```ts ignore
 * const schema = featureLogSchema(doc, "driver_activity");
 * schema.columns.map((c) => c.name);
 * // ["driver_id", "driver_hourly_stats__conv_rate", "driver_hourly_stats__conv_rate__timestamp",
 * //  "driver_hourly_stats__conv_rate__status", "__log_timestamp", "__log_date", "__request_id"]
 * ```
 */
export function featureLogSchema(doc: RegistryDocument, service: string): FeatureLogSchema {
  let byService = cache.get(doc);
  if (!byService) {
    byService = new Map();
    cache.set(doc, byService);
  }
  let schema = byService.get(service);
  if (!schema) {
    schema = buildSchema(doc, service);
    byService.set(service, schema);
  }
  return schema;
}

function buildSchema(doc: RegistryDocument, service: string): FeatureLogSchema {
  if (!findObject(doc, "featureService", service)) {
    throw new LarderError(
      "NOT_FOUND",
      `Cannot log feature service "${service}": it does not exist`,
    );
  }
  const full = resolveFeatures(doc, {
    featureService: service,
    fullFeatureNames: true,
    path: "online",
  });
  // Without full names two views may give one feature name: such a service is read (and
  // logged) with full names only.
  let short: typeof full | undefined;
  try {
    short = resolveFeatures(doc, { featureService: service, path: "online" });
  } catch {
    short = undefined;
  }
  const keys = new Map<string, ValueType>();
  for (const view of full.views) {
    for (const key of viewJoinKeys(doc, view.spec)) {
      const name = view.joinKeyMap?.[key.name] ?? key.name;
      if (!keys.has(name)) keys.set(name, key.type);
    }
  }
  for (const field of full.requestFields) {
    if (!keys.has(field.name)) keys.set(field.name, field.type);
  }
  const shown = short?.columns.filter((c) => !c.feature.hidden);
  const features: LoggedFeature[] = full.columns.filter((c) => !c.feature.hidden).map((c, i) => ({
    column: `${c.view}__${c.feature.name}`,
    output: shown?.[i]?.feature.output,
    fullOutput: c.feature.output,
    type: c.feature.type,
  }));
  const columns: LogColumn[] = [...keys].map(([name, type]) => ({ name, type }));
  for (const f of features) {
    columns.push(
      { name: f.column, type: f.type },
      { name: `${f.column}__timestamp`, type: "timestamp" },
      { name: `${f.column}__status`, type: "int32" },
    );
  }
  columns.push(
    { name: LOG_TIMESTAMP_COLUMN, type: "timestamp" },
    { name: LOG_DATE_COLUMN, type: "string" },
    { name: REQUEST_ID_COLUMN, type: "string" },
  );
  const seen = new Set<string>();
  for (const c of columns) {
    if (seen.has(c.name)) {
      throw new LarderError(
        "INPUT_INVALID",
        `Cannot log feature service "${service}": two log columns would be named "${c.name}"`,
        { details: { service, column: c.name } },
      );
    }
    seen.add(c.name);
  }
  return {
    service,
    keys: [...keys].map(([name, type]) => ({ name, type })),
    features,
    columns,
    signature: columns.map((c) => `${c.name}:${c.type}`).join(","),
  };
}
