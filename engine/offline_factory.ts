/** Creates the offline engine that `larder.yaml` asks for. Imported lazily: it loads DuckDB. */
import type { OfflineStoreConfig } from "./config.ts";
import type { OfflineStore } from "./offline/offline_store.ts";
import { type DuckDBMode, DuckDBOfflineStore } from "./offline/mod.ts";

type OfflineStoreFactory<T extends OfflineStoreConfig["type"]> = (
  config: Extract<OfflineStoreConfig, { type: T }>,
  options: { mode?: DuckDBMode; repoDir?: string },
) => Promise<OfflineStore>;

const FACTORIES: { [T in OfflineStoreConfig["type"]]: OfflineStoreFactory<T> } = {
  duckdb: (config, options) => Promise.resolve(DuckDBOfflineStore.fromConfig(config, options)),
  // The Postgres client loads only when a repo uses it.
  postgres: async (config) => {
    const { PostgresOfflineStore } = await import("./offline_postgres/mod.ts");
    return new PostgresOfflineStore(config);
  },
};

/**
 * Opens the configured offline engine (`worker` keeps a server's event loop free with WASM;
 * `repoDir` anchors a relative `temp_directory`).
 */
export function createOfflineStore(
  config: OfflineStoreConfig,
  options: { mode?: DuckDBMode; repoDir?: string } = {},
): Promise<OfflineStore> {
  const factory = FACTORIES[config.type] as OfflineStoreFactory<typeof config.type>;
  return factory(config as never, options);
}
