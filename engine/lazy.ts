/**
 * Loaders for the heavy parts of the engine. Materialization reads through the offline
 * engine and Arrow, which the online path (and the edge) must never load, so callers import
 * them on first use.
 */

/** Loads materialization (apache-arrow; the offline engine on first read). */
export function loadMaterialize(): Promise<typeof import("./materialize/mod.ts")> {
  return import("./materialize/mod.ts");
}
