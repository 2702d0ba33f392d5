/** The offline store on DuckDB (WASM or native). */
import { isAbsolute, resolve } from "node:path";
import { type Table, tableToIPC } from "apache-arrow";
import { type BatchSourceSpec, isLarderError } from "../../registry/mod.ts";
import type { DuckDBOfflineStoreConfig } from "../config.ts";
import { DuckDB, type DuckDBEngine, type DuckDBMode } from "./duckdb.ts";
import { getHistoricalFeatures } from "./historical.ts";
import type { HistoricalQuery, RetrievalJob } from "./historical_query.ts";
import { checkCsvValues, type CsvHeaders, describeFiles } from "./_load.ts";
import type { CheckSourceOptions, OfflineStore, SourceColumn } from "./offline_store.ts";
import { type LatestRows, pullLatest, type PullLatestOptions } from "./pull_latest.ts";
import { ident } from "./_sql.ts";
import { resolveSourceFiles } from "./source_files.ts";
import { checkSourceCompatibility, joinKeysOf, sourceLayout } from "./source_compatibility.ts";
import { requireSourceKind } from "./source_kind.ts";

/** Options for {@linkcode DuckDBOfflineStore}. */
export interface DuckDBOfflineStoreOptions {
  /**
   * `"wasm"` (DuckDB-WASM) or `"native"` (native DuckDB: every core, spills to disk).
   * @default {"wasm"}
   */
  readonly engine?: DuckDBEngine;
  /**
   * `"blocking"` runs queries in the calling thread (the CLI); `"worker"` in a Web Worker,
   * keeping the event loop free (servers).
   * @default {"blocking"}
   */
  readonly mode?: DuckDBMode;
  /**
   * DuckDB's `memory_limit` (`offline_store.memory_limit`).
   * @default {"2GB"}
   */
  readonly memoryLimit?: string;
  /**
   * Native only: threads per query (`offline_store.threads`).
   * @default every core
   */
  readonly threads?: number;
  /**
   * Native only: where DuckDB spills (`offline_store.temp_directory`).
   * @default a folder of its own under the system's temporary directory, removed on close
   */
  readonly tempDirectory?: string;
}

/**
 * An {@linkcode OfflineStore} on DuckDB, WASM or native. DuckDB starts lazily, at the first
 * call that needs it (WASM: about a second), and stays until {@linkcode DuckDBOfflineStore.close}.
 *
 * @example
 * ```ts ignore
 * const store = DuckDBOfflineStore.fromConfig(config.offline_store);
 * const job = await store.getHistoricalFeatures({ repoDir, entityTable: "entities.parquet", views });
 * await job.write("training.parquet");
 * await store.close();
 * ```
 */
export class DuckDBOfflineStore implements OfflineStore {
  readonly #options: DuckDBOfflineStoreOptions;
  #db: Promise<DuckDB> | undefined;

  constructor(options: DuckDBOfflineStoreOptions = {}) {
    this.#options = options;
  }

  /**
   * A store from `larder.yaml`'s `offline_store` section; a relative `temp_directory` is
   * resolved against `repoDir` (default: the working directory).
   */
  static fromConfig(
    config: DuckDBOfflineStoreConfig,
    options: { mode?: DuckDBMode; repoDir?: string } = {},
  ): DuckDBOfflineStore {
    const temp = config.temp_directory;
    return new DuckDBOfflineStore({
      ...(options.mode !== undefined ? { mode: options.mode } : {}),
      engine: config.engine,
      memoryLimit: config.memory_limit,
      ...(config.threads !== undefined ? { threads: config.threads } : {}),
      ...(temp !== undefined
        ? { tempDirectory: isAbsolute(temp) ? temp : resolve(options.repoDir ?? ".", temp) }
        : {}),
    });
  }

  #open(): Promise<DuckDB> {
    this.#db ??= DuckDB.open(this.#options).catch((err) => {
      this.#db = undefined;
      throw err;
    });
    return this.#db;
  }

  /** Starts DuckDB now (WASM: about a second) rather than at the first call that needs it. */
  async ready(): Promise<void> {
    await this.#open();
  }

  async describeSource(spec: BatchSourceSpec, repoDir: string): Promise<SourceColumn[]> {
    const source = requireSourceKind(spec, "file", "duckdb");
    const files = await resolveSourceFiles(source, repoDir);
    const db = await this.#open();
    return await db.withSession((session) => describeFiles(session, files, source));
  }

  async checkSource(options: CheckSourceOptions): Promise<string[]> {
    const source = requireSourceKind(options.source, "file", "duckdb");
    const readers = "views" in options
      ? options.views
      : [{ view: options.view, entities: options.entities }];
    const files = await resolveSourceFiles(source, options.repoDir);
    const db = await this.#open();
    return await db.withSession(async (session) => {
      const headers: CsvHeaders = new Map();
      const columns = await describeFiles(session, files, source, headers);
      const problems = readers.flatMap(({ view, entities }) =>
        checkSourceCompatibility(view, source, [...entities], columns)
      );
      if (problems.length > 0 || source.format !== "csv") return problems;
      try {
        await checkCsvValues(session, {
          source,
          files,
          headers,
          reads: readers.map(({ view, entities }) => ({
            layout: sourceLayout(view, source, entities, undefined, columns),
            keyTypes: joinKeysOf(view, entities).keys.map((k) => k.type),
            featureTypes: view.features.map((f) => f.type),
          })),
        });
        return [];
      } catch (err) {
        if (isLarderError(err) && err.code === "SOURCE_INVALID") return [err.message];
        throw err;
      }
    });
  }

  async getHistoricalFeatures(query: HistoricalQuery): Promise<RetrievalJob> {
    const views = query.views.map((v) => ({
      ...v,
      source: requireSourceKind(v.source, "file", "duckdb"),
    }));
    return getHistoricalFeatures(await this.#open(), { ...query, views });
  }

  async pullLatest(options: PullLatestOptions): Promise<LatestRows> {
    const source = requireSourceKind(options.source, "file", "duckdb");
    return pullLatest(await this.#open(), { ...options, source });
  }

  async registerTable(name: string, data: Table | Uint8Array): Promise<void> {
    const db = await this.#open();
    const ipc = data instanceof Uint8Array ? data : tableToIPC(data, "stream");
    await db.withSession(async (session) => {
      await session.exec(`DROP TABLE IF EXISTS ${ident(name)}`);
      await session.insertIPC(name, ipc, { create: true });
    });
  }

  async close(): Promise<void> {
    const db = this.#db;
    this.#db = undefined;
    if (db) await (await db.catch(() => undefined))?.close();
  }
}
