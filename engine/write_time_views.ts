/**
 * Write-time on-demand views (`writeToOnlineStore: true`): their transform runs when rows of
 * their one source feature view are written online, and their outputs are stored under their
 * own name with the source rows' entity keys and timestamps. Online reads treat them as
 * feature views; historical retrieval still computes them after the join.
 */
import {
  type FeatureViewSpec,
  findObject,
  LarderError,
  type OnDemandFeatureViewSpec,
  type RegistryDocument,
} from "../registry/mod.ts";

/** The write-time on-demand views whose source is feature view `view`, by name. */
export function writeTimeViews(doc: RegistryDocument, view: string): OnDemandFeatureViewSpec[] {
  return Object.keys(doc.objects.onDemandFeatureView).sort()
    .map((name) => findObject(doc, "onDemandFeatureView", name)!.spec)
    .filter((od) =>
      od.writeToOnlineStore && od.sources.some((s) => s.kind === "featureView" && s.name === view)
    );
}

/** The feature view a write-time on-demand view reads (its only source). */
export function writeTimeSource(
  doc: RegistryDocument,
  od: OnDemandFeatureViewSpec,
): { readonly spec: FeatureViewSpec; readonly features: readonly string[] } {
  const input = od.sources.find((s) => s.kind === "featureView");
  const spec = input ? findObject(doc, "featureView", input.name)?.spec : undefined;
  if (!input || !spec || od.sources.length !== 1) {
    throw new LarderError(
      "NOT_FOUND",
      `On-demand feature view "${od.name}" writes to the online store but its source ${
        input ? `feature view "${input.name}" is not in the registry` : "is not one feature view"
      }`,
      { details: { view: od.name } },
    );
  }
  return { spec, features: input.features };
}

/**
 * How online reads see a write-time on-demand view: a feature view named after it, with its
 * outputs as features and its source view's entities, ttl and online flag.
 */
export function writeTimeViewSpec(
  doc: RegistryDocument,
  od: OnDemandFeatureViewSpec,
): FeatureViewSpec {
  const { spec } = writeTimeSource(doc, od);
  return {
    ...spec,
    name: od.name,
    description: od.description,
    tags: od.tags,
    owner: od.owner,
    features: od.features,
  };
}
