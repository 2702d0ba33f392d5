/** PostgresOfflineStore against the offline store contract, on a real PostgreSQL 15. */
import { offlineStoreContract } from "../contracts/offline_store_contract.ts";
import { onPostgres } from "../support/postgres_fixtures.ts";

onPostgres("contract", (newStore, sources) => {
  // The client's pool keeps idle connections open between tests, by design.
  offlineStoreContract("PostgresOfflineStore", newStore, { sanitize: false, sources });
});
