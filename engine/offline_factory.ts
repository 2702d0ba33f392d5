/** Creates the offline engine that `larder.yaml` asks for. Imported lazily: it loads DuckDB. */
import type { OfflineStoreConfig } from "./config.ts";
import type { OfflineStore } from "./offline/offline_store.ts";
import { DuckDBOfflineStore } from "./offline/mod.ts";

/** Opens the configured offline engine. */
export async function createOfflineStore(config: OfflineStoreConfig): Promise<OfflineStore> {
  return await DuckDBOfflineStore.open({ memoryLimit: config.memory_limit });
}
