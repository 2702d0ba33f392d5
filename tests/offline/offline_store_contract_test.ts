/** DuckDBOfflineStore, on both engines (WASM in both modes), against the offline store contract. */
import { DuckDBOfflineStore } from "../../engine/offline/mod.ts";
import { offlineStoreContract } from "../contracts/offline_store_contract.ts";

offlineStoreContract(
  "DuckDBOfflineStore (blocking)",
  () => new DuckDBOfflineStore({ mode: "blocking", memoryLimit: "512MB" }),
);

// The worker mode keeps a Web Worker (and its message port) alive from the first query until
// close(), across tests by design, which Deno's op/resource sanitizers would report.
offlineStoreContract(
  "DuckDBOfflineStore (worker)",
  () => new DuckDBOfflineStore({ mode: "worker", memoryLimit: "512MB" }),
  { sanitize: false },
);

offlineStoreContract(
  "DuckDBOfflineStore (native)",
  () => new DuckDBOfflineStore({ engine: "native", memoryLimit: "512MB", threads: 2 }),
);
