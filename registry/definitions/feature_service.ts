/** `featureService()`: a named set of features that a model consumes. */
import { z } from "zod";
import { NameSchema } from "../names.ts";
import { joinKeyMapKey } from "../projection.ts";
import type { Assert, Equals } from "../_zod.ts";
import type { FeatureLoggingSpec, FeatureServiceSpec, ProjectionSpec } from "../specs.ts";
import {
  brand,
  type CommonInput,
  type Definition,
  isDefinition,
  parseDefinition,
} from "./_definition.ts";
import type {
  FeatureRef,
  FeatureView,
  FeatureViewProjection,
  ProjectionTarget,
} from "./feature_view.ts";

/**
 * What a service may list: whole views, projections (`view.select([...])`, `view.withName()`,
 * `view.withJoinKeyMap()`), typed handles or `view:feature` strings.
 */
export type ServiceFeature =
  | FeatureView
  | FeatureViewProjection
  | FeatureRef
  | { readonly kind: "onDemandFeatureView"; readonly name: string; readonly spec: unknown }
  | string;

const REF = /^([A-Za-z_][A-Za-z0-9_]*):([A-Za-z_][A-Za-z0-9_]*)$/;

const ServiceFeatureSchema = z.union([
  z.string().regex(REF, {
    error: (iss) => `expected "view:feature", got ${JSON.stringify(iss.input)}`,
  }),
  z.custom<Definition<"featureView" | "onDemandFeatureView">>(
    (v) => isDefinition(v, "featureView") || isDefinition(v, "onDemandFeatureView"),
  ),
  z.custom<FeatureViewProjection>((v) => (v as { kind?: unknown })?.kind === "projection"),
  z.custom<FeatureRef>((v) => (v as { kind?: unknown })?.kind === "featureRef"),
], { error: () => 'expected a feature view, a projection, a feature handle or "view:feature"' });

/** What a feature service's `logging` accepts (Feast's `LoggingConfig`). */
export interface FeatureLoggingInput {
  /**
   * The share of the requests naming the service that the feature server logs, from 0 to 1
   * (one draw per request: a request is logged with all its rows, or not at all).
   * @default {1}
   */
  sampleRate?: number | undefined;
  /** Where the logged rows go. */
  destination: {
    /**
     * A folder, relative to the repo unless absolute: Parquet parts go to
     * `<path>/date=YYYY-MM-DD/part-….parquet` (a file source over the folder reads them back).
     */
    path: string;
  };
}

const FeatureLoggingInputSchema = z.strictObject({
  sampleRate: z.number({ error: "expected a number from 0 to 1" }).min(0, {
    error: "expected a number from 0 to 1",
  }).max(1, { error: "expected a number from 0 to 1" }).default(1),
  destination: z.strictObject({
    path: z.string({ error: "expected a folder path" }).trim().min(1, {
      error: "expected a folder path",
    }),
  }),
});
type _FeatureLoggingInput = Assert<
  Equals<z.input<typeof FeatureLoggingInputSchema>, FeatureLoggingInput>
>;

/** What {@linkcode featureService} accepts. */
export interface FeatureServiceInput extends CommonInput {
  /**
   * Log what the feature server serves for this service (entity keys, values, statuses,
   * event timestamps, request time) as Parquet parts; absent: nothing is logged.
   */
  logging?: FeatureLoggingInput | undefined;
  /**
   * The features served (at least one): whole feature views or on-demand views, projections
   * (`view.select([...])`, `view.withName()`, `view.withJoinKeyMap()`), typed handles
   * (`view.features.conv_rate`) or `"view:feature"` strings, in the order rows list them.
   */
  features: (
    | Definition<"featureView" | "onDemandFeatureView">
    | FeatureViewProjection
    | FeatureRef
    | string
  )[];
}

const FeatureServiceInputSchema = z.strictObject({
  name: NameSchema,
  features: z.array(ServiceFeatureSchema).min(1),
  description: z.string().default(""),
  tags: z.record(z.string(), z.string()).default({}),
  owner: z.string().default(""),
  logging: FeatureLoggingInputSchema.optional(),
});
type _FeatureServiceInput = Assert<
  Equals<z.input<typeof FeatureServiceInputSchema>, FeatureServiceInput>
>;

/** A built feature service. `F` keeps the listed features for typed retrieval. */
export interface FeatureService<
  N extends string = string,
  F extends readonly ServiceFeature[] = readonly ServiceFeature[],
> extends Definition<"featureService"> {
  /** The service's name. */
  readonly name: N;
  /** The features as listed, kept for typed retrieval. */
  readonly members: F;
}

/**
 * The service's projections: features grouped by the view and the name they go by (in order of
 * first mention). Projections of one name that differ (two views, or two join-key maps) stay
 * apart, for the repo checks to report.
 */
function projectionsOf(features: readonly ServiceFeature[]): ProjectionSpec[] {
  const groups = new Map<string, ProjectionSpec & { features: string[] }>();
  const add = (target: ProjectionTarget, names: readonly string[]) => {
    const id = JSON.stringify([
      target.nameAlias ?? target.view,
      target.view,
      joinKeyMapKey(target.joinKeyMap),
    ]);
    let group = groups.get(id);
    if (!group) {
      group = {
        view: target.view,
        features: [],
        ...(target.nameAlias !== undefined && target.nameAlias !== target.view
          ? { nameAlias: target.nameAlias }
          : {}),
        ...(target.joinKeyMap !== undefined ? { joinKeyMap: { ...target.joinKeyMap } } : {}),
      };
      groups.set(id, group);
    }
    for (const n of names) if (!group.features.includes(n)) group.features.push(n);
  };
  for (const f of features) {
    if (typeof f === "string") {
      const [, view, feature] = REF.exec(f)!;
      add({ view: view! }, [feature!]);
    } else if (f.kind === "featureRef") add(f.projection ?? { view: f.view }, [f.feature]);
    else if (f.kind === "projection") add(f, f.featureNames);
    else {
      const spec = f.spec as { features: { name: string }[] };
      add({ view: f.name }, spec.features.map((x) => x.name));
    }
  }
  return [...groups.values()];
}

/**
 * Defines a feature service.
 *
 * @example
 * ```ts
 * import { featureService } from "larder";
 * export const activity = featureService({
 *   name: "driver_activity",
 *   features: ["driver_hourly_stats:conv_rate"],
 * });
 * ```
 */
export function featureService<
  const N extends string,
  const F extends readonly ServiceFeature[],
>(input: FeatureServiceInput & { name: N; features: F }): FeatureService<N, F> {
  const parsed = parseDefinition("featureService", FeatureServiceInputSchema, input);
  const spec: FeatureServiceSpec = {
    name: parsed.name,
    description: parsed.description,
    tags: parsed.tags,
    owner: parsed.owner,
    projections: projectionsOf(parsed.features as ServiceFeature[]),
    ...(parsed.logging ? { logging: parsed.logging satisfies FeatureLoggingSpec } : {}),
  };
  return brand("featureService", {
    kind: "featureService" as const,
    name: input.name,
    spec,
    members: input.features,
  });
}
