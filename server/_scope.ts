/**
 * What a request touches, looked up in the registry document: the objects permissions are
 * checked on, and the limit `feature_server.feature_services` puts on a deployment. Each
 * lookup answers for one caller ({@linkcode Access}): an object hidden from it gets exactly the
 * answer of a name the registry does not have, and "the registry has ..." lists only what the
 * caller may DESCRIBE.
 */
import {
  type Action,
  findObject,
  KIND_LABEL,
  LarderError,
  type RegistryDocument,
  type Resource,
  ShapeCache,
  viewReadResources,
} from "../engine/mod.ts";
import type { Access } from "./_access.ts";

type Objects = RegistryDocument["objects"];
type PermissionSpec = Objects["permission"][string]["spec"];
type ResourceType = Resource["type"];

/** What is derived once per registry document. */
export interface Scope {
  readonly permissions: readonly PermissionSpec[];
  /** Served feature services, or `undefined` when every one is served. */
  readonly services: ReadonlySet<string> | undefined;
  /** Feature views (and on-demand views) the served services use. */
  readonly views: ReadonlySet<string> | undefined;
  /** `view:feature` pairs the served services use. */
  readonly features: ReadonlySet<string> | undefined;
}

function quoted(names: Iterable<string>): string {
  const list = [...names].sort().map((n) => `"${n}"`);
  return list.length === 0 ? "none" : list.join(", ");
}

/** Computes (and caches per document) the scope of a deployment. */
export function scopeCache(
  featureServices: readonly string[] | undefined,
): (doc: RegistryDocument) => Scope {
  const cache = new WeakMap<RegistryDocument, Scope>();
  return (doc) => {
    let scope = cache.get(doc);
    if (scope) return scope;
    const permissions = Object.values(doc.objects.permission).map((p) => p.spec);
    if (featureServices === undefined) {
      scope = { permissions, services: undefined, views: undefined, features: undefined };
    } else {
      const services = new Set(featureServices);
      const views = new Set<string>();
      const features = new Set<string>();
      for (const name of services) {
        for (const p of findObject(doc, "featureService", name)?.spec.projections ?? []) {
          views.add(p.view);
          for (const f of p.features) features.add(`${p.view}:${f}`);
        }
      }
      scope = { permissions, services, views, features };
    }
    cache.set(doc, scope);
    return scope;
  };
}

/** The resource permissions see for an object. */
export function resourceOf(
  doc: RegistryDocument,
  type: ResourceType,
  name: string,
): Resource | undefined {
  const found = findObject(doc, type, name);
  return found ? { type, name, tags: found.spec.tags } : undefined;
}

/** What a lookup answers from: the document as served, the deployment's scope, the caller. */
export interface Lookup {
  readonly doc: RegistryDocument;
  readonly scope: Scope;
  readonly access: Access;
}

/** Whether the deployment serves the object. Entities and data sources are always visible. */
export function inScope(scope: Scope, type: ResourceType, name: string): boolean {
  if (type === "featureService") return scope.services?.has(name) ?? true;
  if (type === "featureView" || type === "onDemandFeatureView") {
    return scope.views?.has(name) ?? true;
  }
  return true;
}

/**
 * The objects of `type` that the deployment serves and the caller may DESCRIBE, as resources,
 * by name (only those whose spec `keep` accepts, when given).
 */
export function describableResources(
  { doc, scope, access }: Lookup,
  type: ResourceType,
  keep: (spec: { kind?: string }) => boolean = () => true,
): Resource[] {
  const objects = doc.objects[type] as Record<
    string,
    { spec: { tags: Record<string, string>; kind?: string } }
  >;
  const resources = Object.keys(objects).sort()
    .filter((name) => inScope(scope, type, name) && keep(objects[name]!.spec))
    .map((name): Resource => ({ type, name, tags: objects[name]!.spec.tags }));
  return access.describableOf(resources);
}

/** The names of the objects of `types` in scope that the caller may DESCRIBE, quoted. */
function describableNames(
  lookup: Lookup,
  types: readonly ResourceType[],
  keep?: (spec: { kind?: string }) => boolean,
): string {
  return quoted(
    types.flatMap((type) => describableResources(lookup, type, keep).map((r) => r.name)),
  );
}

/**
 * `NOT_FOUND` for `name`: the same answer whether the registry lacks the object or hides it
 * from the caller.
 */
function notFound(lookup: Lookup, kind: ResourceType, name: string): LarderError {
  return new LarderError(
    "NOT_FOUND",
    `Cannot find ${KIND_LABEL[kind].toLowerCase()} "${name}": the registry has ${
      describableNames(lookup, [kind])
    }`,
    { details: { kind, name } },
  );
}

/** `NOT_FOUND` for `what`, which the deployment does not serve; lists the served services. */
function notServed({ doc, scope, access }: Lookup, what: string): LarderError {
  const configured = [...(scope.services ?? [])];
  const served = access.open ? configured : access.describableOf(
    configured.flatMap((name) => resourceOf(doc, "featureService", name) ?? []),
  ).map((r) => r.name);
  return new LarderError(
    "NOT_FOUND",
    `${what} is not served by this deployment: it serves feature services ${quoted(served)}`,
    { details: { servedFeatureServices: served.sort() } },
  );
}

/**
 * The object `name` of `type`, for a request doing `actions` on it. `NOT_FOUND` when the
 * registry lacks it or hides it from the caller (naming what the caller may describe), or when
 * the deployment does not serve it.
 */
export function findResource(
  lookup: Lookup,
  request: { readonly type: ResourceType; readonly name: string; readonly actions: Action[] },
): Resource {
  const { type, name } = request;
  const resource = resourceOf(lookup.doc, type, name);
  if (!resource || lookup.access.hides(resource, request.actions)) {
    throw notFound(lookup, type, name);
  }
  if (!inScope(lookup.scope, type, name)) throw notServed(lookup, `${KIND_LABEL[type]} "${name}"`);
  return resource;
}

/**
 * `NOT_FOUND` for the view `name`: the same answer whether the registry lacks it or hides it,
 * naming the views of both kinds the caller may describe.
 */
function viewNotFound(lookup: Lookup, name: string): LarderError {
  return new LarderError(
    "NOT_FOUND",
    `Cannot find feature view "${name}": the registry has ${
      describableNames(lookup, ["featureView", "onDemandFeatureView"])
    }`,
    { details: { kind: "featureView", name } },
  );
}

/**
 * The feature view or on-demand view `name` (they share one namespace), for a request doing
 * `actions` on it; `NOT_FOUND` naming the views of both kinds the caller may describe when the
 * registry lacks it or hides it, or when the deployment does not serve it.
 */
export function findView(
  lookup: Lookup,
  request: { readonly name: string; readonly actions: Action[] },
): Resource {
  const { name } = request;
  const resource = resourceOf(lookup.doc, "featureView", name) ??
    resourceOf(lookup.doc, "onDemandFeatureView", name);
  if (!resource || lookup.access.hides(resource, request.actions)) {
    throw viewNotFound(lookup, name);
  }
  if (!inScope(lookup.scope, resource.type, name)) {
    throw notServed(lookup, `${KIND_LABEL[resource.type]} "${name}"`);
  }
  return resource;
}

const REF = /^([A-Za-z_][A-Za-z0-9_]*):([A-Za-z_][A-Za-z0-9_]*)$/;

/** A view a read names, with everything reading it touches (the view first). */
export interface ReadGroup {
  readonly view: Resource;
  readonly touched: readonly Resource[];
}

/** One `view:feature` reference, looked up the same for every caller. */
interface RefStep {
  readonly view: string;
  readonly feature: string;
  /** Whether a served service uses the pair (always, when every service is served). */
  readonly served: boolean;
  /** The view and what reading it touches; `undefined` when the registry has no such view. */
  readonly touched: readonly Resource[] | undefined;
  /** The view's features. */
  readonly features: readonly string[];
}

/** What a list of references resolves to against one document, for every caller alike. */
interface RefPlan {
  /** Up to the first reference that is not served or names no view. */
  readonly steps: readonly RefStep[];
  /** The groups, when every reference names a served feature of a view. */
  readonly groups: readonly ReadGroup[] | undefined;
}

/**
 * Per scope (so per registry document): the plan of each list of references seen. It holds no
 * permission decision: those are made per request, by {@linkcode viewsOfRefs}.
 */
const refPlans = new ShapeCache<RefPlan>();

function planRefs(doc: RegistryDocument, scope: Scope, refs: readonly string[]): RefPlan {
  const steps: RefStep[] = [];
  const groups = new Map<string, ReadGroup>();
  let complete = true;
  for (const ref of refs) {
    const m = REF.exec(ref.trim());
    if (!m) {
      throw new LarderError(
        "INPUT_INVALID",
        `Invalid feature reference ${JSON.stringify(ref.slice(0, 200))}: expected "view:feature"`,
        { details: { ref: ref.slice(0, 200) } },
      );
    }
    const view = m[1]!;
    const feature = m[2]!;
    const served = scope.features?.has(`${view}:${feature}`) ?? true;
    const touched = viewReadResources(doc, view);
    const spec = findObject(doc, "featureView", view)?.spec ??
      findObject(doc, "onDemandFeatureView", view)?.spec;
    const features = spec?.features.map((f) => f.name) ?? [];
    steps.push({ view, feature, served, touched, features });
    // Every caller's walk ends here at the latest: the rest cannot change the answer.
    if (!served || !touched) return { steps, groups: undefined };
    if (!features.includes(feature)) complete = false;
    if (!groups.has(view)) groups.set(view, { view: touched[0]!, touched });
  }
  return { steps, groups: complete ? [...groups.values()] : undefined };
}

/**
 * The views behind `"view:feature"` references (feature views or on-demand views), each with
 * what reading it touches, checked against the deployment's scope and the caller: references
 * are taken in order, and the first one that is not served, names a view hidden from the caller
 * or absent, or a feature the view lacks, is the answer.
 */
export function viewsOfRefs(
  lookup: Lookup,
  request: { readonly refs: readonly string[]; readonly actions: Action[] },
): readonly ReadGroup[] {
  const { doc, scope, access } = lookup;
  const { refs, actions } = request;
  const plan = refPlans.get(scope, JSON.stringify(refs), () => planRefs(doc, scope, refs));
  if (access.open && plan.groups) return plan.groups;
  const groups = new Map<string, ReadGroup>();
  for (const step of plan.steps) {
    if (!step.served) throw notServed(lookup, `Feature "${step.view}:${step.feature}"`);
    let group = groups.get(step.view);
    if (!group) {
      const touched = step.touched;
      if (!touched || access.hides(touched[0]!, actions, touched)) {
        throw viewNotFound(lookup, step.view);
      }
      group = { view: touched[0]!, touched };
      groups.set(step.view, group);
    }
    if (!step.features.includes(step.feature)) {
      const listed = access.describable(group.view) ? `: it has ${quoted(step.features)}` : "";
      throw new LarderError(
        "NOT_FOUND",
        `Cannot find feature "${step.feature}" in feature view "${step.view}"${listed}`,
        { details: { view: step.view, feature: step.feature } },
      );
    }
  }
  return [...groups.values()];
}

/**
 * The push source `pushSource` and the feature views it feeds (within scope), for a push doing
 * `actions`. `INPUT_INVALID` (422, as Feast answers an unknown push source) when the registry
 * lacks it or hides it from the caller (a caller that holds no permission on the source and may
 * not do `actions` on every view it feeds): both get the same answer.
 */
export function viewsOfPushSource(
  lookup: Lookup,
  request: { readonly pushSource: string; readonly actions: Action[] },
): { readonly source: Resource; readonly views: readonly Resource[] } {
  const { doc, scope, access } = lookup;
  const { pushSource, actions } = request;
  const spec = findObject(doc, "dataSource", pushSource)?.spec;
  const isPush = (s: { kind?: string }) => s.kind === "push";
  const unknown = () =>
    new LarderError(
      "INPUT_INVALID",
      `Cannot find push source "${pushSource}": the registry has ${
        describableNames(lookup, ["dataSource"], isPush)
      }`,
      { details: { kind: "dataSource", name: pushSource } },
    );
  if (!spec) throw unknown();
  const source: Resource = { type: "dataSource", name: pushSource, tags: spec.tags };
  if (spec.kind !== "push") {
    if (access.hides(source, actions, [])) throw unknown();
    throw new LarderError(
      "INPUT_INVALID",
      `Data source "${pushSource}" is a ${spec.kind} source, not a push source: push sources are ${
        describableNames(lookup, ["dataSource"], isPush)
      }`,
      { details: { kind: "dataSource", name: pushSource } },
    );
  }
  const views = Object.entries(doc.objects.featureView)
    .filter(([name, v]) => v.spec.source === pushSource && inScope(scope, "featureView", name))
    .map(([name, v]) => ({ type: "featureView" as const, name, tags: v.spec.tags }));
  if (access.hides(source, actions, views)) throw unknown();
  if (views.length === 0) {
    throw new LarderError(
      "INPUT_INVALID",
      `Push source "${pushSource}" feeds no feature view${
        scope.views ? " served by this deployment" : ""
      }`,
      { details: { pushSource } },
    );
  }
  return { source, views };
}

/** The online feature views to materialize: the ones named, or every online one in scope. */
export function viewsToMaterialize(
  lookup: Lookup,
  names: readonly string[] | undefined,
): Resource[] {
  const { doc, scope } = lookup;
  if (names === undefined) {
    return Object.entries(doc.objects.featureView)
      .filter(([name, v]) => v.spec.online && inScope(scope, "featureView", name))
      .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
      .map(([name, v]) => ({ type: "featureView" as const, name, tags: v.spec.tags }));
  }
  const out: Resource[] = [];
  for (const name of new Set(names)) {
    const resource = findResource(lookup, {
      type: "featureView",
      name,
      actions: ["WRITE_ONLINE"],
    });
    if (!findObject(doc, "featureView", name)!.spec.online) {
      throw new LarderError(
        "INPUT_INVALID",
        `Feature view "${name}" is not served online (online: false): it cannot be materialized`,
        { details: { view: name } },
      );
    }
    out.push(resource);
  }
  return out;
}
