/**
 * Time-window aggregations of a feature view: the functions, the types they give, and the one
 * window rule every path follows (offline, online from tiles).
 *
 * The value of an aggregation at time T over a window W covers the events (source rows) of the
 * entity with event time in (T − W, T]: the start is open, the end closed. Events with a NULL
 * in the aggregated column are skipped (as SQL aggregates skip NULLs). Of several rows with the
 * same entity key and event time, only those with the greatest created timestamp count (NULL
 * created is the oldest; without a created-timestamp column every row counts), the same rule
 * that picks the latest row in point-in-time retrieval.
 */
import { z } from "zod";
import type { Assert, Equals } from "./_zod.ts";
import { NameSchema } from "./names.ts";
import { type ScalarType, type ValueType, ValueTypeSchema } from "./value_type.ts";
import type { FeatureViewSpec, FieldSpec } from "./specs.ts";

/** The aggregation functions. */
export const AGGREGATION_FUNCTIONS = [
  "count",
  "sum",
  "mean",
  "min",
  "max",
  "stddev",
  "var",
  "last",
  "approx_count_distinct",
] as const;
/** An aggregation function. */
export type AggregationFunction = typeof AGGREGATION_FUNCTIONS[number];

/** One aggregation as the registry stores it. */
export interface AggregationSpec {
  /** The output feature's name. */
  name: string;
  /** The aggregated feature (a feature of the view's schema). */
  column: string;
  /** The function. */
  function: AggregationFunction;
  /** The window's length in seconds. */
  windowSeconds: number;
  /** The output's value type (see {@linkcode aggregationType}). */
  type: ValueType;
}
const aggregationSpec = z.object({
  name: NameSchema,
  column: NameSchema,
  function: z.enum(AGGREGATION_FUNCTIONS),
  windowSeconds: z.number().positive(),
  type: ValueTypeSchema,
});
/** Schema of an {@linkcode AggregationSpec}. */
export const AggregationSpecSchema: z.ZodType<AggregationSpec> = aggregationSpec;
type _AggregationSpec = Assert<Equals<z.output<typeof aggregationSpec>, AggregationSpec>>;

/** The numeric value types (what `sum`, `mean`, `stddev` and `var` take). */
export type NumericValueType = "int32" | "int64" | "float32" | "float64";
const NUMERIC: ReadonlySet<string> = new Set(["int32", "int64", "float32", "float64"]);
/** Types with an order (min, max). */
const ORDERED: ReadonlySet<string> = new Set([...NUMERIC, "string", "timestamp"]);

/** The output type of function `F` over a column of type `T` (`never`: not allowed). */
export type AggregationType<F extends AggregationFunction, T extends ValueType> = T extends
  `${string}[]` ? never
  : F extends "count" | "approx_count_distinct" ? "int64"
  : F extends "sum"
    ? (T extends "int32" | "int64" ? "int64" : T extends NumericValueType ? "float64" : never)
  : F extends "mean" | "stddev" | "var" ? (T extends NumericValueType ? "float64" : never)
  : F extends "min" | "max" ? (T extends NumericValueType | "string" | "timestamp" ? T : never)
  : F extends "last" ? T
  : never;

/**
 * The output type of `fn` over a column of `type`, or a message saying why the pair is not
 * allowed: `count`, `approx_count_distinct` -> int64; `sum` -> int64 over integers, float64
 * over floats; `mean`, `stddev`, `var` -> float64 over numbers; `min`, `max` -> the column's
 * type (numbers, strings, timestamps); `last` -> the column's type. Arrays are not aggregated.
 */
export function aggregationType(fn: AggregationFunction, type: ValueType): ValueType | string {
  if (type.endsWith("[]")) return `cannot aggregate the array column (${type})`;
  const scalar = type as ScalarType;
  switch (fn) {
    case "count":
    case "approx_count_distinct":
      return "int64";
    case "sum":
      if (scalar === "int32" || scalar === "int64") return "int64";
      return NUMERIC.has(scalar) ? "float64" : `sum needs a numeric column, got ${type}`;
    case "mean":
    case "stddev":
    case "var":
      return NUMERIC.has(scalar) ? "float64" : `${fn} needs a numeric column, got ${type}`;
    case "min":
    case "max":
      return ORDERED.has(scalar)
        ? scalar
        : `${fn} needs a numeric, string or timestamp column, got ${type}`;
    case "last":
      return scalar;
  }
}

/** The view's features and then its aggregations' outputs, as fields. */
export function viewFields(view: Pick<FeatureViewSpec, "features" | "aggregations">): FieldSpec[] {
  const aggregations = view.aggregations ?? [];
  if (aggregations.length === 0) return view.features;
  return [...view.features, ...aggregations.map((a) => ({ name: a.name, type: a.type }))];
}

/** The aggregation that gives feature `name` of the view, if any. */
export function aggregationOf(
  view: Pick<FeatureViewSpec, "aggregations">,
  name: string,
): AggregationSpec | undefined {
  return view.aggregations?.find((a) => a.name === name);
}

/** Text of a duration in seconds, in the largest unit that divides it: `3600` -> `"1h"`. */
export function durationText(seconds: number): string {
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}
