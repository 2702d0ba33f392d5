/**
 * Resolves what a retrieval asks for (feature references or a feature service) against the
 * registry: the feature views to read, the on-demand views to compute, the request fields
 * they need, and the output columns in request order. Shared by online and historical
 * retrieval so both accept and refuse the same requests.
 */
import {
  describeProjection,
  type FeatureViewSpec,
  type FieldSpec,
  findObject,
  joinKeyMapKey,
  joinKeyMapProblems,
  LarderError,
  type OnDemandFeatureViewSpec,
  type ProjectionTargetSpec,
  type RegistryDocument,
  type ValueType,
  viewFields,
} from "../registry/mod.ts";
import { writeTimeViewSpec } from "./write_time_views.ts";

/**
 * A feature as a request may name it: `"view:feature"` or a typed handle. A handle of a
 * projection with another name or a join-key map carries the projection (`view` is then the
 * projection's name); a string always names a view as it is, like in Feast, where only feature
 * services hold projections.
 */
export type FeatureReference = string | {
  readonly view: string;
  readonly feature: string;
  readonly projection?: ProjectionTargetSpec | undefined;
};

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
  /** The name the features go by: a projection's alias, else the view's name. */
  readonly name: string;
  readonly spec: FeatureViewSpec;
  readonly features: ResolvedFeature[];
  /** The view's join key -> the entity column that holds its values (a projection's map). */
  readonly joinKeyMap: Readonly<Record<string, string>> | undefined;
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
  /** The view's name as the request uses it (a projection's alias), or the on-demand view. */
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

/** What a requested feature is read from: a view, maybe projected under another name or keys. */
interface Target {
  /** The name its features go by. */
  readonly name: string;
  /** The feature view (or on-demand view) read. */
  readonly view: string;
  readonly joinKeyMap: Readonly<Record<string, string>> | undefined;
  /** Whether it is a projection with another name or a join-key map. */
  readonly projected: boolean;
}

function plainTarget(view: string): Target {
  return { name: view, view, joinKeyMap: undefined, projected: false };
}

function projectionTarget(projection: ProjectionTargetSpec): Target {
  const alias = projection.nameAlias;
  const map = projection.joinKeyMap;
  if ((alias === undefined || alias === projection.view) && map === undefined) {
    return plainTarget(projection.view);
  }
  return {
    name: alias ?? projection.view,
    view: projection.view,
    joinKeyMap: map,
    projected: true,
  };
}

/** The view and feature a reference names (`[view, feature]` of {@linkcode parseFeatureRef}). */
function targetOf(ref: FeatureReference): [Target, string] {
  const [view, feature] = parseFeatureRef(ref);
  const projection = typeof ref === "string" ? undefined : ref.projection;
  if (projection === undefined) return [plainTarget(view), feature];
  const parsed = projection !== null && typeof projection === "object" &&
    typeof projection.view === "string";
  if (!parsed) {
    throw new LarderError(
      "INPUT_INVALID",
      `Invalid feature reference "${view}:${feature}": its projection names no feature view`,
    );
  }
  return [projectionTarget(projection), feature];
}

function requestedPairs(doc: RegistryDocument, options: ResolveOptions): [Target, string][] {
  const { features, featureService } = options;
  if ((features === undefined) === (featureService === undefined)) {
    throw new LarderError(
      "INPUT_INVALID",
      features === undefined
        ? 'Pass "features" (["view:feature", …]) or "featureService"'
        : 'Pass either "features" or "featureService", not both',
    );
  }
  let pairs: [Target, string][];
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
    pairs = service.projections.flatMap((p) => {
      const target = projectionTarget(p);
      return p.features.map((f): [Target, string] => [target, f]);
    });
  } else {
    if (features!.length === 0) {
      throw new LarderError("INPUT_INVALID", 'Pass at least one feature in "features"');
    }
    pairs = features!.map(targetOf);
  }
  const seen = new Set<string>();
  return pairs.filter(([target, f]) => {
    const id = target.projected
      ? `${target.name}:${f}\u0000${target.view}\u0000${joinKeyMapKey(target.joinKeyMap)}`
      : `${target.name}:${f}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/**
 * Refuses a projection of a request that its view cannot have: a name that another view has, or
 * a join-key map naming keys the view does not have (the repo checks refuse the same in feature
 * services; handles in a request are checked here).
 */
function checkProjection(doc: RegistryDocument, target: Target, spec: FeatureViewSpec): void {
  const projection = {
    view: target.view,
    ...(target.name !== target.view ? { nameAlias: target.name } : {}),
    ...(target.joinKeyMap !== undefined ? { joinKeyMap: target.joinKeyMap } : {}),
  };
  const label = describeProjection(projection);
  const problems: string[] = [];
  if (
    target.name !== target.view &&
    (findObject(doc, "featureView", target.name) ||
      findObject(doc, "onDemandFeatureView", target.name))
  ) {
    problems.push(`it has the name of another feature view: choose another name for withName()`);
  }
  const joinKeys = spec.entities.flatMap((e) => findObject(doc, "entity", e)?.spec.joinKeys ?? []);
  problems.push(
    ...joinKeyMapProblems(projection, {
      joinKeys: [...new Set(joinKeys)],
      features: spec.features.map((f) => f.name),
    }),
  );
  if (problems.length > 0) {
    throw new LarderError(
      "INPUT_INVALID",
      `${label.charAt(0).toUpperCase()}${label.slice(1)}: ${problems.join("; ")}`,
      { details: { view: target.view, projection: target.name, problems } },
    );
  }
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

  const viewFor = (target: Target): ResolvedView => {
    const { name } = target;
    let view = views.get(name);
    if (view) {
      if (
        view.spec.name !== target.view ||
        joinKeyMapKey(view.joinKeyMap) !== joinKeyMapKey(target.joinKeyMap)
      ) {
        throw new LarderError(
          "INPUT_INVALID",
          `Two projections are named "${name}" (${
            view.spec.name === target.view
              ? `both of feature view "${target.view}", with different join-key maps`
              : `of feature views "${view.spec.name}" and "${target.view}"`
          }): give each a distinct name with withName()`,
          { details: { name, views: [view.spec.name, target.view] } },
        );
      }
      return view;
    }
    const od = target.projected ? undefined : stored(name);
    const spec = od
      ? writeTimeViewSpec(doc, od)
      : findObject(doc, "featureView", target.view)?.spec;
    if (od && !spec!.online) {
      throw new LarderError(
        "INPUT_INVALID",
        `On-demand feature view "${name}" is never written online: its source feature view "${
          od.sources[0]!.name
        }" is not served online (online: false)`,
        { details: { view: name } },
      );
    }
    if (!spec && target.projected && findObject(doc, "onDemandFeatureView", target.view)) {
      throw new LarderError(
        "INPUT_INVALID",
        `On-demand feature view "${target.view}" cannot be projected with withName() or withJoinKeyMap(): only feature views can`,
        { details: { view: target.view } },
      );
    }
    if (!spec) {
      throw new LarderError(
        "NOT_FOUND",
        `Cannot find feature view "${target.view}": the registry has ${
          quoted([
            ...Object.keys(doc.objects.featureView),
            ...Object.keys(doc.objects.onDemandFeatureView),
          ])
        }`,
        { details: { kind: "featureView", name: target.view } },
      );
    }
    if (!spec[options.path]) {
      throw new LarderError(
        "INPUT_INVALID",
        options.path === "online"
          ? `Feature view "${spec.name}" is not served online (online: false): it is never materialized`
          : `Feature view "${spec.name}" is not available offline (offline: false)`,
        { details: { view: spec.name } },
      );
    }
    if (target.projected) checkProjection(doc, target, spec);
    view = { name, spec, features: [], joinKeyMap: target.joinKeyMap };
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
  const addViewFeature = (target: Target, feature: string, hidden: boolean): ResolvedFeature => {
    const view = viewFor(target);
    const { name } = view;
    const existing = view.features.find((f) => f.name === feature);
    if (existing && (hidden || !existing.hidden)) return existing;
    const { type } = field(viewFields(view.spec), view.spec.name, feature);
    const output = hidden ? `__in__${name}__${feature}` : full ? `${name}__${feature}` : feature;
    if (!hidden) claim(output, name, feature);
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
          addViewFeature(plainTarget(source.name), f, true);
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

  for (const [target, feature] of requestedPairs(doc, options)) {
    const viewName = target.name;
    if (
      !target.projected && findObject(doc, "onDemandFeatureView", viewName) && !stored(viewName)
    ) {
      const od = onDemandFor(viewName);
      const { type } = field(od.spec.features, viewName, feature);
      const output = full ? `${viewName}__${feature}` : feature;
      claim(output, viewName, feature);
      const resolved = { name: feature, type, output, hidden: false };
      od.features.push(resolved);
      columns.push({ view: viewName, onDemand: true, feature: resolved });
    } else {
      const resolved = addViewFeature(target, feature, false);
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
