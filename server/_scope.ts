/**
 * What a request touches, looked up in the registry document: the objects permissions are
 * checked on, and the limit `feature_server.feature_services` puts on a deployment.
 */
import {
  KIND_LABEL,
  LarderError,
  type RegistryDocument,
  type Resource,
  ShapeCache,
} from "../engine/mod.ts";

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
        for (const p of doc.objects.featureService[name]?.spec.projections ?? []) {
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

function notServed(what: string, scope: Scope): LarderError {
  return new LarderError(
    "NOT_FOUND",
    `${what} is not served by this deployment: it serves feature services ${
      quoted(scope.services ?? [])
    }`,
    { details: { servedFeatureServices: [...(scope.services ?? [])].sort() } },
  );
}

/** The resource permissions see for an object. */
export function resourceOf(
  doc: RegistryDocument,
  type: ResourceType,
  name: string,
): Resource | undefined {
  const found = doc.objects[type][name];
  return found ? { type, name, tags: found.spec.tags } : undefined;
}

/** The object, or `NOT_FOUND` naming what exists (within the deployment's scope). */
export function findResource(
  doc: RegistryDocument,
  scope: Scope,
  type: ResourceType,
  name: string,
): Resource {
  const visible = (n: string) => inScope(scope, type, n);
  const resource = resourceOf(doc, type, name);
  if (resource && visible(name)) return resource;
  if (resource) {
    throw notServed(`${KIND_LABEL[type]} "${name}"`, scope);
  }
  throw new LarderError(
    "NOT_FOUND",
    `Cannot find ${KIND_LABEL[type].toLowerCase()} "${name}": the registry has ${
      quoted(Object.keys(doc.objects[type]).filter(visible))
    }`,
    { details: { kind: type, name } },
  );
}

/** Whether the deployment serves the object. Entities and data sources are always visible. */
export function inScope(scope: Scope, type: ResourceType, name: string): boolean {
  if (type === "featureService") return scope.services?.has(name) ?? true;
  if (type === "featureView" || type === "onDemandFeatureView") {
    return scope.views?.has(name) ?? true;
  }
  return true;
}

const REF = /^([A-Za-z_][A-Za-z0-9_]*):([A-Za-z_][A-Za-z0-9_]*)$/;

/**
 * The views behind `"view:feature"` references (feature views or on-demand views), checked
 * against the deployment's scope.
 */
export function viewsOfRefs(
  doc: RegistryDocument,
  scope: Scope,
  refs: readonly string[],
): readonly Resource[] {
  return refViews.get(scope, JSON.stringify(refs), () => resolveRefViews(doc, scope, refs));
}

/** Per scope (so per registry document): the views of each list of references seen. */
const refViews = new ShapeCache<readonly Resource[]>();

function resolveRefViews(
  doc: RegistryDocument,
  scope: Scope,
  refs: readonly string[],
): Resource[] {
  const out = new Map<string, Resource>();
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
    if (scope.features && !scope.features.has(`${view}:${m[2]}`)) {
      throw notServed(`Feature "${view}:${m[2]}"`, scope);
    }
    if (out.has(view)) continue;
    const resource = resourceOf(doc, "featureView", view) ??
      resourceOf(doc, "onDemandFeatureView", view);
    if (!resource) {
      throw new LarderError(
        "NOT_FOUND",
        `Cannot find feature view "${view}": the registry has ${
          quoted(
            Object.keys(doc.objects.featureView).filter((v) => inScope(scope, "featureView", v)),
          )
        }`,
        { details: { kind: "featureView", name: view } },
      );
    }
    out.set(view, resource);
  }
  return [...out.values()];
}

/** The feature views fed by a push source (within scope). */
export function viewsOfPushSource(
  doc: RegistryDocument,
  scope: Scope,
  pushSource: string,
): Resource[] {
  const source = doc.objects.dataSource[pushSource]?.spec;
  if (!source || source.kind !== "push") {
    const pushSources = Object.entries(doc.objects.dataSource)
      .filter(([, s]) => s.spec.kind === "push").map(([n]) => n);
    throw new LarderError(
      source ? "INPUT_INVALID" : "NOT_FOUND",
      source
        ? `Data source "${pushSource}" is a ${source.kind} source, not a push source: push sources are ${
          quoted(pushSources)
        }`
        : `Cannot find push source "${pushSource}": the registry has ${quoted(pushSources)}`,
      { details: { kind: "dataSource", name: pushSource } },
    );
  }
  const views = Object.entries(doc.objects.featureView)
    .filter(([name, v]) => v.spec.source === pushSource && inScope(scope, "featureView", name))
    .map(([name, v]) => ({ type: "featureView" as const, name, tags: v.spec.tags }));
  if (views.length === 0) {
    throw new LarderError(
      "INPUT_INVALID",
      `Push source "${pushSource}" feeds no feature view${
        scope.views ? " served by this deployment" : ""
      }`,
      { details: { pushSource } },
    );
  }
  return views;
}

/** The online feature views to materialize: the ones named, or every online one in scope. */
export function viewsToMaterialize(
  doc: RegistryDocument,
  scope: Scope,
  names: readonly string[] | undefined,
): Resource[] {
  if (names === undefined) {
    return Object.entries(doc.objects.featureView)
      .filter(([name, v]) => v.spec.online && inScope(scope, "featureView", name))
      .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
      .map(([name, v]) => ({ type: "featureView" as const, name, tags: v.spec.tags }));
  }
  const out: Resource[] = [];
  for (const name of new Set(names)) {
    const resource = findResource(doc, scope, "featureView", name);
    if (!doc.objects.featureView[name]!.spec.online) {
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
