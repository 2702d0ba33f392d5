/** A Postgres source: its columns from the catalog, and its rows staged for one read. */
import {
  type EntitySpec,
  type FeatureViewSpec,
  LarderError,
  type PostgresSourceSpec,
  type ScalarType,
  type ValueType,
} from "../../registry/mod.ts";
import { checkSourceCompatibility, type SourceColumn, sourceLayout } from "../offline/mod.ts";
import { pgError, pgIdent, pgMicros, pgString, pgTableName, type Session } from "./_client.ts";
import { pgTypeOf, valueTypeOfPg } from "./_types.ts";

let counter = 0;

/** A fresh name for a temporary table. */
export function tempTable(prefix: string): string {
  return `__larder_${prefix}_${Date.now().toString(36)}_${counter++}`;
}

/** Where a source's rows are: the table, or the query as a subquery. */
export function sourceRelation(source: PostgresSourceSpec): string {
  return source.table !== undefined
    ? pgTableName(source.table)
    : `(${source.query!.replace(/;\s*$/, "")})`;
}

function sourceLabel(source: PostgresSourceSpec): string {
  return source.table !== undefined ? `table "${source.table}"` : "query";
}

/** The source's columns, from the catalog (a query is described through a temporary view). */
export async function describePgSource(
  session: Session,
  source: PostgresSourceSpec,
): Promise<SourceColumn[]> {
  const what = `describing data source "${source.name}" (${sourceLabel(source)})`;
  let relation: string;
  let view: string | undefined;
  try {
    if (source.table !== undefined) {
      const [found] = await session.unsafe(
        `SELECT to_regclass($1)::oid::int8 AS oid`,
        [pgTableName(source.table)],
      );
      if (found?.oid == null) {
        throw new LarderError(
          "SOURCE_INVALID",
          `Data source "${source.name}": table "${source.table}" does not exist (or the user cannot see it)`,
          { details: { source: source.name, table: source.table } },
        );
      }
      relation = String(found.oid);
    } else {
      view = tempTable("describe");
      await session.unsafe(
        `CREATE TEMP VIEW ${pgIdent(view)} AS ${sourceRelation(source).slice(1, -1)}`,
      );
      relation = `${pgString(pgIdent(view))}::regclass::oid`;
    }
    const rows = await session.unsafe(
      `SELECT attname AS name, upper(format_type(atttypid, atttypmod)) AS type FROM pg_attribute ` +
        `WHERE attrelid = ${relation} AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    );
    return rows.map((r) => ({
      name: String(r.name),
      physicalType: String(r.type),
      valueType: valueTypeOfPg(String(r.type)),
    }));
  } catch (err) {
    if (err instanceof LarderError) throw err;
    throw sourceError(source, err, what);
  } finally {
    if (view !== undefined) {
      await session.unsafe(`DROP VIEW IF EXISTS ${pgIdent(view)}`).catch(() => {});
    }
  }
}

/** A client failure while reading `source`, naming it (and its table). */
export function sourceError(source: PostgresSourceSpec, err: unknown, what?: string): LarderError {
  const e = pgError(err, what ?? `reading data source "${source.name}" (${sourceLabel(source)})`);
  if (e.code !== "SOURCE_INVALID" || err instanceof LarderError) return e;
  // Bad SQL or a missing relation: the source's own problem, said as such.
  return new LarderError(
    "SOURCE_INVALID",
    `Data source "${source.name}" (${sourceLabel(source)}): ${(err as Error).message}`,
    { cause: err, details: { source: source.name, ...e.details } },
  );
}

/** Checks `view` against the source's columns; throws `SOURCE_INVALID` listing every problem. */
export function requireCompatible(
  view: FeatureViewSpec,
  source: PostgresSourceSpec,
  entities: readonly EntitySpec[],
  columns: SourceColumn[],
): void {
  const problems = checkSourceCompatibility(view, source, [...entities], columns);
  if (problems.length > 0) {
    throw new LarderError("SOURCE_INVALID", problems.join("\n"), {
      details: { view: view.name, source: source.name, problems },
    });
  }
}

/** What {@linkcode stageSource} copies out of a source. */
export interface StageOptions {
  readonly view: FeatureViewSpec;
  readonly source: PostgresSourceSpec;
  readonly entities: readonly EntitySpec[];
  readonly columns: readonly SourceColumn[];
  /** Features to copy, in order. */
  readonly features: readonly string[];
  /** Join keys: their names in the staged table (after a join-key map) and types. */
  readonly keys: readonly { readonly name: string; readonly type: ScalarType }[];
  /** Event-time bounds in epoch microseconds, inclusive; undefined: open. */
  readonly low?: bigint | undefined;
  readonly high?: bigint | undefined;
  /** Leave out rows with a NULL join key (and count them when `countNullKeys`). */
  readonly dropNullKeys: boolean;
  /** Index the staged rows for point-in-time lookups. */
  readonly index: boolean;
  /**
   * Keep only rows whose join keys occur in this table's columns (parallel to `keys`): the
   * entity table, so that a small entity table reads only its keys' rows of a big source.
   */
  readonly keysIn?: { readonly table: string; readonly columns: readonly string[] } | undefined;
}

/** A source's rows as staged: keys `k0…`, `__ts`, `__created`, features `f0…`. */
export interface Staged {
  readonly table: string;
  readonly keys: readonly string[];
  readonly features: readonly { readonly column: string; readonly type: ValueType }[];
  readonly hasCreated: boolean;
}

/** The SELECT of a source's rows as {@linkcode Staged} names them, without the table. */
export function stagedSelect(options: StageOptions): Omit<Staged, "table"> & { sql: string } {
  const { view, source } = options;
  const layout = sourceLayout(view, source, options.entities, options.features, options.columns);
  const keyCols = options.keys.map((_, i) => `k${i}`);
  const featureTypes = options.features.map((name) =>
    view.features.find((f) => f.name === name)!.type
  );
  const selects = [
    ...layout.joinKeys.map((c, i) =>
      `s.${pgIdent(c.column)}::${pgTypeOf(options.keys[i]!.type)} AS ${keyCols[i]}`
    ),
    `s.${pgIdent(layout.timestamp.column)}::timestamptz AS __ts`,
    layout.created ? `s.${pgIdent(layout.created.column)}::timestamptz AS __created` : undefined,
    ...layout.features.map((c, i) =>
      `s.${pgIdent(c.column)}::${pgTypeOf(featureTypes[i]!)} AS f${i}`
    ),
  ].filter((s): s is string => s !== undefined);
  const ts = `s.${pgIdent(layout.timestamp.column)}::timestamptz`;
  const where = [
    `${ts} IS NOT NULL`,
    ...(options.low !== undefined ? [`${ts} >= ${pgMicros(options.low)}`] : []),
    ...(options.high !== undefined ? [`${ts} <= ${pgMicros(options.high)}`] : []),
    ...(options.dropNullKeys
      ? layout.joinKeys.map((c) => `s.${pgIdent(c.column)} IS NOT NULL`)
      : []),
  ];
  const keysIn = options.keysIn;
  if (keysIn !== undefined && layout.joinKeys.length > 0) {
    const match = layout.joinKeys.map((c, i) =>
      `e.${pgIdent(keysIn.columns[i]!)} = s.${pgIdent(c.column)}::${
        pgTypeOf(options.keys[i]!.type)
      }`
    );
    where.push(`EXISTS (SELECT 1 FROM ${pgIdent(keysIn.table)} e WHERE ${match.join(" AND ")})`);
  }
  return {
    sql: `SELECT ${selects.join(", ")} FROM ${sourceRelation(source)} s WHERE ${
      where.join(" AND ")
    }`,
    keys: keyCols,
    features: featureTypes.map((type, i) => ({ column: `f${i}`, type })),
    hasCreated: layout.created !== undefined,
  };
}

/**
 * Copies the rows of a source a read needs into a temporary table, typed as the view declares
 * (join keys as their entity's type), within the event-time bounds, optionally indexed on
 * (keys, event time, created time) for the point-in-time lookups.
 */
export async function stageSource(session: Session, options: StageOptions): Promise<Staged> {
  const { sql, ...staged } = stagedSelect(options);
  const table = tempTable("source");
  try {
    await session.unsafe(`CREATE TEMP TABLE ${pgIdent(table)} AS ${sql}`);
    if (options.index) {
      // The order of the lookups' ORDER BY, so that each is one index probe.
      const order = [
        ...staged.keys,
        "__ts DESC",
        ...(staged.hasCreated ? ["__created DESC NULLS LAST"] : []),
      ];
      await session.unsafe(`CREATE INDEX ON ${pgIdent(table)} (${order.join(", ")})`);
      await session.unsafe(`ANALYZE ${pgIdent(table)}`);
    }
  } catch (err) {
    throw sourceError(options.source, err);
  }
  return { table, ...staged };
}
