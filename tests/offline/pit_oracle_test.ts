/**
 * DuckDBOfflineStore against the brute-force point-in-time oracle (see `_pit_oracle.ts`), on
 * both engines: DuckDB-WASM and native DuckDB, the same cases on the same kind of files.
 */
import { DuckDBOfflineStore } from "../../engine/offline/mod.ts";
import { pitOracleSuite } from "./_pit_oracle.ts";

pitOracleSuite("DuckDBOfflineStore", () => new DuckDBOfflineStore({ memoryLimit: "1GB" }), {
  splitJoin: true,
});

pitOracleSuite(
  "DuckDBOfflineStore (native)",
  () => new DuckDBOfflineStore({ engine: "native", memoryLimit: "1GB", threads: 2 }),
  { splitJoin: true },
);
