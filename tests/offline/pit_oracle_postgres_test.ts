/** PostgresOfflineStore against the brute-force point-in-time oracle, on a real PostgreSQL 15. */
import { OfflineStoreConfigSchema } from "../../engine/config.ts";
import { PostgresOfflineStore } from "../../engine/offline_postgres/mod.ts";
import { type PostgresServer, skipWithoutPostgres, startPostgres } from "../support/postgres.ts";
import { postgresFixtures } from "../support/postgres_fixtures.ts";
import { pitOracleSuite } from "./_pit_oracle.ts";

const ignore = skipWithoutPostgres("PostgresOfflineStore PIT oracle");
let pg: PostgresServer | undefined;

Deno.test({
  name: "PostgresOfflineStore: start PostgreSQL",
  ignore,
  fn: async () => {
    pg = await startPostgres();
  },
});

if (!ignore) {
  pitOracleSuite(
    "PostgresOfflineStore",
    () => {
      const config = OfflineStoreConfigSchema.parse({ type: "postgres", url: pg!.url });
      return new PostgresOfflineStore(config as Extract<typeof config, { type: "postgres" }>);
    },
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
