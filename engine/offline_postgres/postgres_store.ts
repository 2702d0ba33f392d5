/** The offline store on PostgreSQL: the work runs as SQL in the database. */
import { type Table, tableFromIPC } from "apache-arrow";
import type { BatchSourceSpec } from "../../registry/mod.ts";
import type { PostgresOfflineStoreConfig } from "../config.ts";
import {
  checkSourceCompatibility,
  type CheckSourceOptions,
  type HistoricalQuery,
  type LatestRows,
  type OfflineStore,
  type PullLatestOptions,
  requireSourceKind,
  type RetrievalJob,
  type SourceColumn,
} from "../offline/mod.ts";
import { connect, type Session, type Sql, withSession } from "./_client.ts";
import { getHistoricalFeatures } from "./_historical.ts";
import { pullLatest } from "./_pull_latest.ts";
import { describePgSource } from "./_source.ts";

const STORE = "postgres";

/**
 * An {@linkcode OfflineStore} on PostgreSQL (or a Postgres-wire warehouse), for sources made
 * with `postgresSource()`. Entity tables are copied into temporary tables (`COPY`), each
 * view's rows in the needed time range are staged in an indexed temporary table, and the
 * point-in-time join streams back through a cursor, `fetch_rows` rows at a time. Connections
 * are opened at the first call that needs one.
 *
 * @example
 * ```ts ignore
 * const store = new PostgresOfflineStore(config.offline_store);
 * const job = await store.getHistoricalFeatures({ repoDir, entityTable: rows, views });
 * await job.write("training.parquet");
 * await store.close();
 * ```
 */
export class PostgresOfflineStore implements OfflineStore {
  readonly #config: PostgresOfflineStoreConfig;
  readonly #registered = new Map<string, Table>();
  #sql: Sql | undefined;

  constructor(config: PostgresOfflineStoreConfig) {
    this.#config = config;
  }

  #pool(): Sql {
    this.#sql ??= connect(this.#config);
    return this.#sql;
  }

  #withSession<T>(fn: (session: Session) => Promise<T>): Promise<T> {
    return withSession(this.#pool(), fn);
  }

  describeSource(spec: BatchSourceSpec, _repoDir: string): Promise<SourceColumn[]> {
    const source = requireSourceKind(spec, "postgres", STORE);
    return this.#withSession((session) => describePgSource(session, source));
  }

  async checkSource(options: CheckSourceOptions): Promise<string[]> {
    const source = requireSourceKind(options.source, "postgres", STORE);
    const readers = "views" in options
      ? options.views
      : [{ view: options.view, entities: options.entities }];
    const columns = await this.#withSession((session) => describePgSource(session, source));
    return readers.flatMap(({ view, entities }) =>
      checkSourceCompatibility(view, source, [...entities], columns)
    );
  }

  getHistoricalFeatures(query: HistoricalQuery): Promise<RetrievalJob> {
    const views = query.views.map((v) => ({
      ...v,
      source: requireSourceKind(v.source, "postgres", STORE),
    }));
    return getHistoricalFeatures(
      { sql: this.#pool(), fetchRows: this.#config.fetch_rows, registered: this.#registered },
      { ...query, views },
    );
  }

  pullLatest(options: PullLatestOptions): Promise<LatestRows> {
    const source = requireSourceKind(options.source, "postgres", STORE);
    return pullLatest(this.#pool(), { ...options, source });
  }

  /**
   * Makes Arrow data queryable by name from `{ sql }` entity inputs: each run copies it into a
   * temporary table of that name (which hides a table of the same name in the database).
   */
  registerTable(name: string, data: Table | Uint8Array): Promise<void> {
    this.#registered.set(name, data instanceof Uint8Array ? tableFromIPC(data) : data);
    return Promise.resolve();
  }

  async close(): Promise<void> {
    const sql = this.#sql;
    this.#sql = undefined;
    await sql?.end({ timeout: 5 });
  }
}
