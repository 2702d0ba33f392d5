/**
 * Point-in-time window aggregations, one view at a time: the entity rows are put among the
 * view's (deduplicated) events as probes, per entity key in event-time order, and each
 * aggregation is a window function over a RANGE frame `(T − W, T]` read at the probes. One sort
 * of events plus probes per key and a segment tree per aggregate: O(n log n), never the pairs
 * (entity row, event) that a range join would materialise.
 */
import type { AggregationFunction, ValueType } from "../../registry/mod.ts";
import type { EntityStats, SqlRunner } from "./_pit_sql.ts";
import { ident } from "./_sql.ts";

/** One aggregation of an {@linkcode AggregateView}. */
export interface PitAggregation {
  /** Column of the view's table holding the aggregated feature. */
  readonly column: string;
  readonly function: AggregationFunction;
  /** Window length, microseconds. */
  readonly windowMicros: bigint;
  /** Output column name. */
  readonly output: string;
  /** Output value type. */
  readonly type: ValueType;
}

/** One view's aggregations: its loaded events and what to compute. */
export interface AggregateView {
  /** Table of source rows: join keys, `__ts`, `__created` (if any), aggregated columns. */
  readonly table: string;
  /** Join keys, named the same in the entity table and in `table`. */
  readonly keys: readonly string[];
  readonly hasCreated: boolean;
  readonly aggregations: readonly PitAggregation[];
}

/** The entity rows' side (as in the point-in-time join). */
export interface AggregateEntities {
  readonly table: string;
  readonly timestampColumn: string;
  readonly stats: EntityStats;
}

const LOWEST = "-9223372036854775808";

/**
 * Which plan aggregates: `auto` picks by the number of (entity row, event of its key) pairs;
 * tests force each plan to check both against the oracle.
 */
export const aggregateTuning: { plan: "auto" | "window" | "pairs" } = { plan: "auto" };

/**
 * Pairs per row (entity rows and events) below which the pairs plan is cheaper: measured on
 * DuckDB-WASM, about 0.3 µs per pair against 5.6 µs per row for the window plan.
 */
const PAIRS_PER_ROW = 16;

/**
 * The expression of one aggregation over the events' columns (and `__t`, `__c`), `frame` its
 * scope: `OVER w0` (window plan) or `FILTER (WHERE …)` (pairs plan).
 */
function aggregateExpr(a: PitAggregation, frame: string): string {
  const c = ident(a.column);
  switch (a.function) {
    case "count":
      return `count(${c}) ${frame}`;
    case "sum":
      return `CAST(sum(${c}) ${frame} AS ${a.type === "int64" ? "BIGINT" : "DOUBLE"})`;
    case "mean":
      return `CAST(avg(${c}) ${frame} AS DOUBLE)`;
    case "min":
      return `min(${c}) ${frame}`;
    case "max":
      return `max(${c}) ${frame}`;
    case "stddev":
      return `CAST(stddev_samp(${c}) ${frame} AS DOUBLE)`;
    case "var":
      return `CAST(var_samp(${c}) ${frame} AS DOUBLE)`;
    case "last":
      // The newest event, then the newest created time, then the greatest value.
      return `arg_max(${c}, CASE WHEN ${c} IS NOT NULL THEN {'t': __t, 'c': __c, 'v': ${c}} END) ${frame}`;
    case "approx_count_distinct":
      // Offline the count is exact.
      return `count(DISTINCT ${c}) ${frame}`;
  }
}

/**
 * Whether pairing every entity row with every event of its key costs less than the window
 * plan: fewer than {@linkcode PAIRS_PER_ROW} pairs per row (two hash aggregates to count).
 */
async function fewPairs(
  runner: SqlRunner,
  entityTable: string,
  eventTable: string,
  keys: readonly string[],
): Promise<boolean> {
  const list = keys.join(", ");
  const [row] = await runner.rows(
    `SELECT coalesce(sum(p.n * s.n), 0)::VARCHAR AS pairs, ` +
      `(SELECT count(*) FROM ${ident(entityTable)}) + (SELECT count(*) FROM ${
        ident(eventTable)
      }) AS rows_ ` +
      `FROM (SELECT ${list}, count(*) AS n FROM ${ident(entityTable)} GROUP BY ALL) p ` +
      `JOIN (SELECT ${list}, count(*) AS n FROM ${
        ident(eventTable)
      } GROUP BY ALL) s USING (${list})`,
  );
  return BigInt(String(row?.pairs ?? "0")) <
    BigInt(PAIRS_PER_ROW) * BigInt(String(row?.rows_ ?? "0"));
}

/**
 * Whether some rows share keys and event time (one hash aggregate): only then do they need the
 * created-time dedup, a window over the whole source.
 */
async function hasTies(
  runner: SqlRunner,
  table: string,
  keys: readonly string[],
): Promise<boolean> {
  // Distinct hashes mean distinct (keys, time); a collision only costs a needless dedup.
  const [row] = await runner.rows(
    `SELECT (count(*) > count(DISTINCT hash(${[...keys, "__ts"].join(", ")})))::VARCHAR AS ties ` +
      `FROM ${ident(table)}`,
  );
  return String(row?.ties ?? "false") === "true";
}

/** What an entity row without a timestamp (or an event) gets: 0 for counts, else NULL. */
function emptyValue(a: PitAggregation): string {
  return a.function === "count" || a.function === "approx_count_distinct" ? "0::BIGINT" : "NULL";
}

/**
 * Aggregates one view into temporary table `result`: one row per entity row, in entity order,
 * with one column per aggregation. Events are deduplicated first: of rows with the same keys
 * and event time only those with the greatest created time count (NULL is lowest).
 */
export async function aggregateView(
  runner: SqlRunner,
  entities: AggregateEntities,
  view: AggregateView,
  result: string,
  options: { readonly filterByCreatedTimestamp?: boolean } = {},
): Promise<void> {
  if (options.filterByCreatedTimestamp && view.hasCreated) {
    await runner.exec(
      `CREATE TEMP TABLE ${ident(result)} AS ${createdFilteredSql(entities, view)}`,
    );
    return;
  }
  const keys = view.keys.map(ident);
  const columns = [...new Set(view.aggregations.map((a) => a.column))].map(ident);
  const partition = keys.length > 0 ? `PARTITION BY ${keys.join(", ")} ` : "";
  // The created time matters to `last` only (ties on event time are deduplicated below).
  const created = view.hasCreated && view.aggregations.some((a) => a.function === "last")
    ? `coalesce(epoch_us(__created), ${LOWEST})`
    : LOWEST;
  const dedup = view.hasCreated && await hasTies(runner, view.table, keys)
    ? ` QUALIFY __created IS NOT DISTINCT FROM max(__created) OVER (PARTITION BY ${
      [...keys, "__ts"].join(", ")
    })`
    : "";
  // Events of keys no entity row has cannot matter: for the window plan, a hash semi-join drops
  // them before the sort (the pairs plan's join on the keys drops them anyway).
  const semi = keys.length > 0
    ? ` SEMI JOIN (SELECT DISTINCT ${keys.join(", ")} FROM ${ident(entities.table)}) k ON ${
      view.keys.map((k) => `s.${ident(k)} = k.${ident(k)}`).join(" AND ")
    }`
    : "";
  const events = (semi: string) =>
    `SELECT ${
      [
        ...keys.map((k) => `s.${k}`),
        "epoch_us(s.__ts) AS __t",
        `${created} AS __c`,
        "NULL::BIGINT AS __rid",
      ]
        .concat(columns.map((c) => `s.${c}`)).join(", ")
    } FROM (SELECT * FROM ${ident(view.table)}${dedup}) s${semi}`;
  const ts = `CAST(${ident(entities.timestampColumn)} AS TIMESTAMP)`;
  const probes = `SELECT ${
    [...keys, `epoch_us(${ts}) AS __t`, `${LOWEST} AS __c`, "rowid AS __rid"].join(", ")
  } FROM ${ident(entities.table)}`;
  const plan = aggregateTuning.plan !== "auto"
    ? aggregateTuning.plan
    : keys.length > 0 && await fewPairs(runner, entities.table, view.table, keys)
    ? "pairs"
    : "window";
  if (plan === "pairs" && keys.length > 0) {
    // Each entity row joined to its key's events within the longest window, grouped per row.
    const longest = view.aggregations.reduce(
      (m, a) => (a.windowMicros > m ? a.windowMicros : m),
      0n,
    );
    const selects = view.aggregations.map((a) =>
      `${aggregateExpr(a, `FILTER (WHERE s.__t > e.__pt - ${a.windowMicros})`)} AS ${
        ident(a.output)
      }`
    );
    const entitySide = `SELECT rowid AS __rid, ${keys.join(", ")}, epoch_us(${ts}) AS __pt FROM ${
      ident(entities.table)
    }`;
    await runner.exec(
      `CREATE TEMP TABLE ${ident(result)} AS SELECT ${
        view.aggregations.map((a) => ident(a.output)).join(", ")
      } FROM (SELECT e.__rid, ${selects.join(", ")} FROM (${entitySide}) e LEFT JOIN (${
        events("")
      }) s ON ${
        [
          ...view.keys.map((k) => `s.${ident(k)} = e.${ident(k)}`),
          `s.__t > e.__pt - ${longest}`,
          "s.__t <= e.__pt",
        ].join(" AND ")
      } GROUP BY e.__rid) ORDER BY __rid`,
    );
    return;
  }
  const windows = [...new Set(view.aggregations.map((a) => a.windowMicros))];
  const frameOf = (w: bigint) => `w${windows.indexOf(w)}`;
  const selects = view.aggregations.map((a) =>
    `CASE WHEN __t IS NULL THEN ${emptyValue(a)} ELSE ${
      aggregateExpr(a, `OVER ${frameOf(a.windowMicros)}`)
    } END AS ${ident(a.output)}`
  );
  const windowClause = windows.map((w) =>
    `${frameOf(w)} AS (${partition}ORDER BY __t RANGE BETWEEN ${w - 1n} PRECEDING AND CURRENT ROW)`
  ).join(", ");
  await runner.exec(
    `CREATE TEMP TABLE ${ident(result)} AS SELECT ${
      view.aggregations.map((a) => ident(a.output)).join(", ")
    } FROM (` +
      `SELECT __rid, ${selects.join(", ")} FROM (${events(semi)} UNION ALL BY NAME ${probes}) ` +
      `WINDOW ${windowClause}) WHERE __rid IS NOT NULL ORDER BY __rid`,
  );
}

/**
 * `filterByCreatedTimestamp`: an event counts for an entity row at T only if it was created by
 * T (a NULL created time never), and the created-time dedup then depends on T too. Each entity
 * row is joined to its key's events within the longest window and created by T, deduplicated per
 * row (the newest created time per event time), then aggregated per row: the pairs plan, always.
 */
function createdFilteredSql(entities: AggregateEntities, view: AggregateView): string {
  const keys = view.keys.map(ident);
  const columns = [...new Set(view.aggregations.map((a) => a.column))].map(ident);
  const longest = view.aggregations.reduce((m, a) => (a.windowMicros > m ? a.windowMicros : m), 0n);
  const ts = `CAST(${ident(entities.timestampColumn)} AS TIMESTAMP)`;
  const entitySide = `SELECT ${
    ["rowid AS __rid", ...keys, `epoch_us(${ts}) AS __pt`, `${ts} AS __pts`].join(", ")
  } FROM ${ident(entities.table)}`;
  const events = `SELECT ${
    [...keys, "epoch_us(__ts) AS __t", "__created", ...columns].join(", ")
  } FROM ${ident(view.table)}`;
  const on = [
    ...view.keys.map((k) => `s.${ident(k)} = e.${ident(k)}`),
    `s.__t > e.__pt - ${longest}`,
    "s.__t <= e.__pt",
    "s.__created <= e.__pts",
  ].join(" AND ");
  const pairs =
    `SELECT e.__rid, e.__pt, s.__t, coalesce(epoch_us(s.__created), ${LOWEST}) AS __c, ${
      columns.map((c) => `s.${c}`).join(", ")
    } FROM (${entitySide}) e LEFT JOIN (${events}) s ON ${on} ` +
    `QUALIFY s.__created IS NOT DISTINCT FROM max(s.__created) OVER (PARTITION BY e.__rid, s.__t)`;
  const selects = view.aggregations.map((a) =>
    `${aggregateExpr(a, `FILTER (WHERE __t > __pt - ${a.windowMicros})`)} AS ${ident(a.output)}`
  );
  return `SELECT ${view.aggregations.map((a) => ident(a.output)).join(", ")} FROM (SELECT __rid, ${
    selects.join(", ")
  } FROM (${pairs}) GROUP BY __rid) ORDER BY __rid`;
}
