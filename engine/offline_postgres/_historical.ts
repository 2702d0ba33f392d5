/**
 * Point-in-time retrieval in Postgres: validation up front, then a lazy job whose every run
 * holds one connection, stages each view's rows in an indexed temporary table, and streams the
 * join (one `LATERAL` index probe per entity row and view) through a cursor.
 */
import { resolve } from "node:path";
import type { RecordBatch, Table } from "apache-arrow";
import { Table as ArrowTable } from "apache-arrow";
import {
  joinKeyColumn,
  LarderError,
  type PostgresSourceSpec,
  type ScalarType,
} from "../../registry/mod.ts";
import {
  type BatchOptions,
  batchRows,
  checkEntityColumns,
  type HistoricalQuery,
  inferTimestampColumn,
  joinKeysOf,
  planOutputs,
  requestName,
  type RetrievalJob,
  type SourceColumn,
  type ViewRequest,
  windowMicros,
  writeBatches,
} from "../offline/mod.ts";
import {
  fetchInChunks,
  pgError,
  pgIdent,
  pgMicros,
  releaseSession,
  reserveSession,
  type Session,
  type Sql,
  withSession,
} from "./_client.ts";
import {
  describeEntities,
  loadEntities,
  type PreparedEntities,
  prepareEntities,
} from "./_entities.ts";
import { describePgSource, requireCompatible, type Staged, stageSource } from "./_source.ts";
import { arrowTypeOf, batchFromRows, type OutputColumn, pgTypeOf, selectAs } from "./_types.ts";

interface PreparedView {
  readonly request: ViewRequest<PostgresSourceSpec>;
  readonly columns: readonly SourceColumn[];
  /** Join keys, named by the entity-table column that holds them. */
  readonly keys: readonly { name: string; type: ScalarType; entity: string }[];
  readonly outputs: readonly string[];
}

/** What the store gives a retrieval. */
export interface HistoricalDeps {
  readonly sql: Sql;
  readonly fetchRows: number;
  readonly registered: ReadonlyMap<string, Table>;
}

async function prepareViews(
  session: Session,
  query: HistoricalQuery<PostgresSourceSpec>,
  outputs: string[][],
): Promise<PreparedView[]> {
  const described = new Map<string, SourceColumn[]>();
  const prepared: PreparedView[] = [];
  for (const [i, request] of query.views.entries()) {
    const key = JSON.stringify([request.source.name, request.source.table, request.source.query]);
    let columns = described.get(key);
    if (columns === undefined) {
      columns = await describePgSource(session, request.source);
      described.set(key, columns);
    }
    const view = {
      ...request.view,
      features: request.view.features.filter((f) => request.features.includes(f.name)),
    };
    requireCompatible(view, request.source, request.entities, columns);
    const keys = joinKeysOf(request.view, request.entities).keys.map((k) => ({
      ...k,
      name: joinKeyColumn(request, k.name),
    }));
    prepared.push({ request, columns, keys, outputs: outputs[i]! });
  }
  return prepared;
}

/** One view's lookup for each entity row `e`, as a `LEFT JOIN LATERAL`. */
function lateral(
  staged: Staged,
  alias: string,
  options: {
    keys: readonly string[];
    entityTs: string;
    ttlMicros: bigint;
    filterByCreated: boolean;
  },
): string {
  const ts = options.entityTs;
  const where = [
    ...staged.keys.map((k, i) => `s.${k} = e.${pgIdent(options.keys[i]!)}`),
    `s.__ts <= ${ts}`,
    ...(options.ttlMicros > 0n
      ? [`s.__ts >= ${ts} - interval '1 microsecond' * ${options.ttlMicros}`]
      : []),
    ...(options.filterByCreated && staged.hasCreated ? [`s.__created <= ${ts}`] : []),
  ];
  const order = staged.hasCreated ? "s.__ts DESC, s.__created DESC NULLS LAST" : "s.__ts DESC";
  return `LEFT JOIN LATERAL (SELECT ${
    staged.features.map((f) => `s.${f.column}`).join(", ")
  } FROM ${pgIdent(staged.table)} s WHERE ${
    where.join(" AND ")
  } ORDER BY ${order} LIMIT 1) ${alias} ON true`;
}

/** Runs `prepare` in a fresh session, then streams its SQL through a cursor. */
class PostgresRetrievalJob implements RetrievalJob {
  readonly columns: readonly string[];
  readonly #deps: HistoricalDeps;
  readonly #repoDir: string;
  readonly #prepare: (
    session: Session,
  ) => Promise<{ sql: string; output: readonly OutputColumn[] }>;

  constructor(
    deps: HistoricalDeps,
    options: { columns: readonly string[]; repoDir: string },
    prepare: (session: Session) => Promise<{ sql: string; output: readonly OutputColumn[] }>,
  ) {
    this.#deps = deps;
    this.columns = options.columns;
    this.#repoDir = options.repoDir;
    this.#prepare = prepare;
  }

  async *batches(options: BatchOptions = {}): AsyncGenerator<RecordBatch> {
    const rows = Math.min(options.batchRows ?? this.#deps.fetchRows, this.#deps.fetchRows);
    const session = await reserveSession(this.#deps.sql);
    let failure: unknown;
    try {
      const { sql, output } = await this.#prepare(session);
      let empty = true;
      try {
        for await (const chunk of fetchInChunks(session, sql, rows)) {
          empty = false;
          yield batchFromRows(output, chunk);
        }
      } catch (err) {
        throw pgError(err, "streaming the retrieval result");
      }
      if (empty) yield batchFromRows(output, []);
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      await releaseSession(session, failure);
    }
  }

  async toArrow(): Promise<Table> {
    const batches: RecordBatch[] = [];
    for await (const batch of this.batches()) batches.push(batch);
    const nonEmpty = batches.filter((b) => b.numRows > 0);
    return nonEmpty.length > 0 ? new ArrowTable(nonEmpty) : new ArrowTable(batches[0]!.schema);
  }

  async toRows(): Promise<Record<string, unknown>[]> {
    const rows: Record<string, unknown>[] = [];
    for await (const batch of this.batches()) for (const row of batchRows(batch)) rows.push(row);
    return rows;
  }

  write(path: string): Promise<{ rows: number }> {
    return writeBatches(resolve(this.#repoDir, path), this.batches());
  }
}

function ttlOf(request: ViewRequest): bigint {
  return BigInt(Math.round(request.view.ttlSeconds * 1_000_000));
}

/** Validates a historical query and returns a lazy job; see `RetrievalJob`. */
export async function getHistoricalFeatures(
  deps: HistoricalDeps,
  query: HistoricalQuery<PostgresSourceSpec>,
): Promise<RetrievalJob> {
  const outputs = planOutputs(query);
  const flatOutputs = outputs.flat();
  const filterByCreated = query.filterByCreatedTimestamp ?? false;
  const featureColumns = (views: readonly PreparedView[]) =>
    views.flatMap((v) =>
      v.request.features.map((name, i) => ({
        name: v.outputs[i]!,
        type: arrowTypeOf(v.request.view.features.find((f) => f.name === name)!.type),
      }))
    );

  if ("entityTable" in query) {
    const entities: PreparedEntities = await prepareEntities(query.entityTable, query.repoDir);
    const { views, columns, timestampColumn } = await withSession(deps.sql, async (session) => {
      const views = await prepareViews(session, query, outputs);
      const columns = await describeEntities(session, entities, deps.registered);
      const timestampColumn = inferTimestampColumn(
        columns.map((c) => ({
          name: c.name,
          typeName: c.typeName,
          isTimestamp: c.valueType === "timestamp",
        })),
        query.timestampColumn,
      );
      checkEntityColumns(columns, views, flatOutputs);
      return { views, columns, timestampColumn };
    });
    const output: OutputColumn[] = [
      ...columns.map((c) => ({ name: c.name, type: c.output })),
      ...featureColumns(views),
    ];
    return new PostgresRetrievalJob(
      deps,
      { columns: output.map((c) => c.name), repoDir: query.repoDir },
      async (session) => {
        const entityTable = await loadEntities(session, entities, deps.registered);
        const ts = `e.${pgIdent(timestampColumn)}::timestamptz`;
        const [range] = await session.unsafe(
          `SELECT (extract(epoch from min(${ts})) * 1000000)::int8::text AS low, ` +
            `(extract(epoch from max(${ts})) * 1000000)::int8::text AS high FROM ${
              pgIdent(entityTable)
            } e`,
        );
        const low = range?.low == null ? undefined : BigInt(String(range.low));
        const high = range?.high == null ? undefined : BigInt(String(range.high));
        const joins: string[] = [];
        const selects: string[] = columns.map((c, i) =>
          `${selectAs(`e.${pgIdent(c.name)}`, c.output)} AS c${i}`
        );
        let at = columns.length;
        for (const [i, view] of views.entries()) {
          query.onStage?.({
            phase: "load",
            view: requestName(view.request),
            index: i,
            views: views.length,
          });
          const ttl = ttlOf(view.request);
          const staged = await stageSource(session, {
            view: view.request.view,
            source: view.request.source,
            entities: view.request.entities,
            columns: view.columns,
            features: view.request.features,
            keys: view.keys,
            // No entity timestamp: nothing can match, so stage no rows.
            low: high === undefined ? 1n : ttl > 0n ? low! - ttl : undefined,
            high: high === undefined ? 0n : high,
            dropNullKeys: true,
            index: true,
            keysIn: { table: entityTable, columns: view.keys.map((k) => k.name) },
          });
          query.onStage?.({
            phase: "join",
            view: requestName(view.request),
            index: i,
            views: views.length,
          });
          joins.push(lateral(staged, `v${i}`, {
            keys: view.keys.map((k) => k.name),
            entityTs: ts,
            ttlMicros: ttl,
            filterByCreated,
          }));
          for (const feature of staged.features) {
            selects.push(`${selectAs(`v${i}.${feature.column}`, output[at]!.type)} AS c${at}`);
            at++;
          }
        }
        query.onStage?.({ phase: "output", index: views.length, views: views.length });
        return {
          sql: `SELECT ${selects.join(", ")} FROM ${pgIdent(entityTable)} e ${
            joins.join(" ")
          } ORDER BY e.__rid`,
          output,
        };
      },
    );
  }

  const { low, high } = windowMicros(query);
  const views = await withSession(deps.sql, (session) => prepareViews(session, query, outputs));
  const keyColumns: { name: string; type: ScalarType }[] = [];
  for (const view of views) {
    for (const key of view.keys) {
      if (!keyColumns.some((k) => k.name === key.name)) keyColumns.push(key);
    }
  }
  if (keyColumns.some((k) => k.name === "event_timestamp" || flatOutputs.includes(k.name))) {
    throw new LarderError("INPUT_INVALID", "A join key has the name of an output column");
  }
  const output: OutputColumn[] = [
    ...keyColumns.map((k) => ({ name: k.name, type: arrowTypeOf(k.type) })),
    { name: "event_timestamp", type: arrowTypeOf("timestamp") },
    ...featureColumns(views),
  ];
  return new PostgresRetrievalJob(
    deps,
    { columns: output.map((c) => c.name), repoDir: query.repoDir },
    async (session) => {
      const staged: Staged[] = [];
      for (const [i, view] of views.entries()) {
        query.onStage?.({
          phase: "load",
          view: requestName(view.request),
          index: i,
          views: views.length,
        });
        staged.push(
          await stageSource(session, {
            view: view.request.view,
            source: view.request.source,
            entities: view.request.entities,
            columns: view.columns,
            features: view.request.features,
            keys: view.keys,
            low,
            high,
            dropNullKeys: true,
            index: true,
          }),
        );
      }
      // Every key seen in the window, by any view (NULL for keys a view lacks).
      const selects = views.flatMap((view, i) => {
        if (view.keys.length === 0) return [];
        const names = view.keys.map((k) => k.name);
        return [
          `SELECT DISTINCT ${
            keyColumns.map((k) => {
              const at = names.indexOf(k.name);
              return `${at >= 0 ? `s.${staged[i]!.keys[at]}` : "NULL"}::${pgTypeOf(k.type)} AS ${
                pgIdent(k.name)
              }`;
            }).join(", ")
          } FROM ${pgIdent(staged[i]!.table)} s`,
        ];
      });
      const entityTable = `__larder_window_keys`;
      const endTs = pgMicros(high);
      const keysSql = keyColumns.length === 0 || selects.length === 0
        ? `SELECT 0::int8 AS __rid, ${endTs} AS event_timestamp`
        : `SELECT row_number() OVER (ORDER BY ${
          keyColumns.map((k) => pgIdent(k.name)).join(", ")
        }) AS __rid, k.*, ${endTs} AS event_timestamp FROM (${selects.join(" UNION ")}) k`;
      try {
        await session.unsafe(`CREATE TEMP TABLE ${entityTable} AS ${keysSql}`);
      } catch (err) {
        throw pgError(err, "collecting the window's keys");
      }
      const joins = staged.map((s, i) =>
        lateral(s, `v${i}`, {
          keys: views[i]!.keys.map((k) => k.name),
          entityTs: "e.event_timestamp",
          ttlMicros: 0n,
          filterByCreated,
        })
      );
      const selectsOut = [
        ...keyColumns.map((k, i) => `e.${pgIdent(k.name)} AS c${i}`),
        `${
          selectAs("e.event_timestamp", output[keyColumns.length]!.type)
        } AS c${keyColumns.length}`,
      ];
      let at = keyColumns.length + 1;
      staged.forEach((s, i) => {
        for (const feature of s.features) {
          selectsOut.push(`${selectAs(`v${i}.${feature.column}`, output[at]!.type)} AS c${at}`);
          at++;
        }
      });
      query.onStage?.({ phase: "output", index: views.length, views: views.length });
      return {
        sql: `SELECT ${selectsOut.join(", ")} FROM ${entityTable} e ${
          joins.join(" ")
        } ORDER BY e.__rid`,
        output,
      };
    },
  );
}
