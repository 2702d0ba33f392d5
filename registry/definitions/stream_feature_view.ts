/** `streamFeatureView()`: a feature view kept fresh by the stream processor from a stream source. */
import { z } from "zod";
import { LarderError } from "../errors.ts";
import type { StreamDestination, StreamViewSpec } from "../specs.ts";
import type { ValueOf } from "../value_type.ts";
import { brand, isDefinition } from "./_definition.ts";
import {
  type FeatureSchema,
  type FeatureView,
  featureView,
  type FeatureViewInput,
} from "./feature_view.ts";
import { transformHash } from "./on_demand_feature_view.ts";
import type { StreamSource } from "./stream_source.ts";

/** One column per event field: one value per event, `null` where an event lacks the field. */
export type EventColumns = Readonly<Record<string, readonly unknown[]>>;

/**
 * A stream transform: a batch of events in (one column per event field), one row per event
 * out: the view's join keys, the stream source's timestamp field and its features (typed by
 * the view's schema). A row whose key or timestamp is `null` goes to the dead-letter stream.
 */
export type StreamTransform<S extends FeatureSchema> = (
  events: EventColumns,
) => { readonly [K in keyof S]: readonly (ValueOf<S[K]> | null)[] } & EventColumns;

/** What {@linkcode streamFeatureView} accepts. */
export interface StreamFeatureViewInput extends Omit<FeatureViewInput, "source"> {
  /** The stream source (or its name) whose events become the view's rows. */
  source: StreamSource | string;
  /**
   * Turns each batch of events into rows (see {@linkcode StreamTransform}); it runs under the
   * same checks as on-demand transforms, and the registry records its source text and hash.
   * Absent: each event is a row, its fields named as the join keys, the timestamp field and
   * the features (a missing feature is `null`).
   */
  transform?: StreamTransform<FeatureSchema> | undefined;
  /**
   * Where the processor writes the rows: `"online"` (skip-if-not-newer), `"offline"` (Parquet
   * or CSV parts appended to the batch source) or `"both"`.
   * @default {"both"}
   */
  writeTo?: StreamDestination | undefined;
}

/** A built stream feature view: a feature view whose spec carries `stream`. */
export interface StreamFeatureView<
  N extends string = string,
  S extends FeatureSchema = FeatureSchema,
> extends FeatureView<N, S> {
  /** The transform, if any (loaded definitions only; the registry stores its source and hash). */
  readonly transform: ((events: EventColumns) => Record<string, readonly unknown[]>) | undefined;
}

const WriteTo = z.enum(["online", "offline", "both"]).default("both");

function invalid(view: string, message: string): LarderError {
  return new LarderError("DEFINITION_INVALID", `Feature view "${view}": ${message}`, {
    details: { kind: "featureView" },
  });
}

/**
 * Defines a stream feature view (Feast's `StreamFeatureView`): the stream processor
 * (`larder stream`) reads its stream source's events, optionally through a TypeScript
 * transform of each batch, and writes the rows online, offline or both. Everything else —
 * online reads, historical retrieval (from the batch source), backfill by `materialize` — is
 * that of a feature view.
 *
 * @example
 * ```ts
 * import { entity, fileSource, streamFeatureView, streamSource } from "larder";
 * const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
 * const batch = fileSource({ name: "trips", path: "data/trips/", timestampField: "ts" });
 * const trips = streamSource({
 *   name: "trips_stream", broker: "redis", stream: "events:trips", timestampField: "ts",
 *   batchSource: batch,
 * });
 * export const tripStats = streamFeatureView({
 *   name: "trip_stats",
 *   entities: [driver],
 *   schema: { fare: "float64" },
 *   source: trips,
 *   transform: (e) => ({
 *     driver_id: e.driver_id,
 *     ts: e.ts,
 *     fare: e.fare_cents.map((c) => c === null ? null : Number(c) / 100),
 *   }),
 * });
 * ```
 */
export function streamFeatureView<const N extends string, const S extends FeatureSchema>(
  input: Omit<StreamFeatureViewInput, "transform"> & {
    name: N;
    schema: S;
    transform?: StreamTransform<S> | undefined;
  },
): StreamFeatureView<N, S> {
  const { transform, writeTo: rawWriteTo, ...rest } = input;
  const name = typeof input.name === "string" ? input.name : "?";
  const source = input.source as unknown;
  if (
    isDefinition(source, "dataSource") &&
    (source.spec as { kind: string }).kind !== "stream"
  ) {
    throw invalid(
      name,
      `source: expected a stream source made with streamSource(), or its name, got ${
        (source.spec as { kind: string }).kind
      } source "${source.name}"`,
    );
  }
  if (transform !== undefined && typeof transform !== "function") {
    throw invalid(name, "transform: expected a function (events) => columns");
  }
  const writeTo = WriteTo.safeParse(rawWriteTo);
  if (!writeTo.success) {
    throw invalid(
      name,
      `writeTo: expected "online", "offline" or "both", got ${JSON.stringify(rawWriteTo)}`,
    );
  }
  const view = featureView(rest as Omit<FeatureViewInput, "aggregations"> & { name: N; schema: S });
  if (writeTo.data !== "offline" && !view.spec.online) {
    throw invalid(name, `writeTo "${writeTo.data}" writes online, but the view is online: false`);
  }
  const stream: StreamViewSpec = { writeTo: writeTo.data };
  if (transform !== undefined) {
    stream.transformHash = transformHash(transform as (...args: never[]) => unknown);
    stream.transformSource = (transform as (...args: never[]) => unknown).toString();
  }
  return brand("featureView", {
    ...view,
    spec: { ...view.spec, stream },
    transform: transform as StreamFeatureView["transform"],
  }) as unknown as StreamFeatureView<N, S>;
}
