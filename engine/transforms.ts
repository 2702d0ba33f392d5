/** On-demand transforms from loaded definitions, checked against the registry's hashes. */
import {
  type FeatureViewSpec,
  findObject,
  LarderError,
  type RegistryDocument,
} from "../registry/mod.ts";
import type { LoadedDefinitions } from "./definitions_loader.ts";
import type { LoadedTransform } from "./on_demand.ts";

/**
 * The transforms of on-demand views `names`, from `loaded` definitions. Throws `DRIFT` when a
 * view is missing from the definitions or its transform differs from what the registry
 * recorded at apply time, rather than computing something the registry does not describe.
 */
export function transformsFor(
  loaded: LoadedDefinitions,
  doc: RegistryDocument,
  names: readonly string[],
  repoDir: string,
): Map<string, LoadedTransform> {
  const out = new Map<string, LoadedTransform>();
  for (const name of names) {
    const stored = findObject(doc, "onDemandFeatureView", name)?.spec;
    const def = loaded.found.find((d) =>
      d.value.kind === "onDemandFeatureView" && d.value.name === name
    )
      ?.value as unknown as
        | { spec: { transformHash: string }; transform: LoadedTransform["transform"] }
        | undefined;
    if (!stored) {
      throw new LarderError(
        "NOT_FOUND",
        `Cannot find on-demand feature view "${name}" in the registry`,
      );
    }
    if (!def) {
      throw new LarderError(
        "DRIFT",
        `On-demand feature view "${name}" is in the registry but not in the definitions loaded from "${repoDir}": deploy the definitions that were applied`,
        { details: { view: name } },
      );
    }
    if (def.spec.transformHash !== stored.transformHash) {
      throw new LarderError(
        "DRIFT",
        `On-demand feature view "${name}": the loaded transform (sha256 ${
          def.spec.transformHash.slice(0, 12)
        }) differs from the registry's (sha256 ${
          stored.transformHash.slice(0, 12)
        }): run apply, or deploy the applied definitions`,
        { details: { view: name, loaded: def.spec.transformHash, registry: stored.transformHash } },
      );
    }
    out.set(name, { name, features: stored.features, transform: def.transform });
  }
  return out;
}

/** A stream feature view's transform: a batch of event columns in, row columns out. */
export type StreamTransformFn = (
  events: Readonly<Record<string, readonly unknown[]>>,
) => Record<string, readonly unknown[]>;

/**
 * The transforms of stream feature views `views` (those with one), from `loaded` definitions.
 * Throws `DRIFT` when a view is missing from the definitions or its transform differs from
 * what the registry recorded at apply time.
 */
export function streamTransformsFor(
  loaded: LoadedDefinitions,
  views: readonly FeatureViewSpec[],
  repoDir: string,
): Map<string, StreamTransformFn> {
  const out = new Map<string, StreamTransformFn>();
  for (const view of views) {
    const stored = view.stream?.transformHash;
    if (stored === undefined) continue;
    const def = loaded.found.find((d) =>
      d.value.kind === "featureView" && d.value.name === view.name
    )
      ?.value as unknown as
        | { spec: { stream?: { transformHash?: string } }; transform?: StreamTransformFn }
        | undefined;
    const hash = def?.spec.stream?.transformHash;
    if (!def || def.transform === undefined || hash === undefined) {
      throw new LarderError(
        "DRIFT",
        `Stream feature view "${view.name}" has a transform in the registry but ${
          def ? "none" : "is not"
        } in the definitions loaded from "${repoDir}": deploy the definitions that were applied`,
        { details: { view: view.name } },
      );
    }
    if (hash !== stored) {
      throw new LarderError(
        "DRIFT",
        `Stream feature view "${view.name}": the loaded transform (sha256 ${
          hash.slice(0, 12)
        }) differs from the registry's (sha256 ${
          stored.slice(0, 12)
        }): run apply, or deploy the applied definitions`,
        { details: { view: view.name, loaded: hash, registry: stored } },
      );
    }
    out.set(view.name, def.transform);
  }
  return out;
}
