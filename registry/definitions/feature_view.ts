/** `featureView()`: features of some entities, read from one source. */
import { z } from "zod";
import { LarderError } from "../errors.ts";
import { nameMap } from "../name_map.ts";
import { DurationSchema, NameSchema } from "../names.ts";
import type { FeatureViewSpec } from "../specs.ts";
import { type ValueType, ValueTypeSchema } from "../value_type.ts";
import { brand, type Definition, isDefinition, parseDefinition, refName } from "./_definition.ts";
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
  readonly kind: "featureRef";
  readonly view: V;
  readonly feature: F;
  readonly type: T;
  /** The `view:feature` reference string. */
  readonly ref: `${V}:${F}`;
  toString(): `${V}:${F}`;
}

/** A view restricted to some of its features, for feature services. */
export interface FeatureViewProjection<
  N extends string = string,
  S extends FeatureSchema = FeatureSchema,
> {
  readonly kind: "projection";
  readonly view: string;
  readonly schema: S;
  readonly viewName: N;
  readonly features: readonly (keyof S & string)[];
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
]);

/** What `featureView()` accepts. */
export const FeatureViewInputSchema = z.strictObject({
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
  description: z.string().default(""),
  tags: z.record(z.string(), z.string()).default({}),
  owner: z.string().default(""),
});
export type FeatureViewInput = z.input<typeof FeatureViewInputSchema>;

/** A built feature view. */
export interface FeatureView<N extends string = string, S extends FeatureSchema = FeatureSchema>
  extends Definition<"featureView"> {
  readonly name: N;
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
export function featureView<const N extends string, const S extends FeatureSchema>(
  input: FeatureViewInput & { name: N; schema: S },
): FeatureView<N, S> {
  const parsed = parseDefinition("featureView", FeatureViewInputSchema, input);
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
  };
  const features = nameMap(
    spec.features.map((f) => [f.name, featureRef(parsed.name, f.name, f.type)]),
  ) as FeatureView<N, S>["features"];
  const schema = input.schema;
  const view = brand("featureView", {
    kind: "featureView" as const,
    name: input.name,
    spec,
    schema,
    features,
    entityRefs: parsed.entities,
    sourceRef: parsed.source,
    select<const K extends keyof S & string>(
      names: readonly K[],
    ): FeatureViewProjection<N, Pick<S, K>> {
      const unknown = names.filter((n) => !Object.hasOwn(schema, n));
      if (unknown.length > 0 || names.length === 0) {
        throw new LarderError(
          "DEFINITION_INVALID",
          names.length === 0
            ? `Feature view "${input.name}": select() needs at least one feature`
            : `Feature view "${input.name}": select() names unknown ${
              unknown.length === 1 ? "feature" : "features"
            } ${unknown.map((n) => `"${n}"`).join(", ")}: the view has ${
              Object.keys(schema).map((n) => `"${n}"`).join(", ")
            }`,
        );
      }
      const picked = nameMap(names.map((n) => [n, schema[n]])) as Pick<S, K>;
      return Object.freeze({
        kind: "projection" as const,
        view: input.name as string,
        viewName: input.name,
        schema: picked,
        features: [...names],
      });
    },
  });
  return view;
}
