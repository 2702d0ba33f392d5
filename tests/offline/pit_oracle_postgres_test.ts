/** PostgresOfflineStore against the brute-force point-in-time oracle, on a real PostgreSQL 15. */
import { onPostgres } from "../support/postgres_fixtures.ts";
import { pitOracleSuite } from "./_pit_oracle.ts";

onPostgres("PIT oracle", (newStore, sources) => {
  // The client's pool keeps idle connections open between tests, by design.
  pitOracleSuite("PostgresOfflineStore", newStore, { sanitize: false, sources });
});
