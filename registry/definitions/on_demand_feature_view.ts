/** `onDemandFeatureView()`: features computed by a TypeScript transform at request time. */
import { createHash } from "node:crypto";
import { z } from "zod";
import { LarderError } from "../errors.ts";
import { nameMap } from "../name_map.ts";
import { NameSchema } from "../names.ts";
import type { Assert, Equals } from "../_zod.ts";
import type { OnDemandFeatureViewSpec, OnDemandInput } from "../specs.ts";
import { type ValueOf, type ValueType, ValueTypeSchema } from "../value_type.ts";
import {
  brand,
  type CommonInput,
  type Definition,
  isDefinition,
  parseDefinition,
} from "./_definition.ts";
import type { RequestSource } from "./data_source.ts";
import {
  type FeatureRef,
  featureRef,
  type FeatureSchema,
  type FeatureView,
  type FeatureViewProjection,
} from "./feature_view.ts";

/** One input column per name: one value per row, `null` where missing. */
export type Columns<S extends Record<string, ValueType>> = {
  readonly [K in keyof S]: readonly (ValueOf<S[K]> | null)[];
};

/** What an on-demand view may read: views (whole or projected) and request sources. */
export type OnDemandSource =
  | FeatureView<string, FeatureSchema>
  | FeatureViewProjection<string, FeatureSchema>
  | RequestSource<string, Record<string, ValueType>>;

/** The columns one source of an on-demand view gives its transform. */
export type SchemaOfSource<T> = T extends FeatureView<string, infer S> ? S
  : T extends FeatureViewProjection<string, infer S> ? S
  : T extends RequestSource<string, infer S> ? S
  : never;

/** The intersection of the members of union `U`. */
export type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends
  (x: infer I) => void ? I
  : never;

/** The columns a transform receives: every feature of its view sources and every request field. */
export type InputSchema<Sources extends readonly OnDemandSource[]> = UnionToIntersection<
  SchemaOfSource<Sources[number]>
> extends infer I extends Record<string, ValueType> ? I : Record<string, ValueType>;

/** A transform: columns in, columns out (one batch at a time; the same function online and offline). */
export type Transform<In extends Record<string, ValueType>, Out extends Record<string, ValueType>> =
  (
    columns: Columns<In>,
  ) => { [K in keyof Out]: readonly (ValueOf<Out[K]> | null)[] };

const SourceSchema = z.custom<OnDemandSource>((v) =>
  isDefinition(v, "featureView") ||
  (v as { kind?: unknown })?.kind === "projection" ||
  (isDefinition(v, "dataSource") && (v as { spec: { kind: string } }).spec.kind === "request"), {
  message: "expected a feature view, a projection (view.select([...])) or a request source",
});

/**
 * What {@linkcode onDemandFeatureView} accepts (the builder types `sources`, `schema` and
 * `transform` more precisely, so that the transform's columns are checked).
 */
export interface OnDemandFeatureViewInput extends CommonInput {
  /**
   * What the transform reads (at least one): feature views (all their features), projections
   * (`view.select([...])`) and request sources. Input names must not repeat across sources.
   */
  sources: OnDemandSource[];
  /** Output feature name -> value type (at least one); no output may share an input's name. */
  schema: Record<string, ValueType>;
  /**
   * Columns in, columns out: receives one array per input (one value per row, `null` where
   * missing) and returns one array per output of the same length. The same function runs
   * online and offline; the registry records its source text and hash.
   */
  transform: (columns: never) => unknown;
  /**
   * Run the transform when rows of its source view are written online (materialize, push,
   * write-to-online-store) and store the outputs, so online reads return stored values instead
   * of computing them per request. Needs exactly one feature view as source and no request
   * source. Historical retrieval still computes the outputs after the join.
   * @default {false}
   */
  writeToOnlineStore?: boolean | undefined;
}

const OnDemandFeatureViewInputSchema = z.strictObject({
  name: NameSchema,
  sources: z.array(SourceSchema).min(1),
  schema: z.record(NameSchema, ValueTypeSchema).refine((s) => Object.keys(s).length > 0, {
    message: "expected at least one feature",
  }),
  transform: z.custom<(columns: never) => unknown>((v) => typeof v === "function", {
    message: "expected a function (columns) => columns",
  }),
  /**
   * Run the transform when rows of its source view are written online (materialize, push,
   * write-to-online-store) and store the outputs, so online reads return stored values instead
   * of computing them per request. Needs exactly one feature view as source and no request
   * source. Historical retrieval still computes the outputs after the join.
   * @default {false}
   */
  writeToOnlineStore: z.boolean().default(false),
  description: z.string().default(""),
  tags: z.record(z.string(), z.string()).default({}),
  owner: z.string().default(""),
});
type _OnDemandFeatureViewInput = Assert<
  Equals<z.input<typeof OnDemandFeatureViewInputSchema>, OnDemandFeatureViewInput>
>;

/** A built on-demand feature view. */
export interface OnDemandFeatureView<
  N extends string = string,
  S extends Record<string, ValueType> = Record<string, ValueType>,
> extends Definition<"onDemandFeatureView"> {
  /** The view's name. */
  readonly name: N;
  /** Output feature name -> value type, as given. */
  readonly schema: S;
  /**
   * Typed handles, one per output feature (`adjusted.features.conv_x_amount`), for feature
   * services and retrieval requests like the handles of a feature view.
   */
  readonly features: { readonly [K in keyof S & string]: FeatureRef<N, K, S[K]> };
  /** Input column name -> type, from all sources. */
  readonly inputs: Readonly<Record<string, ValueType>>;
  /** The transform itself (loaded definitions only; the registry stores its source and hash). */
  readonly transform: (
    columns: Record<string, readonly unknown[]>,
  ) => Record<string, readonly unknown[]>;
  /** The referenced sources as given. */
  readonly sourceRefs: readonly OnDemandSource[];
}

/** SHA-256 of a transform's source text, as the registry stores it. */
export function transformHash(fn: (...args: never[]) => unknown): string {
  return createHash("sha256").update(fn.toString()).digest("hex");
}

/**
 * Defines an on-demand feature view: a transform over columns of other features and of
 * request data, run after retrieval both online and offline. With `writeToOnlineStore: true`
 * (one feature view source, no request source) it runs when that view's rows are written
 * online instead, and online reads return the stored outputs.
 *
 * @example
 * ```ts
 * import { entity, featureView, fileSource, onDemandFeatureView, requestSource } from "larder";
 * const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
 * const source = fileSource({ name: "s", path: "data/s.parquet", timestampField: "ts" });
 * const stats = featureView({ name: "stats", entities: [driver], schema: { conv_rate: "float64" }, source });
 * const tx = requestSource({ name: "tx", schema: { amount: "float64" } });
 * export const adjusted = onDemandFeatureView({
 *   name: "conv_adjusted",
 *   sources: [stats, tx],
 *   schema: { conv_x_amount: "float64" },
 *   transform: (c) => ({
 *     conv_x_amount: c.conv_rate.map((r, i) => {
 *       const amount = c.amount[i];
 *       return r === null || amount == null ? null : r * amount;
 *     }),
 *   }),
 * });
 * ```
 */
export function onDemandFeatureView<
  const N extends string,
  const Sources extends readonly OnDemandSource[],
  const S extends Record<string, ValueType>,
>(
  input: Omit<OnDemandFeatureViewInput, "transform" | "sources" | "schema"> & {
    name: N;
    sources: Sources;
    schema: S;
    transform: Transform<InputSchema<Sources>, S>;
  },
): OnDemandFeatureView<N, S> {
  const parsed = parseDefinition("onDemandFeatureView", OnDemandFeatureViewInputSchema, input);
  const inputs = nameMap<ValueType>();
  const owners = nameMap<string>();
  const specSources: OnDemandInput[] = [];
  const problems: string[] = [];
  for (const source of parsed.sources) {
    let owner: string;
    let fields: Record<string, ValueType>;
    if ((source as { kind: string }).kind === "projection") {
      const p = source as FeatureViewProjection;
      owner = p.view;
      fields = p.schema as Record<string, ValueType>;
      if (p.nameAlias !== undefined || p.joinKeyMap !== undefined) {
        problems.push(
          `source "${p.view}" is projected with ${
            p.nameAlias !== undefined ? `withName("${p.nameAlias}")` : "withJoinKeyMap()"
          }: an on-demand feature view reads a feature view under its own name and join keys`,
        );
      }
      specSources.push({ kind: "featureView", name: p.view, features: [...p.featureNames] });
    } else if (isDefinition(source, "featureView")) {
      const v = source as FeatureView;
      owner = v.name;
      fields = v.schema as Record<string, ValueType>;
      specSources.push({ kind: "featureView", name: v.name, features: Object.keys(fields) });
    } else {
      const r = source as RequestSource;
      owner = r.name;
      fields = r.schema as Record<string, ValueType>;
      specSources.push({ kind: "requestSource", name: r.name });
    }
    for (const [name, type] of Object.entries(fields)) {
      if (owners[name] !== undefined) {
        problems.push(`input "${name}" comes from both "${owners[name]}" and "${owner}"`);
      }
      owners[name] = owner;
      inputs[name] = type;
    }
  }
  if (parsed.writeToOnlineStore) {
    const views = specSources.filter((s) => s.kind === "featureView").map((s) => `"${s.name}"`);
    if (views.length !== 1) {
      problems.push(
        `writeToOnlineStore needs exactly one feature view as its source, got ${
          views.length === 0 ? "none" : `${views.length} (${views.join(", ")})`
        }`,
      );
    }
    for (const s of specSources) {
      if (s.kind === "requestSource") {
        problems.push(
          `writeToOnlineStore cannot read request source "${s.name}": no request arrives at write time`,
        );
      }
    }
  }
  for (const name of Object.keys(parsed.schema)) {
    if (owners[name] !== undefined) {
      problems.push(`output "${name}" has the same name as an input from "${owners[name]}"`);
    }
  }
  if (problems.length > 0) {
    throw new LarderError(
      "DEFINITION_INVALID",
      `On-demand feature view "${parsed.name}": ${problems.join("; ")}`,
    );
  }
  const spec: OnDemandFeatureViewSpec = {
    name: parsed.name,
    description: parsed.description,
    tags: parsed.tags,
    owner: parsed.owner,
    sources: specSources,
    features: Object.entries(parsed.schema).map(([name, type]) => ({ name, type })),
    transformHash: transformHash(input.transform as (...args: never[]) => unknown),
    // The same text the hash is of, so that what the registry shows is what it checks.
    transformSource: (input.transform as (...args: never[]) => unknown).toString(),
    writeToOnlineStore: parsed.writeToOnlineStore,
  };
  return brand("onDemandFeatureView", {
    kind: "onDemandFeatureView" as const,
    name: input.name,
    spec,
    schema: input.schema,
    features: nameMap(
      spec.features.map((f) => [f.name, featureRef(parsed.name, f.name, f.type)]),
    ) as OnDemandFeatureView<N, S>["features"],
    inputs,
    transform: input.transform as unknown as OnDemandFeatureView["transform"],
    sourceRefs: input.sources,
  });
}
