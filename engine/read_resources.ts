/**
 * What a read of features touches, as permissions see it: one rule for online reads
 * (READ_ONLINE) and historical retrieval (READ_OFFLINE). An on-demand view computes its
 * outputs from the feature views it reads, so reading it reads them too: a pass-through
 * transform would otherwise hand out a view's values to a caller refused that view.
 */
import { findObject, LarderError, type RegistryDocument } from "../registry/mod.ts";
import type { Resource } from "./permissions.ts";
import { type FeatureReference, parseFeatureRef } from "./resolve_features.ts";

/**
 * The resources a read of view `name` touches: the feature view, or the on-demand view and
 * every feature view it reads, transitively (request sources need no permission). `undefined`
 * when the registry has no view of that name.
 */
export function viewReadResources(doc: RegistryDocument, name: string): Resource[] | undefined {
  const out = new Map<string, Resource>();
  const visit = (view: string): boolean => {
    const feature = findObject(doc, "featureView", view)?.spec;
    const onDemand = feature ? undefined : findObject(doc, "onDemandFeatureView", view)?.spec;
    const spec = feature ?? onDemand;
    if (!spec) return false;
    if (out.has(view)) return true;
    out.set(view, {
      type: feature ? "featureView" : "onDemandFeatureView",
      name: view,
      tags: spec.tags,
    });
    for (const source of onDemand?.sources ?? []) {
      // An input missing from the registry cannot be read: the read fails later, naming it.
      if (source.kind === "featureView") visit(source.name);
    }
    return true;
  };
  return visit(name) ? [...out.values()] : undefined;
}

/**
 * The resources a read of these features touches, on each of which the caller needs the read
 * action (READ_ONLINE online, READ_OFFLINE for historical retrieval): a feature service alone
 * (a grant on a service grants what it contains, on-demand inputs included), or every view
 * named with what it reads ({@linkcode viewReadResources}); a handle of a projection reads its
 * feature view. Throws `NOT_FOUND` for an unknown view or service and `INPUT_INVALID` for a
 * malformed reference.
 *
 * @example
 * ```ts ignore
 * import { assertPermitted, readResources } from "./mod.ts";
 * assertPermitted(permissions, {
 *   resources: readResources(doc, { features: ["scaled:x"] }),
 *   actions: ["READ_OFFLINE"],
 *   principal,
 * });
 * ```
 */
export function readResources(
  doc: RegistryDocument,
  request: {
    readonly features?: readonly FeatureReference[] | undefined;
    readonly featureService?: string | undefined;
  },
): Resource[] {
  if (request.featureService !== undefined) {
    const service = findObject(doc, "featureService", request.featureService);
    if (!service) throw unknownView("featureService", request.featureService);
    return [{ type: "featureService", name: request.featureService, tags: service.spec.tags }];
  }
  const out = new Map<string, Resource>();
  for (const ref of request.features ?? []) {
    // A projection (another name, a join-key map) reads its feature view: that is what is read.
    const projected = typeof ref === "string" ? undefined : ref?.projection?.view;
    const view = typeof projected === "string" ? projected : parseFeatureRef(ref)[0];
    if (out.has(`featureView/${view}`) || out.has(`onDemandFeatureView/${view}`)) continue;
    const touched = viewReadResources(doc, view);
    if (!touched) throw unknownView("featureView", view);
    for (const r of touched) out.set(`${r.type}/${r.name}`, r);
  }
  return [...out.values()];
}

function unknownView(kind: "featureView" | "featureService", name: string): LarderError {
  return new LarderError(
    "NOT_FOUND",
    `Cannot find ${kind === "featureView" ? "feature view" : "feature service"} "${name}"`,
    { details: { kind, name } },
  );
}
