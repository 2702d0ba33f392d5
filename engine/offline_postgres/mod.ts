/**
 * @module
 * The offline store on PostgreSQL: sources are tables or queries (`postgresSource()`), and
 * point-in-time retrieval and the materialization read run as SQL in the database, streaming
 * results back through a cursor.
 *
 * @example
 * ```ts ignore
 * import { PostgresOfflineStore } from "./mod.ts";
 * const store = new PostgresOfflineStore({
 *   type: "postgres",
 *   url: "postgres://larder@db.internal/analytics",
 *   max_connections: 4,
 *   connect_timeout_seconds: 10,
 *   statement_timeout_seconds: 0,
 *   fetch_rows: 10_000,
 * });
 * const job = await store.getHistoricalFeatures({ repoDir, entityTable: rows, views });
 * await job.write("training.parquet");
 * await store.close();
 * ```
 */
export { PostgresOfflineStore } from "./postgres_store.ts";
