/** `featureView()`: features of some entities, read from one source. */
import { z } from "zod";
import { LarderError } from "../errors.ts";
import { holdsReservedName, nameMap, RESERVED_NAME } from "../name_map.ts";
import { DurationSchema, NameSchema } from "../names.ts";
import type { Assert, Equals } from "../_zod.ts";
import type { FeatureViewSpec } from "../specs.ts";
import {
  AGGREGATION_FUNCTIONS,
  type AggregationFunction,
  type AggregationSpec,
  type AggregationType,
  aggregationType,
} from "../aggregation.ts";
import { type ValueType, ValueTypeSchema } from "../value_type.ts";
import {
  brand,
  type CommonInput,
  type Definition,
  isDefinition,
  parseDefinition,
  refError,
  refName,
} from "./_definition.ts";
import type { Entity } from "./entity.ts";
import type { DataSource } from "./data_source.ts";

/** Feature name -> value type. */
export type FeatureSchema = Record<string, ValueType>;

/** A typed handle on one feature: `driverStats.features.conv_rate`. */
export interface FeatureRef<
  V extends string = string,
  F extends string = string,
  T extends ValueType = ValueType,
> {
  /** Marks a feature handle. */
  readonly kind: "featureRef";
  /** The feature view (or on-demand view, or projection name) the feature belongs to. */
  readonly view: V;
  /** The feature's name. */
  readonly feature: F;
  /** The feature's value type. */
  readonly type: T;
  /** The `view:feature` reference string. */
  readonly ref: `${V}:${F}`;
  /** The `view:feature` reference string. */
  toString(): `${V}:${F}`;
  /**
   * What the handle reads when it comes from a projection with another name or a join-key map
   * (`view` is then the projection's name); absent on handles of a view as it is.
   */
  readonly projection?: ProjectionTarget;
}

/** The feature view a renamed or re-keyed projection reads, and how. */
export interface ProjectionTarget {
  /** The feature view read. */
  readonly view: string;
  /** The name its features go by (from `withName()`). */
  readonly nameAlias?: string;
  /** The view's join key -> the entity column holding its values (from `withJoinKeyMap()`). */
  readonly joinKeyMap?: Readonly<Record<string, string>>;
}

/**
 * A view restricted to some of its features (`view.select([...])`), and perhaps under another
 * name (`withName()`) with its join keys read from other entity columns (`withJoinKeyMap()`),
 * for feature services and retrieval requests. Each call returns a new projection.
 */
export interface FeatureViewProjection<
  N extends string = string,
  S extends FeatureSchema = FeatureSchema,
> {
  /** Marks a projection. */
  readonly kind: "projection";
  /** The feature view projected. */
  readonly view: string;
  /** The projected features: name -> value type. */
  readonly schema: S;
  /** The name the features go by: the name given to `withName()`, else the view's name. */
  readonly viewName: N;
  /** Typed handles, one per projected feature (`origin.features.temperature`). */
  readonly features: { readonly [K in keyof S & string]: FeatureRef<N, K, S[K]> };
  /** The projected features' names, in order. */
  readonly featureNames: readonly (keyof S & string)[];
  /** The name given to `withName()`. */
  readonly nameAlias?: string;
  /** The map given to `withJoinKeyMap()`. */
  readonly joinKeyMap?: Readonly<Record<string, string>>;
  /** This projection restricted to some of its features. */
  select<const K extends keyof S & string>(
    features: readonly K[],
  ): FeatureViewProjection<N, Pick<S, K>>;
  /**
   * This projection under another name: its output columns become `name__feature` with full
   * feature names, and a feature service may hold several projections of one view.
   */
  withName<const A extends string>(name: A): FeatureViewProjection<A, S>;
  /**
   * This projection reading its join keys from other entity columns: `{ location_id:
   * "origin_id" }` joins the view's `location_id` on the entity column `origin_id` (which is
   * echoed under its own name). Replaces an earlier map.
   */
  withJoinKeyMap(map: Readonly<Record<string, string>>): FeatureViewProjection<N, S>;
}

const EntityRef = z.union([
  NameSchema,
  z.custom<Entity>((v) => isDefinition(v, "entity"), { message: "expected an entity or its name" }),
]);
const SourceRef = z.union([
  NameSchema,
  z.custom<DataSource>((v) => isDefinition(v, "dataSource"), {
    message: "expected a data source or its name",
  }),
], { error: refError("a data source made with fileSource() or pushSource(), or its name") });

/**
 * One time-window aggregation of a feature view: `function` over the feature `column` for the
 * events with event time in (T − window, T].
 */
export interface AggregationInput {
  /** The aggregated feature: a feature of the view's `schema`. */
  column: string;
  /** The function; see {@linkcode aggregationType} for the types each accepts and gives. */
  function: AggregationFunction;
  /** The window: a duration such as `"10m"`, `"1h"`, `"7d"`, or seconds; whole seconds. */
  window: string | number;
  /**
   * The output feature's name.
   * @default {`${function}_${column}_${window}`, e.g. "sum_amount_1h" (a window given in seconds: "3600s")}
   */
  name?: string | undefined;
}

/** The name an aggregation's output goes by (see {@linkcode AggregationInput.name}). */
export type AggregationName<A> = A extends { name: infer N extends string } ? N
  : A extends { function: infer F extends string; column: infer C extends string; window: infer W }
    ? `${F}_${C}_${W extends string ? W : W extends number ? `${W}s` : string}`
  : string;

/** The features that `aggregations` add to a view of `schema`: output name -> value type. */
export type AggregatedSchema<S extends FeatureSchema, A extends readonly AggregationInput[]> = {
  [K in A[number] as AggregationName<K>]: K["column"] extends keyof S
    ? AggregationType<K["function"], S[K["column"]]>
    : never;
};

/** A view's schema with its aggregations' outputs. */
export type WithAggregations<S extends FeatureSchema, A extends readonly AggregationInput[]> =
  { [K in keyof (S & AggregatedSchema<S, A>)]: (S & AggregatedSchema<S, A>)[K] } extends
    infer X extends FeatureSchema ? X : never;

/** What {@linkcode featureView} accepts. */
export interface FeatureViewInput extends CommonInput {
  /** The entities (or their names) the features describe; `[]` for an entityless view. @default {[]} */
  entities?: (Entity | string)[] | undefined;
  /**
   * How old a value may be: a duration such as `"2h"`, `"1h30m"`, `"7d"`, or seconds; `0`
   * means unlimited. Historical retrieval gives NULL for a value older than this at the entity
   * row's timestamp; online reads return an older value with the status `OUTSIDE_MAX_AGE`
   * (and an on-demand view reading it gets NULL, as offline).
   * @default {0}
   */
  ttl?: string | number | undefined;
  /** Feature name -> value type (at least one), in the order rows list them. */
  schema: Record<string, ValueType>;
  /** The data source (or its name) the features are read from. */
  source: DataSource | string;
  /**
   * Whether `materialize` copies the view to the online store and online reads may ask for
   * it.
   * @default {true}
   */
  online?: boolean | undefined;
  /** Whether historical retrieval may read the view. @default {true} */
  offline?: boolean | undefined;
  /**
   * Time-window aggregations of the features, each an output feature of its own (typed by its
   * function and column: see {@linkcode aggregationType}).
   * @default {[]}
   */
  aggregations?: AggregationInput[] | undefined;
  /**
   * The tile size of the online aggregations: the store keeps one tile of intermediate values
   * per entity and `tileSize` of event time, and every window must be a whole number of tiles.
   * @default {the greatest common divisor of the windows}
   */
  tileSize?: string | number | undefined;
}

const FeatureViewInputSchema = z.strictObject({
  name: NameSchema,
  /** Entities the features describe; `[]` for an entityless view. */
  entities: z.array(EntityRef).default([]),
  /** Lookback such as `"2h"` or seconds; 0 or absent means unlimited. */
  ttl: DurationSchema.optional(),
  schema: z.record(NameSchema, ValueTypeSchema).refine((s) => Object.keys(s).length > 0, {
    message: "expected at least one feature",
  }),
  source: SourceRef,
  /** Whether `materialize` copies the view to the online store. */
  online: z.boolean().default(true),
  /** Whether historical retrieval may read the view. */
  offline: z.boolean().default(true),
  aggregations: z.array(z.strictObject({
    column: NameSchema,
    function: z.enum(AGGREGATION_FUNCTIONS),
    window: DurationSchema,
    name: NameSchema.optional(),
  })).optional(),
  tileSize: DurationSchema.optional(),
  description: z.string().default(""),
  tags: z.record(z.string(), z.string()).default({}),
  owner: z.string().default(""),
});
type _FeatureViewInput = Assert<Equals<z.input<typeof FeatureViewInputSchema>, FeatureViewInput>>;

/** A built feature view. */
export interface FeatureView<N extends string = string, S extends FeatureSchema = FeatureSchema>
  extends Definition<"featureView"> {
  /** The view's name. */
  readonly name: N;
  /** Feature name -> value type, as given. */
  readonly schema: S;
  /** Typed handles, one per feature. */
  readonly features: { readonly [K in keyof S & string]: FeatureRef<N, K, S[K]> };
  /** The referenced entities as given (objects or names). */
  readonly entityRefs: readonly (Entity | string)[];
  /** The referenced source as given (object or name). */
  readonly sourceRef: DataSource | string;
  /** This view restricted to some features, for a feature service. */
  select<const K extends keyof S & string>(
    features: readonly K[],
  ): FeatureViewProjection<N, Pick<S, K>>;
  /**
   * All of this view's features under another name (Feast's `with_name`); see
   * {@linkcode FeatureViewProjection.withName}.
   */
  withName<const A extends string>(name: A): FeatureViewProjection<A, S>;
  /**
   * All of this view's features with their join keys read from other entity columns (Feast's
   * `with_join_key_map`); see {@linkcode FeatureViewProjection.withJoinKeyMap}.
   */
  withJoinKeyMap(map: Readonly<Record<string, string>>): FeatureViewProjection<N, S>;
}

/** Makes a typed feature handle. */
export function featureRef<V extends string, F extends string, T extends ValueType>(
  view: V,
  feature: F,
  type: T,
): FeatureRef<V, F, T> {
  const ref = `${view}:${feature}` as const;
  return Object.freeze({
    kind: "featureRef" as const,
    view,
    feature,
    type,
    ref,
    toString: () => ref,
  });
}

/** A handle on a feature of a projection: named by the projection, reading `target`. */
function projectionRef(
  name: string,
  target: ProjectionTarget | undefined,
  feature: string,
  type: ValueType,
): FeatureRef {
  const base = featureRef(name, feature, type);
  return target === undefined ? base : Object.freeze({ ...base, projection: target });
}

/** Most tiles a window may span (each read merges them). */
export const MAX_TILES_PER_WINDOW = 4096;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Checks the aggregations against the schema and each other; returns their specs and the tile. */
function aggregationSpecs(
  view: string,
  schema: Readonly<Record<string, ValueType>>,
  given: readonly {
    column: string;
    function: AggregationFunction;
    window: number;
    name?: string | undefined;
  }[],
  rawWindows: readonly unknown[],
  tileSize: number | undefined,
): { aggregations: AggregationSpec[]; tileSeconds: number } | undefined {
  if (given.length === 0) {
    if (tileSize !== undefined) {
      throw definitionError(view, "tileSize is set but the view has no aggregations");
    }
    return undefined;
  }
  const names = new Set(Object.keys(schema));
  const aggregations = given.map((a, i): AggregationSpec => {
    const raw = rawWindows[i];
    const name = a.name ??
      `${a.function}_${a.column}_${typeof raw === "string" ? raw.trim() : `${raw}s`}`;
    const label = `aggregation "${name}"`;
    if (a.name === undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw definitionError(
        view,
        `aggregations[${i}]: the default name "${name}" is not a valid name: pass a name`,
      );
    }
    if (names.has(name)) {
      throw definitionError(
        view,
        `${label}: the name is taken by another feature or aggregation: pass another name`,
      );
    }
    names.add(name);
    const columnType = Object.hasOwn(schema, a.column) ? schema[a.column] : undefined;
    if (columnType === undefined) {
      throw definitionError(
        view,
        `${label}: column "${a.column}" is not a feature of the view: it has ${
          Object.keys(schema).map((n) => `"${n}"`).join(", ")
        }`,
      );
    }
    const type = aggregationType(a.function, columnType);
    if (!ValueTypeSchema.safeParse(type).success) {
      throw definitionError(view, `${label}: ${type} (column "${a.column}")`);
    }
    if (!(a.window > 0) || !Number.isInteger(a.window)) {
      throw definitionError(
        view,
        `${label}: the window must be a positive whole number of seconds, got ${a.window}`,
      );
    }
    return {
      name,
      column: a.column,
      function: a.function,
      windowSeconds: a.window,
      type: type as ValueType,
    };
  });
  const tileSeconds = tileSize ?? aggregations.reduce((g, a) => gcd(g, a.windowSeconds), 0);
  if (!(tileSeconds > 0) || !Number.isInteger(tileSeconds)) {
    throw definitionError(
      view,
      `tileSize must be a positive whole number of seconds, got ${tileSeconds}`,
    );
  }
  for (const a of aggregations) {
    const tiles = a.windowSeconds / tileSeconds;
    if (!Number.isInteger(tiles)) {
      throw definitionError(
        view,
        `aggregation "${a.name}": its window (${a.windowSeconds}s) is not a whole number of tiles of ${tileSeconds}s: choose a tileSize that divides every window`,
      );
    }
    if (tiles > MAX_TILES_PER_WINDOW) {
      throw definitionError(
        view,
        `aggregation "${a.name}": its window spans ${tiles} tiles of ${tileSeconds}s, more than ${MAX_TILES_PER_WINDOW}: choose a larger tileSize`,
      );
    }
  }
  return { aggregations, tileSeconds };
}

function definitionError(view: string, message: string): LarderError {
  return new LarderError("DEFINITION_INVALID", `Feature view "${view}": ${message}`);
}

/** The state of a projection; every method returns a new one. */
interface ProjectionState {
  readonly view: string;
  readonly schema: FeatureSchema;
  readonly names: readonly string[];
  readonly nameAlias: string | undefined;
  readonly joinKeyMap: Readonly<Record<string, string>> | undefined;
  /** Whether `schema` is the view's whole schema (not narrowed by `select()`). */
  readonly whole: boolean;
}

function checkedName(view: string, what: string, name: unknown): string {
  const parsed = NameSchema.safeParse(name);
  if (parsed.success) return parsed.data;
  throw definitionError(
    view,
    `${what}: ${
      typeof name === "string"
        ? parsed.error.issues[0]!.message
        : `expected a name, got ${name === null ? "null" : typeof name}`
    }`,
  );
}

function selectNames(state: ProjectionState, names: readonly string[]): string[] {
  const unknown = names.filter((n) => !Object.hasOwn(state.schema, n));
  if (unknown.length > 0 || names.length === 0) {
    throw definitionError(
      state.view,
      names.length === 0
        ? "select() needs at least one feature"
        : `select() names unknown ${unknown.length === 1 ? "feature" : "features"} ${
          unknown.map((n) => `"${n}"`).join(", ")
        }: the ${state.whole ? "view" : "projection"} has ${
          Object.keys(state.schema).map((n) => `"${n}"`).join(", ")
        }`,
    );
  }
  return [...new Set(names)];
}

function checkedJoinKeyMap(view: string, map: unknown): Readonly<Record<string, string>> {
  if (map === null || typeof map !== "object" || Array.isArray(map)) {
    throw definitionError(
      view,
      'withJoinKeyMap(): expected an object such as { location_id: "origin_id" }',
    );
  }
  const entries = Object.entries(map);
  if (holdsReservedName(map)) {
    throw definitionError(
      view,
      `withJoinKeyMap(): invalid name "${RESERVED_NAME}": it is reserved`,
    );
  }
  if (entries.length === 0) throw definitionError(view, "withJoinKeyMap(): the map is empty");
  return Object.freeze(nameMap(entries.map(([key, column]) => [
    checkedName(view, `withJoinKeyMap() key "${key}"`, key),
    checkedName(view, `withJoinKeyMap() value of "${key}"`, column),
  ])));
}

function makeProjection(state: ProjectionState): FeatureViewProjection {
  const name = state.nameAlias ?? state.view;
  const target: ProjectionTarget | undefined =
    state.nameAlias === undefined && state.joinKeyMap === undefined ? undefined : {
      view: state.view,
      ...(state.nameAlias !== undefined ? { nameAlias: state.nameAlias } : {}),
      ...(state.joinKeyMap !== undefined ? { joinKeyMap: state.joinKeyMap } : {}),
    };
  const schema = nameMap(state.names.map((n) => [n, state.schema[n]!]));
  return Object.freeze({
    kind: "projection" as const,
    view: state.view,
    viewName: name,
    schema,
    features: Object.freeze(
      nameMap(state.names.map((n) => [n, projectionRef(name, target, n, state.schema[n]!)])),
    ),
    featureNames: Object.freeze([...state.names]),
    ...(state.nameAlias !== undefined ? { nameAlias: state.nameAlias } : {}),
    ...(state.joinKeyMap !== undefined ? { joinKeyMap: state.joinKeyMap } : {}),
    select: (names: readonly string[]) =>
      makeProjection({ ...state, schema, names: selectNames(state, names), whole: false }),
    withName: (alias: string) =>
      makeProjection({ ...state, schema, nameAlias: checkedName(state.view, "withName()", alias) }),
    withJoinKeyMap: (map: Readonly<Record<string, string>>) =>
      makeProjection({ ...state, schema, joinKeyMap: checkedJoinKeyMap(state.view, map) }),
  }) as FeatureViewProjection;
}

/**
 * Defines a feature view.
 *
 * @example
 * ```ts
 * import { entity, featureView, fileSource } from "larder";
 * const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
 * const source = fileSource({ name: "s", path: "data/s.parquet", timestampField: "ts" });
 * export const stats = featureView({
 *   name: "driver_hourly_stats",
 *   entities: [driver],
 *   ttl: "2h",
 *   schema: { conv_rate: "float32" },
 *   source,
 * });
 * ```
 */
export function featureView<
  const N extends string,
  const S extends FeatureSchema,
  const A extends readonly AggregationInput[] = [],
>(
  input: Omit<FeatureViewInput, "aggregations"> & { name: N; schema: S; aggregations?: A },
): FeatureView<N, WithAggregations<S, A>> {
  const parsed = parseDefinition("featureView", FeatureViewInputSchema, input);
  const aggregated = aggregationSpecs(
    parsed.name,
    parsed.schema,
    parsed.aggregations ?? [],
    (input.aggregations ?? []).map((a) => (a as { window?: unknown } | null)?.window),
    parsed.tileSize,
  );
  const spec: FeatureViewSpec = {
    name: parsed.name,
    description: parsed.description,
    tags: parsed.tags,
    owner: parsed.owner,
    entities: parsed.entities.map(refName),
    ttlSeconds: parsed.ttl ?? 0,
    features: Object.entries(parsed.schema).map(([name, type]) => ({ name, type })),
    source: refName(parsed.source),
    online: parsed.online,
    offline: parsed.offline,
    ...(aggregated ?? {}),
  };
  type Out = WithAggregations<S, A>;
  const fields = [
    ...spec.features,
    ...(aggregated?.aggregations ?? []).map((a) => ({ name: a.name, type: a.type })),
  ];
  const features = nameMap(
    fields.map((f) => [f.name, featureRef(parsed.name, f.name, f.type)]),
  ) as FeatureView<N, Out>["features"];
  const schema =
    (aggregated ? nameMap(fields.map((f) => [f.name, f.type])) : input.schema) as unknown as Out;
  const whole = () =>
    makeProjection({
      view: parsed.name,
      schema,
      names: Object.keys(schema),
      nameAlias: undefined,
      joinKeyMap: undefined,
      whole: true,
    });
  const view = brand("featureView", {
    kind: "featureView" as const,
    name: input.name,
    spec,
    schema,
    features,
    entityRefs: parsed.entities,
    sourceRef: parsed.source,
    select<const K extends keyof Out & string>(
      names: readonly K[],
    ): FeatureViewProjection<N, Pick<Out, K>> {
      return whole().select(names) as unknown as FeatureViewProjection<N, Pick<Out, K>>;
    },
    withName<const L extends string>(alias: L): FeatureViewProjection<L, Out> {
      return whole().withName(alias) as unknown as FeatureViewProjection<L, Out>;
    },
    withJoinKeyMap(map: Readonly<Record<string, string>>): FeatureViewProjection<N, Out> {
      return whole().withJoinKeyMap(map) as unknown as FeatureViewProjection<N, Out>;
    },
  });
  return view;
}
