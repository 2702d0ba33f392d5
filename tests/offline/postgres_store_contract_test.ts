/** PostgresOfflineStore against the offline store contract, on a real PostgreSQL 15. */
import { OfflineStoreConfigSchema } from "../../engine/config.ts";
import { PostgresOfflineStore } from "../../engine/offline_postgres/mod.ts";
import { offlineStoreContract } from "../contracts/offline_store_contract.ts";
import { type PostgresServer, skipWithoutPostgres, startPostgres } from "../support/postgres.ts";
import { postgresFixtures } from "../support/postgres_fixtures.ts";

const ignore = skipWithoutPostgres("PostgresOfflineStore contract");
let pg: PostgresServer | undefined;

Deno.test({
  name: "PostgresOfflineStore: start PostgreSQL",
  ignore,
  fn: async () => {
    pg = await startPostgres();
  },
});

if (!ignore) {
  offlineStoreContract(
    "PostgresOfflineStore",
    () => {
      const config = OfflineStoreConfigSchema.parse({ type: "postgres", url: pg!.url });
      return new PostgresOfflineStore(config as Extract<typeof config, { type: "postgres" }>);
    },
    // The client's pool keeps idle connections open between tests, by design.
    { sanitize: false, sources: postgresFixtures(() => pg!.url) },
  );
}

Deno.test({
  name: "PostgresOfflineStore: stop PostgreSQL",
  ignore,
  fn: async () => {
    await pg?.stop();
  },
});
