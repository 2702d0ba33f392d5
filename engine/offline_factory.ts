/** Creates the offline engine that `larder.yaml` asks for. Imported lazily: it loads DuckDB. */
import type { OfflineStoreConfig } from "./config.ts";
import type { OfflineStore } from "./offline/offline_store.ts";
import { type DuckDBMode, DuckDBOfflineStore } from "./offline/mod.ts";

/**
 * Opens the configured offline engine (`worker` keeps a server's event loop free with WASM;
 * `repoDir` anchors a relative `temp_directory`).
 */
export function createOfflineStore(
  config: OfflineStoreConfig,
  options: { mode?: DuckDBMode; repoDir?: string } = {},
): Promise<OfflineStore> {
  return Promise.resolve(DuckDBOfflineStore.fromConfig(config, options));
}
