/**
 * Offline fixtures in a real Postgres: each file source of a suite becomes a table holding the
 * same rows, read through `postgresSource()` with the same timestamp fields and mapping.
 */
import type { FileSourceSpec, PostgresSourceSpec } from "../../registry/mod.ts";
import type { SourceFixtures } from "../contracts/offline_store_contract.ts";
import { OfflineStoreConfigSchema } from "../../engine/config.ts";
import type { OfflineStore } from "../../engine/offline/mod.ts";
import { PostgresOfflineStore } from "../../engine/offline_postgres/mod.ts";
import {
  createTable,
  type PostgresServer,
  skipWithoutPostgres,
  startPostgres,
} from "./postgres.ts";

/** The Postgres source for file source `spec`, once `rows` are in table `spec.name`. */
export function postgresSourceFor(spec: FileSourceSpec): PostgresSourceSpec {
  return {
    name: spec.name,
    description: spec.description,
    tags: spec.tags,
    owner: spec.owner,
    kind: "postgres",
    table: spec.name,
    timestampField: spec.timestampField,
    ...(spec.createdTimestampColumn !== undefined
      ? { createdTimestampColumn: spec.createdTimestampColumn }
      : {}),
    fieldMapping: spec.fieldMapping,
  };
}

/** {@linkcode SourceFixtures} that load each fixture into the database at `url()`. */
export function postgresFixtures(url: () => string): SourceFixtures {
  return {
    async source(spec, rows) {
      await createTable(url(), spec.name, rows);
      return postgresSourceFor(spec);
    },
    missing: (name) => ({
      ...postgresSourceFor({
        name,
        description: "",
        tags: {},
        owner: "",
        kind: "file",
        path: "x",
        format: "parquet",
        timestampField: "event_timestamp",
        fieldMapping: {},
      }),
      table: `${name}_absent`,
    }),
    textFiles: false,
  };
}

/**
 * Runs `suite` (a shared offline suite: the contract, the PIT oracle) on PostgresOfflineStore
 * over a PostgreSQL 15 that this test file starts first and stops last; everything is ignored
 * where PostgreSQL is not installed.
 */
export function onPostgres(
  label: string,
  suite: (newStore: () => OfflineStore, sources: SourceFixtures) => void,
): void {
  const ignore = skipWithoutPostgres(`PostgresOfflineStore ${label}`);
  let pg: PostgresServer | undefined;
  Deno.test({
    name: "PostgresOfflineStore: start PostgreSQL",
    ignore,
    fn: async () => {
      pg = await startPostgres();
    },
  });
  if (!ignore) {
    suite(() => {
      const config = OfflineStoreConfigSchema.parse({ type: "postgres", url: pg!.url });
      return new PostgresOfflineStore(config as Extract<typeof config, { type: "postgres" }>);
    }, postgresFixtures(() => pg!.url));
  }
  Deno.test({
    name: "PostgresOfflineStore: stop PostgreSQL",
    ignore,
    fn: async () => {
      await pg?.stop();
    },
  });
}
