/**
 * The online rows of write-time on-demand views (`writeToOnlineStore: true`), computed from
 * rows of their source feature view as they are written (materialize, push, write-to-online).
 */
import {
  type FeatureViewSpec,
  type FieldSpec,
  LarderError,
  type OnDemandFeatureViewSpec,
  ownValue,
  type RegistryDocument,
} from "../../registry/mod.ts";
import { type LoadedTransform, runTransform, type TransformLoader } from "../on_demand.ts";
import { writeTimeSource, writeTimeViews } from "../write_time_views.ts";
import type { OnlineRow, OnlineWriteResult, StoredValue } from "./online_store.ts";
import { coerceValue, decodeValue, describeValue, encodeValue, INVALID } from "./value_codec.ts";

/** A write-time on-demand view, ready to run on rows of its source view. */
export interface WriteTimeView {
  readonly spec: OnDemandFeatureViewSpec;
  /** The source view's features the transform reads, with their types. */
  readonly inputs: readonly FieldSpec[];
  readonly transform: LoadedTransform;
}

/** What writing one write-time view's rows did. */
export interface OnDemandWriteResult extends OnlineWriteResult {
  /** The on-demand view. */
  readonly view: string;
}

/**
 * The write-time on-demand views of feature view `view`, with their transforms; `[]` (and
 * `transforms` not called) when it has none. Throws `INPUT_INVALID` when it has some and no
 * loader is given: writing the view without them would leave their stored outputs stale.
 */
export async function loadWriteTimeViews(
  doc: RegistryDocument,
  view: FeatureViewSpec,
  transforms: TransformLoader | undefined,
): Promise<WriteTimeView[]> {
  const specs = writeTimeViews(doc, view.name);
  if (specs.length === 0) return [];
  const names = specs.map((od) => od.name);
  if (!transforms) {
    throw new LarderError(
      "INPUT_INVALID",
      `Feature view "${view.name}" feeds on-demand feature ${
        names.length === 1 ? "view" : "views"
      } ${names.map((n) => `"${n}"`).join(", ")} that ${
        names.length === 1 ? "writes" : "write"
      } to the online store: running ${
        names.length === 1 ? "its transform" : "their transforms"
      } needs the repo's definitions, and this caller has none loaded`,
      { details: { view: view.name, onDemand: names } },
    );
  }
  const loaded = await transforms(names, doc);
  return specs.map((spec) => {
    const { features } = writeTimeSource(doc, spec);
    const inputs = features.map((name) => {
      const field = view.features.find((f) => f.name === name);
      if (!field) {
        throw new LarderError(
          "NOT_FOUND",
          `On-demand feature view "${spec.name}" reads feature "${name}", which feature view "${view.name}" does not have`,
          { details: { view: spec.name, source: view.name, feature: name } },
        );
      }
      return field;
    });
    const transform = loaded.get(spec.name);
    if (!transform) {
      throw new LarderError(
        "INTERNAL",
        `The transform of on-demand feature view "${spec.name}" was not loaded`,
      );
    }
    return { spec, inputs, transform };
  });
}

/**
 * Runs `view`'s transform on rows of its source view (inputs decoded exactly as online reads
 * decode them) and returns its rows: the same entity keys, event and created timestamps, and
 * the outputs encoded by the view's schema. Throws `DEFINITION_INVALID` (see `runTransform`)
 * when the transform fails or returns something that does not fit.
 */
export function writeTimeRows(view: WriteTimeView, rows: readonly OnlineRow[]): OnlineRow[] {
  const inputs: Record<string, unknown[]> = {};
  for (const { name, type } of view.inputs) {
    const values = new Array<unknown>(rows.length);
    for (let r = 0; r < rows.length; r++) {
      values[r] = decodeValue(ownValue(rows[r]!.record.values, name) ?? null, type);
    }
    inputs[name] = values;
  }
  const outputs = runTransform(view.transform, inputs, rows.length);
  const features = view.spec.features;
  const out = new Array<OnlineRow>(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const values: Record<string, StoredValue> = {};
    for (const { name, type } of features) {
      const typed = coerceValue(outputs[name]![r], type);
      if (typed === INVALID) {
        throw new LarderError(
          "DEFINITION_INVALID",
          `On-demand feature view "${view.spec.name}": column "${name}" row ${r}: ${
            describeValue(outputs[name]![r])
          } does not fit ${type}`,
          { details: { view: view.spec.name, feature: name, row: r } },
        );
      }
      values[name] = encodeValue(typed, type);
    }
    const { entityKey, record } = rows[r]!;
    out[r] = {
      entityKey,
      record: { eventMicros: record.eventMicros, createdMicros: record.createdMicros, values },
    };
  }
  return out;
}
