/** The SQL of a point-in-time join (sort/merge: one ASOF LEFT JOIN per view). */
import { ident } from "./_sql.ts";

/** One view's part of the join. */
export interface PitView {
  /** Table of the view's source rows: join keys, `__ts`, `__created` (if any), features. */
  readonly table: string;
  /** Join keys, named the same in the entity table and in `table`; empty: join on time only. */
  readonly keys: readonly string[];
  /** Lookback in microseconds; 0 = unlimited. */
  readonly ttlMicros: bigint;
  readonly hasCreated: boolean;
  /** Feature columns of `table` and their output names. */
  readonly features: readonly { readonly column: string; readonly output: string }[];
}

/** A whole join. */
export interface PitPlan {
  /** The entity rows as given; `rowid` is input order. */
  readonly entityTable: string;
  readonly timestampColumn: string;
  readonly views: readonly PitView[];
  /** Also require `created <= entity ts` (views without a created column ignore it). */
  readonly filterByCreatedTimestamp: boolean;
}

const TWO_64 = "18446744073709551616::HUGEINT";

/** An orderable HUGEINT of (event ts, created ts), NULL created lowest. */
function sourceOrder(alias: string): string {
  return `epoch_us(${alias}.__ts)::HUGEINT * ${TWO_64} + ` +
    `(coalesce(epoch_us(${alias}.__created), -9223372036854775807)::HUGEINT + 9223372036854775808::HUGEINT)`;
}

/**
 * SQL returning the entity rows in input order, each with its columns unchanged followed by
 * the features: for each view, the source row with the same keys and the greatest event
 * timestamp `<= entity ts` (ties: greatest created timestamp), within ttl (both bounds
 * inclusive), else NULLs.
 */
export function pitSql(plan: PitPlan, options: { ridOnly?: boolean } = {}): string {
  const needsOrder = plan.views.some((v) => v.hasCreated && !usesRangeJoin(plan, v));
  const entity =
    `(SELECT *, rowid AS __rid, CAST(${ident(plan.timestampColumn)} AS TIMESTAMP) AS __ts` +
    (needsOrder
      ? `, epoch_us(CAST(${
        ident(plan.timestampColumn)
      } AS TIMESTAMP))::HUGEINT * ${TWO_64} + (${TWO_64} - 1) AS __ord`
      : "") +
    ` FROM ${ident(plan.entityTable)})`;
  const ctes: string[] = [];
  const joins: string[] = [];
  const selects: string[] = [];
  plan.views.forEach((view, i) => {
    const alias = `v${i}`;
    const within = view.ttlMicros > 0n
      ? `${alias}.__ts >= e.__ts - to_microseconds(${view.ttlMicros}::BIGINT)`
      : undefined;
    if (usesRangeJoin(plan, view)) {
      const keys = view.keys.map((k) => `s.${ident(k)} = e.${ident(k)}`);
      const conditions = [
        ...keys,
        "s.__ts <= e.__ts",
        ...(view.ttlMicros > 0n
          ? [`s.__ts >= e.__ts - to_microseconds(${view.ttlMicros}::BIGINT)`]
          : []),
        "s.__created <= e.__ts",
      ];
      ctes.push(
        `${alias} AS (SELECT e.__rid, ${
          view.features.map((f) => `s.${ident(f.column)}`).join(", ")
        } FROM ${entity} e JOIN ${ident(view.table)} s ON ${conditions.join(" AND ")} ` +
          `QUALIFY row_number() OVER (PARTITION BY e.__rid ORDER BY s.__ts DESC, s.__created DESC) = 1)`,
      );
      joins.push(`LEFT JOIN ${alias} ON ${alias}.__rid = e.__rid`);
      for (const f of view.features) {
        selects.push(`${alias}.${ident(f.column)} AS ${ident(f.output)}`);
      }
      return;
    }
    const keys = view.keys.map((k) => `e.${ident(k)} = ${alias}.${ident(k)}`);
    if (view.hasCreated) {
      const right = `(SELECT *, ${sourceOrder("t")} AS __ord FROM ${ident(view.table)} t)`;
      joins.push(
        `ASOF LEFT JOIN ${right} ${alias} ON ${
          [...keys, `e.__ord >= ${alias}.__ord`].join(" AND ")
        }`,
      );
    } else {
      joins.push(
        `ASOF LEFT JOIN ${ident(view.table)} ${alias} ON ${
          [...keys, `e.__ts >= ${alias}.__ts`].join(" AND ")
        }`,
      );
    }
    for (const f of view.features) {
      const value = `${alias}.${ident(f.column)}`;
      selects.push(
        `${within ? `CASE WHEN ${within} THEN ${value} END` : value} AS ${ident(f.output)}`,
      );
    }
  });
  const with_ = ctes.length > 0 ? `WITH ${ctes.join(", ")} ` : "";
  if (options.ridOnly) {
    return `${with_}SELECT e.__rid, ${selects.join(", ")} FROM ${entity} e ${joins.join(" ")}`;
  }
  const exclude = needsOrder ? "__rid, __ts, __ord" : "__rid, __ts";
  return with_ +
    `SELECT e.* EXCLUDE (${exclude})${selects.length > 0 ? `, ${selects.join(", ")}` : ""} ` +
    `FROM ${entity} e ${joins.join(" ")} ORDER BY e.__rid`;
}

/**
 * SQL combining per-view results (tables of `__rid` + output columns, from
 * `pitSql(..., { ridOnly: true })`) with the entity rows, in input order.
 */
export function combineSql(
  entityTable: string,
  results: readonly { table: string; outputs: readonly string[] }[],
): string {
  const selects = results.flatMap((r, i) => r.outputs.map((o) => `r${i}.${ident(o)}`));
  const joins = results.map((r, i) => `LEFT JOIN ${ident(r.table)} r${i} ON r${i}.__rid = e.__rid`);
  return `SELECT e.* EXCLUDE (__rid), ${selects.join(", ")} FROM ` +
    `(SELECT *, rowid AS __rid FROM ${ident(entityTable)}) e ${joins.join(" ")} ORDER BY e.__rid`;
}

function usesRangeJoin(plan: PitPlan, view: PitView): boolean {
  return plan.filterByCreatedTimestamp && view.hasCreated;
}
