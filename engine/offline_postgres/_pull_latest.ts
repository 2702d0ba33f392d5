/** The materialization read in Postgres: the newest row per entity key in a window. */
import { Table } from "apache-arrow";
import { LarderError, type PostgresSourceSpec } from "../../registry/mod.ts";
import {
  CREATED_TIMESTAMP_COLUMN,
  EVENT_TIMESTAMP_COLUMN,
  joinKeysOf,
  type LatestRows,
  type PullLatestOptions,
} from "../offline/mod.ts";
import {
  fetchInChunks,
  pgError,
  pgIdent,
  releaseSession,
  reserveSession,
  type Sql,
} from "./_client.ts";
import {
  describePgSource,
  requireCompatible,
  sourceError,
  stagedSelect,
  tempTable,
} from "./_source.ts";
import { arrowTypeOf, batchFromRows, type OutputColumn, selectAs } from "./_types.ts";

/**
 * The newest row per key with `start <= ts <= end` (newest event time, then newest created
 * time, NULL oldest), computed in Postgres into a temporary table on one held connection and
 * read back `batchRows` rows at a time through a cursor.
 */
export async function pullLatest(
  sql: Sql,
  options: PullLatestOptions<PostgresSourceSpec>,
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
  const session = await reserveSession(sql);
  const release = (failure?: unknown) => releaseSession(session, failure);
  try {
    const columns = await describePgSource(session, source);
    requireCompatible(view, source, options.entities, columns);
    const keys = joinKeysOf(view, options.entities).keys;
    const features = view.features.map((f) => f.name);
    const staged = stagedSelect({
      view,
      source,
      entities: options.entities,
      columns,
      features,
      keys,
      low: BigInt(options.start.getTime()) * 1000n,
      high: BigInt(options.end.getTime()) * 1000n,
      dropNullKeys: false,
      index: false,
    });
    // The newest row per key straight from the source (no copy of the window's rows first).
    const nullKey = staged.keys.length === 0
      ? "false"
      : staged.keys.map((k) => `${k} IS NULL`).join(" OR ");
    const latest = tempTable("latest");
    const output: OutputColumn[] = [
      ...keys.map((k) => ({ name: k.name, type: arrowTypeOf(k.type) })),
      { name: EVENT_TIMESTAMP_COLUMN, type: arrowTypeOf("timestamp") },
      { name: CREATED_TIMESTAMP_COLUMN, type: arrowTypeOf("timestamp") },
      ...view.features.map((f) => ({ name: f.name, type: arrowTypeOf(f.type) })),
    ];
    const order = [
      ...staged.keys,
      "__ts DESC",
      ...(staged.hasCreated ? ["__created DESC NULLS LAST"] : []),
    ];
    const created = staged.hasCreated ? "__created" : "NULL::timestamptz";
    const values = [
      ...staged.keys,
      "__ts",
      created,
      ...staged.features.map((f) => f.column),
    ].map((expr, i) => `${selectAs(expr, output[i]!.type)} AS c${i}`);
    let nullKeyRows: number;
    let count: number;
    try {
      const [nulls] = await session.unsafe(
        `SELECT count(*)::int8 AS n FROM (${staged.sql}) s WHERE ${nullKey}`,
      );
      nullKeyRows = Number(nulls?.n ?? 0);
      await session.unsafe(
        `CREATE TEMP TABLE ${pgIdent(latest)} AS SELECT ${
          staged.keys.length > 0 ? `DISTINCT ON (${staged.keys.join(", ")}) ` : ""
        }${values.join(", ")} FROM (${staged.sql}) s WHERE NOT (${nullKey}) ORDER BY ${
          order.join(", ")
        }${staged.keys.length > 0 ? "" : " LIMIT 1"}`,
      );
      const [row] = await session.unsafe(`SELECT count(*)::int8 AS n FROM ${pgIdent(latest)}`);
      count = Number(row?.n ?? 0);
    } catch (err) {
      throw sourceError(source, err, `reading the newest rows of data source "${source.name}"`);
    }
    let released = false;
    const close = async (failure?: unknown) => {
      if (released) return;
      released = true;
      await release(failure);
    };
    return {
      count,
      nullKeyRows,
      joinKeys: keys.map((k) => k.name),
      features,
      close: () => close(),
      async *[Symbol.asyncIterator]() {
        let failure: unknown;
        try {
          for await (
            const chunk of fetchInChunks(session, `SELECT * FROM ${pgIdent(latest)}`, batchRows)
          ) {
            yield new Table(batchFromRows(output, chunk));
          }
        } catch (err) {
          failure = err;
          throw pgError(err, `streaming the newest rows of data source "${source.name}"`);
        } finally {
          await close(failure);
        }
      },
    };
  } catch (err) {
    await release(err);
    throw err;
  }
}
