/**
 * Loaders for the heavy parts of the engine. Materialization, historical retrieval and offline
 * writes read through the offline engine (DuckDB, parquet-wasm) and Arrow, which the online path
 * (and the edge) must never load, so callers import them on first use, through here.
 *
 * A deployment may leave them out altogether (a Cloudflare Workers bundle does): a part that
 * cannot be loaded is then an `UNAVAILABLE` error that says what is missing and where it runs,
 * not a bare module-resolution failure.
 */
import { LarderError } from "../registry/mod.ts";

/** How runtimes say that a module is not there: Deno, workerd, Node. */
const MODULE_MISSING = /module not found|no such module|cannot find module|failed to resolve/i;

async function loadPart<T>(what: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if (err instanceof Error && MODULE_MISSING.test(err.message)) {
      throw new LarderError(
        "UNAVAILABLE",
        `${what} is not part of this deployment (an edge bundle serves online reads and pushes ` +
          `only): run it where Larder runs on Deno, such as the larder command`,
        { cause: err },
      );
    }
    throw err;
  }
}

/** Loads materialization (apache-arrow; the offline engine on first read). */
export function loadMaterialize(): Promise<typeof import("./materialize/mod.ts")> {
  return loadPart("Materialization", () => import("./materialize/mod.ts"));
}

/** Loads the offline engine (DuckDB-WASM, parquet-wasm). */
export function loadOffline(what: string): Promise<typeof import("./offline/mod.ts")> {
  return loadPart(what, () => import("./offline/mod.ts"));
}

/** Loads what creates the configured offline store. */
export function loadOfflineFactory(): Promise<typeof import("./offline_factory.ts")> {
  return loadPart("The offline store", () => import("./offline_factory.ts"));
}

/** Loads historical retrieval. */
export function loadHistoricalRetrieval(): Promise<typeof import("./historical_retrieval.ts")> {
  return loadPart("Historical retrieval", () => import("./historical_retrieval.ts"));
}

/** Loads the columns-to-Arrow encoder (apache-arrow). */
export function loadArrowColumns(what: string): Promise<typeof import("./_arrow_columns.ts")> {
  return loadPart(what, () => import("./_arrow_columns.ts"));
}

/** Loads the feature log's Parquet encoder (apache-arrow, parquet-wasm). */
export function loadFeatureLogEncoder(): Promise<
  typeof import("./feature_logging/_log_encode.ts")
> {
  return loadPart("Feature logging", () => import("./feature_logging/_log_encode.ts"));
}
