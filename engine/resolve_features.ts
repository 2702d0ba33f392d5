/**
 * Resolves what a retrieval asks for (feature references or a feature service) against the
 * registry: the feature views to read, the on-demand views to compute, the request fields
 * they need, and the output columns in request order. Shared by online and historical
 * retrieval so both accept and refuse the same requests.
 */
import {
  type FeatureViewSpec,
  type FieldSpec,
  findObject,
  LarderError,
  type OnDemandFeatureViewSpec,
  type RegistryDocument,
  type ValueType,
} from "../registry/mod.ts";
import { writeTimeViewSpec } from "./write_time_views.ts";

/** A feature as a request may name it: `"view:feature"` or a typed handle. */
export type FeatureReference = string | { readonly view: string; readonly feature: string };

/** One feature read from a view. */
export interface ResolvedFeature {
  readonly name: string;
  readonly type: ValueType;
  /** Output column: `feature`, `view__feature` with full names, or an internal name when hidden. */
  readonly output: string;
  /** Read only as an input of an on-demand view, not returned. */
  readonly hidden: boolean;
}

/**
 * A feature view of the request and the features read from it. Online, a write-time
 * on-demand view is one too (its stored outputs, keyed like its source view).
 */
export interface ResolvedView {
  readonly spec: FeatureViewSpec;
  readonly features: ResolvedFeature[];
}

/** An on-demand view of the request. */
export interface ResolvedOnDemand {
  readonly spec: OnDemandFeatureViewSpec;
  /** Requested outputs. */
  readonly features: ResolvedFeature[];
  /** Transform input name -> where its values come from. */
  readonly inputs: ReadonlyMap<string, InputOrigin>;
}

/** Where an on-demand input comes from: a feature of a view, or a request field. */
export type InputOrigin =
  | { readonly view: string; readonly feature: string }
  | { readonly request: string };

/** Output column, in request order. */
export interface ResolvedColumn {
  readonly view: string;
  readonly onDemand: boolean;
  readonly feature: ResolvedFeature;
}

/** A resolved request. */
export interface ResolvedRequest {
  readonly views: readonly ResolvedView[];
  readonly onDemand: readonly ResolvedOnDemand[];
  /** Fields of request sources that the caller must provide with the entities. */
  readonly requestFields: readonly FieldSpec[];
  readonly columns: readonly ResolvedColumn[];
}

/** Options for {@linkcode resolveFeatures}. */
export interface ResolveOptions {
  readonly features?: readonly FeatureReference[] | undefined;
  readonly featureService?: string | undefined;
  readonly fullFeatureNames?: boolean | undefined;
  /** Which path asks: views must be `online` (or `offline`) to serve it. */
  readonly path: "online" | "offline";
}

const REF = /^([A-Za-z_][A-Za-z0-9_]*):([A-Za-z_][A-Za-z0-9_]*)$/;

function quoted(names: Iterable<string>): string {
  const list = [...names].sort().map((n) => `"${n}"`);
  return list.length === 0 ? "none" : list.join(", ");
}

/** Parses `"view:feature"` (or a handle) into its parts. */
export function parseFeatureRef(ref: FeatureReference): [string, string] {
  if (typeof ref === "string") {
    const m = REF.exec(ref.trim());
    if (m) return [m[1]!, m[2]!];
  } else if (
    ref !== null && typeof ref === "object" && typeof ref.view === "string" &&
    typeof ref.feature === "string"
  ) {
    return [ref.view, ref.feature];
  }
  throw new LarderError(
    "INPUT_INVALID",
    `Invalid feature reference ${JSON.stringify(ref)}: expected "view:feature"`,
    { details: { ref } },
  );
}

function requestedPairs(doc: RegistryDocument, options: ResolveOptions): [string, string][] {
  const { features, featureService } = options;
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
    const service = findObject(doc, "featureService", featureService)?.spec;
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
    pairs = features!.map(parseFeatureRef);
  }
  const seen = new Set<string>();
  return pairs.filter(([v, f]) => {
    const id = `${v}:${f}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/**
 * Resolves a request: every view and feature exists and serves this path, on-demand inputs
 * are added as hidden columns, and output names do not collide. Online, on-demand views that
 * write to the online store are read like feature views; offline, every on-demand view is
 * computed.
 */
export function resolveFeatures(doc: RegistryDocument, options: ResolveOptions): ResolvedRequest {
  const full = options.fullFeatureNames ?? false;
  const views = new Map<string, ResolvedView>();
  const onDemand = new Map<string, ResolvedOnDemand>();
  const requestFields = new Map<string, FieldSpec>();
  const outputs = new Map<string, string>();
  const columns: ResolvedColumn[] = [];

  /** An on-demand view whose outputs this path reads from the online store. */
  const stored = (name: string): OnDemandFeatureViewSpec | undefined => {
    const od = findObject(doc, "onDemandFeatureView", name)?.spec;
    return options.path === "online" && od?.writeToOnlineStore ? od : undefined;
  };

  const viewFor = (name: string): ResolvedView => {
    let view = views.get(name);
    if (view) return view;
    const od = stored(name);
    const spec = od ? writeTimeViewSpec(doc, od) : findObject(doc, "featureView", name)?.spec;
    if (od && !spec!.online) {
      throw new LarderError(
        "INPUT_INVALID",
        `On-demand feature view "${name}" is never written online: its source feature view "${
          od.sources[0]!.name
        }" is not served online (online: false)`,
        { details: { view: name } },
      );
    }
    if (!spec) {
      throw new LarderError(
        "NOT_FOUND",
        `Cannot find feature view "${name}": the registry has ${
          quoted([
            ...Object.keys(doc.objects.featureView),
            ...Object.keys(doc.objects.onDemandFeatureView),
          ])
        }`,
        { details: { kind: "featureView", name } },
      );
    }
    if (!spec[options.path]) {
      throw new LarderError(
        "INPUT_INVALID",
        options.path === "online"
          ? `Feature view "${name}" is not served online (online: false): it is never materialized`
          : `Feature view "${name}" is not available offline (offline: false)`,
        { details: { view: name } },
      );
    }
    view = { spec, features: [] };
    views.set(name, view);
    return view;
  };

  const field = (fields: readonly FieldSpec[], view: string, feature: string): FieldSpec => {
    const found = fields.find((f) => f.name === feature);
    if (found) return found;
    throw new LarderError(
      "NOT_FOUND",
      `Cannot find feature "${feature}" in feature view "${view}": it has ${
        quoted(fields.map((f) => f.name))
      }`,
      { details: { view, feature } },
    );
  };

  const claim = (output: string, view: string, feature: string) => {
    const other = outputs.get(output);
    if (other !== undefined) {
      throw new LarderError(
        "INPUT_INVALID",
        `Feature "${feature}" is in both feature views "${other}" and "${view}": use full feature names to get "${other}__${feature}" and "${view}__${feature}"`,
        { details: { feature, views: [other, view] } },
      );
    }
    outputs.set(output, view);
  };

  /** Adds a view feature (visible, or hidden as an on-demand input); returns its column. */
  const addViewFeature = (viewName: string, feature: string, hidden: boolean): ResolvedFeature => {
    const view = viewFor(viewName);
    const existing = view.features.find((f) => f.name === feature);
    if (existing && (hidden || !existing.hidden)) return existing;
    const { type } = field(view.spec.features, viewName, feature);
    const output = hidden
      ? `__in__${viewName}__${feature}`
      : full
      ? `${viewName}__${feature}`
      : feature;
    if (!hidden) claim(output, viewName, feature);
    const resolved = { name: feature, type, output, hidden };
    if (existing) view.features.splice(view.features.indexOf(existing), 1, resolved);
    else view.features.push(resolved);
    return resolved;
  };

  const onDemandFor = (name: string): ResolvedOnDemand => {
    let od = onDemand.get(name);
    if (od) return od;
    const spec = findObject(doc, "onDemandFeatureView", name)!.spec;
    const inputs = new Map<string, InputOrigin>();
    od = { spec, features: [], inputs };
    onDemand.set(name, od);
    for (const source of spec.sources) {
      if (source.kind === "featureView") {
        for (const f of source.features) {
          addViewFeature(source.name, f, true);
          inputs.set(f, { view: source.name, feature: f });
        }
      } else {
        const requestSource = findObject(doc, "dataSource", source.name)?.spec;
        if (!requestSource || requestSource.kind !== "request") {
          throw new LarderError(
            "NOT_FOUND",
            `Cannot find request source "${source.name}" of on-demand feature view "${name}"`,
          );
        }
        for (const f of requestSource.schema) {
          requestFields.set(f.name, f);
          inputs.set(f.name, { request: f.name });
        }
      }
    }
    return od;
  };

  for (const [viewName, feature] of requestedPairs(doc, options)) {
    if (findObject(doc, "onDemandFeatureView", viewName) && !stored(viewName)) {
      const od = onDemandFor(viewName);
      const { type } = field(od.spec.features, viewName, feature);
      const output = full ? `${viewName}__${feature}` : feature;
      claim(output, viewName, feature);
      const resolved = { name: feature, type, output, hidden: false };
      od.features.push(resolved);
      columns.push({ view: viewName, onDemand: true, feature: resolved });
    } else {
      const resolved = addViewFeature(viewName, feature, false);
      columns.push({ view: viewName, onDemand: false, feature: resolved });
    }
  }
  return {
    views: [...views.values()],
    onDemand: [...onDemand.values()],
    requestFields: [...requestFields.values()],
    columns,
  };
}
