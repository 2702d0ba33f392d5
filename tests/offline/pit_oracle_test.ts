/** DuckDBOfflineStore against the brute-force point-in-time oracle (see `_pit_oracle.ts`). */
import { DuckDBOfflineStore } from "../../engine/offline/mod.ts";
import { pitOracleSuite } from "./_pit_oracle.ts";

pitOracleSuite("DuckDBOfflineStore", () => new DuckDBOfflineStore({ memoryLimit: "1GB" }), {
  splitJoin: true,
});
