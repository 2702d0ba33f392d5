/** The materialization read: the newest row per entity key within a window. */
import type { Table } from "apache-arrow";
import {
  type BatchSourceSpec,
  type EntitySpec,
  type FeatureViewSpec,
  type FileSourceSpec,
  LarderError,
} from "../../registry/mod.ts";
import type { DuckDB } from "./duckdb.ts";
import { type CsvHeaders, describeFiles, loadSource, tempName } from "./_load.ts";
import { ident } from "./_sql.ts";
import { checkSourceCompatibility, joinKeysOf, sourceLayout } from "./source_compatibility.ts";
import { resolveSourceFiles } from "./source_files.ts";

/** Name of the event timestamp column in {@linkcode LatestRows} batches. */
export const EVENT_TIMESTAMP_COLUMN = "event_timestamp";
/** Name of the created timestamp column in {@linkcode LatestRows} batches (NULL without one). */
export const CREATED_TIMESTAMP_COLUMN = "created_timestamp";

/** Options for {@linkcode pullLatest}. */
export interface PullLatestOptions<S extends BatchSourceSpec = BatchSourceSpec> {
  /** The feature repository: source paths are relative to it. */
  readonly repoDir: string;
  /** The feature view's spec. */
  readonly view: FeatureViewSpec;
  /** The view's batch source (for a push source, the push source's batch source). */
  readonly source: S;
  /** The specs of the view's entities. */
  readonly entities: readonly EntitySpec[];
  /** Window start, inclusive. */
  readonly start: Date;
  /** Window end, inclusive. */
  readonly end: Date;
  /**
   * Rows per batch.
   * @default {10000}
   */
  readonly batchRows?: number;
  /**
   * Every row in the window instead of the newest per key, ordered by key and event time; of
   * rows with the same key and event time only those with the greatest created time (NULL
   * oldest). What the aggregation tiles are built from.
   * @default {false}
   */
  readonly allRows?: boolean;
}

/**
 * The newest row per entity key, as Arrow tables of at most `batchRows` rows each, with
 * columns: the join keys, `event_timestamp`, `created_timestamp`, then every feature of the view
 * (timestamps are UTC without a zone). Iterating to the end, or breaking out of the loop,
 * releases the engine's memory; call `close()` if you never iterate.
 */
export interface LatestRows extends AsyncIterable<Table> {
  /** How many rows (entity keys) the batches hold in all, for progress. */
  readonly count: number;
  /**
   * Source rows in the window with a NULL join key, left out: such a row belongs to no entity
   * (historical retrieval never matches it either).
   */
  readonly nullKeyRows: number;
  /** The join-key columns, in order. */
  readonly joinKeys: readonly string[];
  /** The feature columns, in order. */
  readonly features: readonly string[];
  /** Releases the engine's memory without iterating to the end. */
  close(): Promise<void>;
}

/**
 * Reads, for each entity key of `view`, the newest source row with `start <= ts <= end`
 * (newest event timestamp, then newest created timestamp; NULL created is oldest). Rows with a
 * NULL join key are left out and counted (`nullKeyRows`).
 *
 * @example
 * ```ts ignore
 * const latest = await pullLatest(db, { repoDir, view, source, entities, start, end });
 * for await (const batch of latest) await online.write(view.name, batch);
 * ```
 */
export async function pullLatest(
  db: DuckDB,
  options: PullLatestOptions<FileSourceSpec>,
): Promise<LatestRows> {
  const { view, source } = options;
  const batchRows = options.batchRows ?? 10_000;
  if (!Number.isInteger(batchRows) || batchRows <= 0) {
    throw new LarderError(
      "INPUT_INVALID",
      `batchRows must be a positive integer, got ${batchRows}`,
    );
  }
  if (options.start.getTime() > options.end.getTime()) {
    throw new LarderError(
      "INPUT_INVALID",
      `start (${options.start.toISOString()}) is after end (${options.end.toISOString()})`,
    );
  }
  const files = await resolveSourceFiles(source, options.repoDir);
  const session = await db.connect();
  try {
    const headers: CsvHeaders = new Map();
    const columns = await describeFiles(session, files, source, headers);
    const problems = checkSourceCompatibility(view, source, [...options.entities], columns);
    if (problems.length > 0) {
      throw new LarderError("SOURCE_INVALID", problems.join("\n"), {
        details: { view: view.name, source: source.name, problems },
      });
    }
    const keys = joinKeysOf(view, options.entities).keys;
    const features = view.features.map((f) => f.name);
    const raw = tempName("pull");
    const loaded = await loadSource(session, {
      source,
      files,
      layout: sourceLayout(view, source, options.entities, features, columns),
      keyTypes: keys.map((k) => k.type),
      featureTypes: view.features.map((f) => f.type),
      low: BigInt(options.start.getTime()) * 1000n,
      high: BigInt(options.end.getTime()) * 1000n,
      table: raw,
      headers,
    });
    const latest = tempName("latest");
    const keyList = loaded.keys.map(ident).join(", ");
    const nullKey = loaded.keys.length === 0
      ? "false"
      : loaded.keys.map((k) => `${ident(k)} IS NULL`).join(" OR ");
    const [nulls] = await session.rows(
      `SELECT count(*)::BIGINT AS n FROM ${ident(raw)} WHERE ${nullKey}`,
    );
    const nullKeyRows = Number(nulls?.n ?? 0);
    const order = loaded.hasCreated ? "__ts DESC, __created DESC NULLS LAST" : "__ts DESC";
    const created = loaded.hasCreated ? "__created" : "NULL::TIMESTAMP";
    const select = `SELECT ${keyList ? `${keyList}, ` : ""}` +
      `__ts AS ${EVENT_TIMESTAMP_COLUMN}, ${created} AS ${CREATED_TIMESTAMP_COLUMN}, ` +
      `${loaded.features.map(ident).join(", ")} FROM ${ident(raw)} WHERE NOT (${nullKey}) `;
    const partition = keyList ? `PARTITION BY ${keyList}, __ts` : "PARTITION BY __ts";
    await session.exec(
      `CREATE TEMP TABLE ${ident(latest)} AS ` +
        (options.allRows
          ? `${select}${
            loaded.hasCreated
              ? `QUALIFY __created IS NOT DISTINCT FROM max(__created) OVER (${partition}) `
              : ""
          }ORDER BY ${keyList ? `${keyList}, ` : ""}__ts`
          : `${select}QUALIFY row_number() OVER (${
            keyList ? `PARTITION BY ${keyList} ` : ""
          }ORDER BY ${order}) = 1`),
    );
    await session.exec(`DROP TABLE ${ident(raw)}`);
    const [row] = await session.rows(`SELECT count(*)::BIGINT AS n FROM ${ident(latest)}`);
    const count = Number(row?.n ?? 0);
    return {
      count,
      nullKeyRows,
      joinKeys: loaded.keys,
      features: loaded.features,
      close: () => session.close(),
      async *[Symbol.asyncIterator]() {
        try {
          for (let at = 0; at < count; at += batchRows) {
            yield await session.query(
              `SELECT * FROM ${ident(latest)} WHERE rowid >= ${at} AND rowid < ${
                at + batchRows
              } ORDER BY rowid`,
            );
          }
        } finally {
          await session.close();
        }
      },
    };
  } catch (err) {
    await session.close();
    throw err;
  }
}
