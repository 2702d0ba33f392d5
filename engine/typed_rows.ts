/**
 * Row types of retrievals, computed from typed definitions: a request made with feature
 * handles or a feature service object gets rows that list exactly those features with their
 * value types, so a misspelled feature is a compile error.
 */
import type { RetrievalJob } from "./offline/historical_query.ts";
import type {
  FeatureRef,
  FeatureService,
  FeatureView,
  FeatureViewProjection,
  OnDemandFeatureView,
  UnionToIntersection,
  ValueOf,
  ValueType,
} from "../registry/mod.ts";

/** `T` with its intersections flattened into one object type, for readable row types. */
export type Simplify<T> = { [K in keyof T]: T[K] };

/** The output column of feature `F` of view `V`: `V__F` with full feature names, else `F`. */
export type ColumnName<Full extends boolean, V extends string, F extends string> = Full extends true
  ? `${V}__${F}`
  : F;

/** The typed output columns of schema `S` of view `V`. */
export type SchemaColumns<Full extends boolean, V extends string, S> = {
  [K in keyof S & string as ColumnName<Full, V, K>]: S[K] extends ValueType ? ValueOf<S[K]> | null
    : never;
};

/**
 * The columns one member of a request contributes: a handle, view or projection its typed
 * features; a `"view:feature"` string loose columns (any name, `unknown` value), so that a
 * list mixing strings and handles still types the handles' columns.
 */
export type MemberColumns<M, Full extends boolean = false> = M extends
  FeatureRef<infer V, infer F, infer T> ? { [K in ColumnName<Full, V, F>]: ValueOf<T> | null }
  : M extends FeatureViewProjection<infer V, infer S> ? SchemaColumns<Full, V, S>
  : M extends FeatureView<infer V, infer S> ? SchemaColumns<Full, V, S>
  : M extends OnDemandFeatureView<infer V, infer S> ? SchemaColumns<Full, V, S>
  : M extends string ? Record<string, unknown>
  : never;

/**
 * The feature columns of a list of members (handles, views, projections, on-demand views,
 * `"view:feature"` strings).
 */
export type FeatureColumns<Members extends readonly unknown[], Full extends boolean = false> =
  Simplify<
    UnionToIntersection<MemberColumns<Members[number], Full>>
  >;

/** The feature columns of a feature service object. */
export type ServiceColumns<S, Full extends boolean = false> = S extends
  FeatureService<string, infer M> ? FeatureColumns<M, Full>
  : Record<string, unknown>;

/** Entity columns as the request gave them: one value of each column per row. */
export type EntityColumnsOf<E> = E extends readonly (infer R)[] ? { [K in keyof R]: R[K] }
  : { [K in keyof E]: E[K] extends readonly (infer V)[] ? V : never };

/** A typed handle on a feature, as accepted in `features`. */
export type AnyFeatureRef = FeatureRef<string, string, ValueType>;

/** What a retrieval request's `features` list holds: typed handles and `"view:feature"` strings. */
export type FeatureListMember = AnyFeatureRef | string;

/** An online row: the request's entity columns (normalized, so `unknown`) and typed features. */
export type TypedRow<E, Features> =
  & Features
  & { readonly [K in keyof EntityColumnsOf<E>]?: unknown };

/**
 * The online row of a `features` list: typed by its handles; a list of strings only gives
 * loose rows (`Record<string, unknown>`).
 */
export type FeaturesRow<E, F extends readonly unknown[], Full extends boolean> =
  [Exclude<F[number], string>] extends [never] ? Record<string, unknown>
    : TypedRow<E, FeatureColumns<F, Full>>;

/** The parts of a typed online request besides its features. */
export interface TypedRequest<E, Full extends boolean> {
  /** The entity rows, as columns or as row objects. */
  readonly entities: E;
  /** Name feature columns `view__feature` instead of `feature`. @default {false} */
  readonly fullFeatureNames?: Full;
}

/**
 * A historical row: typed features plus the entity table's columns (whose names the types
 * cannot know, so they are `unknown`).
 */
export type HistoricalRow<Features> = Features & { readonly [column: string]: unknown };

/** A {@linkcode RetrievalJob} whose `toRows()` is typed by the request's handles. */
export interface TypedRetrievalJob<Row extends Record<string, unknown>> extends RetrievalJob {
  /** The whole result as row objects, typed by the request's handles. */
  toRows(): Promise<Row[]>;
}
