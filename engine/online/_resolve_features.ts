/** Turns a request's feature references or feature service into views and output columns. */
import {
  type FeatureViewSpec,
  LarderError,
  type RegistryDocument,
  type ValueType,
} from "../../registry/mod.ts";
import { type JoinKey, viewJoinKeys } from "./entity_key.ts";

/** A feature as a request may name it: `"view:feature"` or a typed handle. */
export type FeatureReference = string | { readonly view: string; readonly feature: string };

/** One output feature column. */
export interface ResolvedFeature {
  readonly name: string;
  readonly type: ValueType;
  /** Column name: `feature`, or `view__feature` with full feature names. */
  readonly output: string;
}

/** One view of a request and the features read from it, in request order. */
export interface ResolvedView {
  readonly spec: FeatureViewSpec;
  readonly joinKeys: readonly JoinKey[];
  readonly features: ResolvedFeature[];
}

const REF = /^([A-Za-z_][A-Za-z0-9_]*):([A-Za-z_][A-Za-z0-9_]*)$/;

function quoted(names: Iterable<string>): string {
  const list = [...names].sort().map((n) => `"${n}"`);
  return list.length === 0 ? "none" : list.join(", ");
}

function parseRef(ref: FeatureReference): [string, string] {
  if (typeof ref !== "string") {
    if (ref !== null && typeof ref === "object" && typeof ref.view === "string") {
      return [ref.view, ref.feature];
    }
    throw new LarderError(
      "INPUT_INVALID",
      `Invalid feature reference ${JSON.stringify(ref)}: expected "view:feature"`,
    );
  }
  const m = REF.exec(ref.trim());
  if (!m) {
    throw new LarderError(
      "INPUT_INVALID",
      `Invalid feature reference ${JSON.stringify(ref)}: expected "view:feature"`,
      { details: { ref } },
    );
  }
  return [m[1]!, m[2]!];
}

function viewSpec(doc: RegistryDocument, name: string): FeatureViewSpec {
  const found = doc.objects.featureView[name]?.spec;
  if (found) return found;
  if (doc.objects.onDemandFeatureView[name]) {
    throw new LarderError(
      "INPUT_INVALID",
      `Feature view "${name}" is an on-demand feature view: online retrieval does not compute on-demand views yet`,
      { details: { view: name } },
    );
  }
  throw new LarderError(
    "NOT_FOUND",
    `Cannot find feature view "${name}": the registry has ${
      quoted(Object.keys(doc.objects.featureView))
    }`,
    { details: { kind: "featureView", name } },
  );
}

/** The `[view, feature]` pairs of a request, in order, duplicates dropped. */
function requestedPairs(
  doc: RegistryDocument,
  request: {
    features?: readonly FeatureReference[] | undefined;
    featureService?: string | undefined;
  },
): [string, string][] {
  const { features, featureService } = request;
  if ((features === undefined) === (featureService === undefined)) {
    throw new LarderError(
      "INPUT_INVALID",
      features === undefined
        ? 'Pass "features" (["view:feature", …]) or "featureService"'
        : 'Pass either "features" or "featureService", not both',
    );
  }
  let pairs: [string, string][];
  if (featureService !== undefined) {
    const service = doc.objects.featureService[featureService]?.spec;
    if (!service) {
      throw new LarderError(
        "NOT_FOUND",
        `Cannot find feature service "${featureService}": the registry has ${
          quoted(Object.keys(doc.objects.featureService))
        }`,
        { details: { kind: "featureService", name: featureService } },
      );
    }
    pairs = service.projections.flatMap((p) =>
      p.features.map((f): [string, string] => [p.view, f])
    );
  } else {
    if (features!.length === 0) {
      throw new LarderError("INPUT_INVALID", 'Pass at least one feature in "features"');
    }
    pairs = features!.map(parseRef);
  }
  const seen = new Set<string>();
  return pairs.filter(([v, f]) => {
    const id = `${v}:${f}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** A resolved request: its views, and its feature columns in request order. */
export interface ResolvedRequest {
  readonly views: readonly ResolvedView[];
  readonly columns: readonly { readonly view: ResolvedView; readonly feature: ResolvedFeature }[];
}

/**
 * Resolves a request against the registry document: every view exists and is online, every
 * feature exists, and output names do not collide.
 */
export function resolveFeatures(
  doc: RegistryDocument,
  request: {
    features?: readonly FeatureReference[] | undefined;
    featureService?: string | undefined;
    fullFeatureNames?: boolean | undefined;
  },
): ResolvedRequest {
  const full = request.fullFeatureNames ?? false;
  const views = new Map<string, ResolvedView>();
  const outputs = new Map<string, string>();
  const columns: { view: ResolvedView; feature: ResolvedFeature }[] = [];
  for (const [viewName, feature] of requestedPairs(doc, request)) {
    let view = views.get(viewName);
    if (!view) {
      const spec = viewSpec(doc, viewName);
      if (!spec.online) {
        throw new LarderError(
          "INPUT_INVALID",
          `Feature view "${viewName}" is not served online (online: false): it is never materialized`,
          { details: { view: viewName } },
        );
      }
      view = { spec, joinKeys: viewJoinKeys(doc, spec), features: [] };
      views.set(viewName, view);
    }
    const field = view.spec.features.find((f) => f.name === feature);
    if (!field) {
      throw new LarderError(
        "NOT_FOUND",
        `Cannot find feature "${feature}" in feature view "${viewName}": it has ${
          quoted(view.spec.features.map((f) => f.name))
        }`,
        { details: { view: viewName, feature } },
      );
    }
    const output = full ? `${viewName}__${feature}` : feature;
    const other = outputs.get(output);
    if (other !== undefined) {
      throw new LarderError(
        "INPUT_INVALID",
        `Feature "${feature}" is in both feature views "${other}" and "${viewName}": pass fullFeatureNames to name the columns "${other}__${feature}" and "${viewName}__${feature}"`,
        { details: { feature, views: [other, viewName] } },
      );
    }
    outputs.set(output, viewName);
    const resolved = { name: feature, type: field.type, output };
    view.features.push(resolved);
    columns.push({ view, feature: resolved });
  }
  return { views: [...views.values()], columns };
}
