/**
 * Feast's point-in-time SQL (`MULTIPLE_FEATURE_VIEW_POINT_IN_TIME_JOIN` in
 * `sdk/python/feast/infra/offline_stores/bigquery.py`), transcribed for DuckDB: entity rows +
 * a row id → per view, an inner join on keys within the time window → dedup by MAX(created)
 * per (row id, event ts) → ROW_NUMBER() per row id by (ts DESC, created DESC) = 1 → LEFT JOIN
 * back to the entity rows. It materialises every candidate pair before ranking.
 */
import { ident } from "../engine/offline/_sql.ts";

/** One view's loaded table (columns: keys, `__ts`, `__created`, features). */
export interface FeastView {
  readonly name: string;
  readonly table: string;
  readonly keys: readonly string[];
  readonly ttlSeconds: number;
  readonly features: readonly string[];
}

/** The query, over entity table `entityTable` with timestamp column `timestampColumn`. */
export function feastSql(
  entityTable: string,
  timestampColumn: string,
  views: readonly FeastView[],
): string {
  const ctes = [
    `entity_dataframe AS (SELECT *, rowid AS entity_row_unique_id, ` +
    `CAST(${ident(timestampColumn)} AS TIMESTAMP) AS entity_timestamp FROM ${ident(entityTable)})`,
  ];
  for (const v of views) {
    const keys = v.keys.map(ident);
    const fs = v.features.map(ident);
    const ttl = `to_microseconds(${BigInt(v.ttlSeconds) * 1_000_000n}::BIGINT)`;
    ctes.push(
      `${v.name}__entity_dataframe AS (SELECT ${
        [...keys, "entity_timestamp", "entity_row_unique_id"].join(", ")
      } ` +
        `FROM entity_dataframe)`,
      `${v.name}__subquery AS (SELECT __ts AS event_timestamp, __created AS created_timestamp, ` +
        `${[...keys, ...fs].join(", ")} FROM ${ident(v.table)} ` +
        `WHERE __ts <= (SELECT max(entity_timestamp) FROM entity_dataframe) ` +
        `AND __ts >= (SELECT min(entity_timestamp) FROM entity_dataframe) - ${ttl})`,
      `${v.name}__base AS (SELECT subquery.*, entity_dataframe.entity_timestamp, ` +
        `entity_dataframe.entity_row_unique_id FROM ${v.name}__subquery AS subquery ` +
        `INNER JOIN ${v.name}__entity_dataframe AS entity_dataframe ON TRUE ` +
        `AND subquery.event_timestamp <= entity_dataframe.entity_timestamp ` +
        `AND subquery.event_timestamp >= entity_dataframe.entity_timestamp - ${ttl} ` +
        keys.map((k) => `AND subquery.${k} = entity_dataframe.${k} `).join("") + ")",
      `${v.name}__dedup AS (SELECT entity_row_unique_id, event_timestamp, ` +
        `MAX(created_timestamp) AS created_timestamp FROM ${v.name}__base ` +
        `GROUP BY entity_row_unique_id, event_timestamp)`,
      `${v.name}__latest AS (SELECT entity_row_unique_id, event_timestamp, created_timestamp FROM (` +
        `SELECT *, ROW_NUMBER() OVER (PARTITION BY entity_row_unique_id ` +
        `ORDER BY event_timestamp DESC, created_timestamp DESC) AS row_number ` +
        `FROM ${v.name}__dedup) WHERE row_number = 1)`,
      `${v.name}__cleaned AS (SELECT base.* FROM ${v.name}__base AS base ` +
        `INNER JOIN ${v.name}__latest USING (entity_row_unique_id, event_timestamp, created_timestamp))`,
    );
  }
  const selects = views.flatMap((v) =>
    v.features.map((f) => `${v.name}.${ident(f)} AS ${ident(`${v.name}__${f}`)}`)
  );
  const joins = views.map((v) =>
    `LEFT JOIN (SELECT entity_row_unique_id, ${
      v.features.map(ident).join(", ")
    } FROM ${v.name}__cleaned) AS ${v.name} ` +
    `USING (entity_row_unique_id)`
  );
  return `WITH ${
    ctes.join(",\n")
  }\nSELECT entity_dataframe.* EXCLUDE (entity_row_unique_id, entity_timestamp), ` +
    `${selects.join(", ")} FROM entity_dataframe ${joins.join(" ")} ORDER BY entity_row_unique_id`;
}
