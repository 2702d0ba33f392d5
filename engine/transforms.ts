/** On-demand transforms from loaded definitions, checked against the registry's hashes. */
import { findObject, LarderError, type RegistryDocument } from "../registry/mod.ts";
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
