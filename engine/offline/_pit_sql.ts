/**
 * The point-in-time join, one view at a time: an `ASOF LEFT JOIN` on one BIGINT ordering
 * value, a check for rows tied on (keys, event time), and a positional stitch of the per-view
 * results onto the entity rows. Everything here talks to DuckDB through {@linkcode SqlRunner}
 * only, so the benchmark runs the very same statements on native DuckDB.
 */
import { ident } from "./_sql.ts";
import { type AggregateView, aggregateView } from "./_aggregate_sql.ts";

/** What the join needs from a DuckDB connection. */
export interface SqlRunner {
  exec(sql: string): Promise<void>;
  rows(sql: string): Promise<Record<string, unknown>[]>;
  /**
   * Whether DuckDB spills to disk what does not fit under `memory_limit` (native DuckDB): then a
   * join is never split into parts to fit in memory.
   */
  readonly spills?: boolean;
}

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

/** The entity rows' side of every view's join. */
export interface PitEntities {
  /** The entity rows as given; `rowid` is input order. */
  readonly table: string;
  readonly timestampColumn: string;
  /** From {@linkcode entityStats}. */
  readonly stats: EntityStats;
}

/** Ranges of the entity table, read once per job. */
export interface EntityStats {
  /** Smallest and greatest entity timestamp (epoch microseconds); undefined if all NULL. */
  readonly low: bigint | undefined;
  readonly high: bigint | undefined;
  /**
   * Smallest and greatest value of each integer-typed key column (absent: not an integer
   * column, or only NULLs). Source rows outside the range can never match.
   */
  readonly keyRanges: ReadonlyMap<string, { readonly min: bigint; readonly max: bigint }>;
}

const INTEGER_TYPES: ReadonlySet<string> = new Set([
  "TINYINT",
  "SMALLINT",
  "INTEGER",
  "BIGINT",
  "HUGEINT",
  "UTINYINT",
  "USMALLINT",
  "UINTEGER",
  "UBIGINT",
]);
const BIGINT_MIN = -(2n ** 63n);
const BIGINT_MAX = 2n ** 63n - 1n;
/** An ordering value takes at most 62 bits, so that it and `lo` below stay within BIGINT. */
const ORDER_BITS = 62;

function big(value: unknown): bigint | undefined {
  return value === null || value === undefined ? undefined : BigInt(String(value));
}

/** `CAST(column AS TIMESTAMP)`: entity timestamps compare as UTC instants. */
function entityTs(column: string): string {
  return `CAST(${ident(column)} AS TIMESTAMP)`;
}

/** Timestamp range and integer key ranges of the entity table (one scan). */
export async function entityStats(
  runner: SqlRunner,
  table: string,
  timestampColumn: string,
  keyColumns: readonly string[],
): Promise<EntityStats> {
  const described = await runner.rows(`DESCRIBE SELECT * FROM ${ident(table)}`);
  const types = new Map(described.map((r) => [String(r.column_name), String(r.column_type)]));
  const integerKeys = [...new Set(keyColumns)].filter((k) => INTEGER_TYPES.has(types.get(k) ?? ""));
  const ts = entityTs(timestampColumn);
  const selects = [
    `epoch_us(min(${ts}))::VARCHAR AS low`,
    `epoch_us(max(${ts}))::VARCHAR AS high`,
    ...integerKeys.flatMap((k, i) => [
      `min(${ident(k)})::VARCHAR AS kmin${i}`,
      `max(${ident(k)})::VARCHAR AS kmax${i}`,
    ]),
  ];
  const [row] = await runner.rows(`SELECT ${selects.join(", ")} FROM ${ident(table)}`);
  const keyRanges = new Map<string, { min: bigint; max: bigint }>();
  integerKeys.forEach((k, i) => {
    const min = big(row?.[`kmin${i}`]);
    const max = big(row?.[`kmax${i}`]);
    if (min !== undefined && max !== undefined) keyRanges.set(k, { min, max });
  });
  return { low: big(row?.low), high: big(row?.high), keyRanges };
}

/**
 * How one view orders its rows. `packed`: the integer keys and the event time share one BIGINT
 * (`(key - min) << shift` per key, plus `ts - tsLow` in the low bits), so a single ASOF
 * inequality does the key equality and the time order at once; a match with a different key
 * (the previous key's newest row) fails the lower bound `lo` (own key, `ts - ttl`).
 * `keyed`: keys that cannot be packed (strings, floats, too wide a range) join by equality
 * and the ordering value is the event time alone.
 */
type Ordering =
  | {
    readonly kind: "packed";
    readonly tsLow: bigint;
    readonly tsHigh: bigint;
    /** Bits of the time offset: the keys start at this shift. */
    readonly tsBits: number;
    /** Bits in all. */
    readonly bits: number;
    readonly keys: readonly { name: string; min: bigint; max: bigint; shift: number }[];
    /** Whether every source row is within the key ranges (else they are filtered). */
    readonly sourceInRange: boolean;
  }
  | { readonly kind: "keyed" };

type Packed = Extract<Ordering, { kind: "packed" }>;

/** What {@linkcode joinView} learns about a loaded source. */
interface SourceFacts {
  readonly ordering: Ordering;
  readonly rows: bigint;
  /** DuckDB type of each column of the source table. */
  readonly types: ReadonlyMap<string, string>;
}

function bitLength(span: bigint): number {
  return span <= 0n ? 0 : span.toString(2).length;
}

async function sourceFacts(
  runner: SqlRunner,
  entities: PitEntities,
  view: PitView,
): Promise<SourceFacts> {
  const { stats } = entities;
  const described = await runner.rows(`DESCRIBE SELECT * FROM ${ident(view.table)}`);
  const types = new Map(described.map((r) => [String(r.column_name), String(r.column_type)]));
  const ranges = view.keys.map((k) => stats.keyRanges.get(k));
  const packable = view.keys.every((k, i) => {
    const range = ranges[i];
    return range !== undefined && range.min >= BIGINT_MIN && range.max <= BIGINT_MAX &&
      INTEGER_TYPES.has(types.get(k) ?? "");
  });
  const [row] = await runner.rows(
    `SELECT ${
      [
        "count(*)::VARCHAR AS n",
        "epoch_us(min(__ts))::VARCHAR AS low",
        "epoch_us(max(__ts))::VARCHAR AS high",
        ...(packable
          ? view.keys.flatMap((k, i) => [
            `min(${ident(k)})::VARCHAR AS kmin${i}`,
            `max(${ident(k)})::VARCHAR AS kmax${i}`,
            `count(*) FILTER (WHERE ${ident(k)} IS NULL)::VARCHAR AS knull${i}`,
          ])
          : []),
      ].join(", ")
    } FROM ${ident(view.table)}`,
  );
  const rows = big(row?.n) ?? 0n;
  const keyed = { ordering: { kind: "keyed" } as const, rows, types };
  if (!packable) return keyed;
  // Usually true: the loader already dropped rows outside the entity key ranges.
  const sourceInRange = view.keys.every((_, i) => {
    const min = big(row?.[`kmin${i}`]);
    const max = big(row?.[`kmax${i}`]);
    return String(row?.[`knull${i}`] ?? "0") === "0" &&
      (min === undefined || min >= ranges[i]!.min) && (max === undefined || max <= ranges[i]!.max);
  });
  // Entity times below every source row cannot match; above `tsHigh` they do not occur.
  const sourceLow = big(row?.low);
  const tsLow = sourceLow ?? stats.low ?? 0n;
  const highs = [big(row?.high), stats.high, tsLow].filter((v): v is bigint => v !== undefined);
  const tsHigh = highs.reduce((a, b) => (a > b ? a : b));
  const tsBits = bitLength(tsHigh - tsLow);
  let shift = tsBits;
  const keys: { name: string; min: bigint; max: bigint; shift: number }[] = [];
  view.keys.forEach((name, i) => {
    const { min, max } = ranges[i]!;
    keys.push({ name, min, max, shift });
    shift += bitLength(max - min);
  });
  if (shift > ORDER_BITS) return keyed;
  return {
    ordering: { kind: "packed", tsLow, tsHigh, tsBits, bits: shift, keys, sourceInRange },
    rows,
    types,
  };
}

/** The packed value of a row (`ts` is a TIMESTAMP expression), valid within the ranges. */
function packedValue(ordering: Packed, alias: string, ts: string): string {
  return [
    ...ordering.keys.map((k) =>
      `((${alias}.${ident(k.name)}::BIGINT - (${k.min})::BIGINT) << ${k.shift})`
    ),
    `(epoch_us(${ts}) - (${ordering.tsLow})::BIGINT)`,
  ].join(" + ");
}

/** Whether a row's keys (and `ts`, if given) are within the packing ranges. */
function packedInRange(ordering: Packed, alias: string, ts?: string): string {
  return [
    ...ordering.keys.map((k) => `${alias}.${ident(k.name)} BETWEEN ${k.min} AND ${k.max}`),
    ...(ts ? [`epoch_us(${ts}) BETWEEN ${ordering.tsLow} AND ${ordering.tsHigh}`] : []),
  ].join(" AND ") || "true";
}

/** The source rows with their ordering value `__o` (and keys when keyed), plus `extra`. */
function orderedSource(ordering: Ordering, view: PitView, extra: readonly string[]): string {
  if (ordering.kind === "packed") {
    // Source times are within [tsLow, tsHigh] by construction; keys usually are too.
    const where = ordering.sourceInRange ? "" : ` WHERE ${packedInRange(ordering, "s")}`;
    return `(SELECT ${
      [`${packedValue(ordering, "s", "s.__ts")} AS __o`, ...extra].join(", ")
    } FROM ${ident(view.table)} s${where})`;
  }
  const keys = view.keys.map((k) => `s.${ident(k)}`);
  return `(SELECT ${[...keys, "epoch_us(s.__ts) AS __o", ...extra].join(", ")} FROM ${
    ident(view.table)
  } s${keys.length > 0 ? ` WHERE ${keys.map((k) => `${k} IS NOT NULL`).join(" AND ")}` : ""})`;
}

const MATCH = "__larder_mo";
const matchedKey = (i: number) => `__larder_mk${i}`;

const UNITS: Record<string, number> = {
  bytes: 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** Bytes of a DuckDB size setting such as "1.8 GiB"; undefined if not understood. */
function parseSize(text: string): number | undefined {
  const match = /^\s*([\d.]+)\s*([a-z]+)\s*$/i.exec(text);
  const unit = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  return match && unit ? Number(match[1]) * unit : undefined;
}

/** Bytes per value of a column type in DuckDB's row layout, roughly. */
function typeWidth(type: string): number {
  if (/^(TINYINT|UTINYINT|BOOLEAN)$/.test(type)) return 1;
  if (/^(SMALLINT|USMALLINT)$/.test(type)) return 2;
  if (/^(INTEGER|UINTEGER|FLOAT|DATE)$/.test(type)) return 4;
  if (/^(BIGINT|UBIGINT|DOUBLE|TIMESTAMP.*|TIME)$/.test(type)) return 8;
  return 16;
}

/**
 * Knobs for tests: `minParts` forces joins into at least that many key-range parts, so the
 * split path (normally taken only when a join would not fit in memory) is checked against the
 * oracle on small data.
 */
export const joinTuning: { minParts: number } = { minParts: 1 };

/** Memory an ASOF join needs per source row and payload byte (measured: about 4×, with margin). */
const ASOF_MEMORY_FACTOR = 5;

/**
 * How many parts to split the ASOF join into so that one part's sort fits in the memory left
 * under `memory_limit` (DuckDB-WASM cannot spill; native DuckDB spills, so there only the tests'
 * `minParts` splits it). Parts split the key space, so each part is an independent ASOF join over
 * a fraction of the rows, run one after the other.
 */
async function partCount(runner: SqlRunner, facts: SourceFacts, view: PitView): Promise<number> {
  if (facts.ordering.kind === "packed" && facts.ordering.keys.length === 0) return 1;
  if (facts.ordering.kind === "keyed" && view.keys.length === 0) return 1;
  let parts = joinTuning.minParts;
  if (!runner.spills) {
    const [row] = await runner.rows(
      `SELECT current_setting('memory_limit') AS lim, ` +
        `(SELECT sum(memory_usage_bytes) FROM duckdb_memory())::VARCHAR AS used`,
    );
    const limit = parseSize(String(row?.lim ?? ""));
    if (limit === undefined) return 1;
    const used = Number(row?.used ?? 0);
    const width = 8 +
      view.features.reduce((sum, f) => sum + 1 + typeWidth(facts.types.get(f.column) ?? ""), 0) +
      (facts.ordering.kind === "keyed"
        ? view.keys.reduce((sum, k) => sum + typeWidth(facts.types.get(k) ?? ""), 0)
        : 0);
    const need = ASOF_MEMORY_FACTOR * width * Number(facts.rows);
    const budget = Math.max(0.9 * limit - used, 0.1 * limit);
    parts = Math.max(parts, Math.ceil(need / budget));
  }
  if (facts.ordering.kind === "packed") {
    const slots = 2 ** (facts.ordering.bits - facts.ordering.tsBits);
    parts = Math.min(parts, slots);
  }
  return Math.min(parts, 64);
}

/**
 * Joins one view into temporary table `result`: one row per entity row, in entity order, with
 * the view's output columns (plus internal columns `__larder_*`, never selected by
 * {@linkcode combineSql}). For each entity row: the source row with the same keys and the
 * greatest event time `<= entity ts`, ties going to the greatest created time, within ttl
 * (both bounds inclusive); else NULLs.
 */
export async function joinView(
  runner: SqlRunner,
  entities: PitEntities,
  view: PitView,
  result: string,
  options: { filterByCreatedTimestamp: boolean },
): Promise<void> {
  if (options.filterByCreatedTimestamp && view.hasCreated) {
    await runner.exec(`CREATE TEMP TABLE ${ident(result)} AS ${rangeJoinSql(entities, view)}`);
    return;
  }
  const facts = await sourceFacts(runner, entities, view);
  const { ordering } = facts;
  const ts = entityTs(entities.timestampColumn);
  const ttl = view.ttlMicros;
  let entitySide: string;
  let on: string;
  let valid: string;
  if (ordering.kind === "packed") {
    // __t: offset of the entity time in the packed value; __lo: the smallest acceptable match.
    const inner =
      `SELECT rowid AS __rid, CASE WHEN ${packedInRange(ordering, "e", ts)} THEN ${
        packedValue(ordering, "e", ts)
      } END AS __o, ` +
      `epoch_us(${ts}) - (${ordering.tsLow})::BIGINT AS __t FROM ${ident(entities.table)} e`;
    const lo = ttl > 0n ? `__o - least(__t, (${ttl})::BIGINT)` : "__o - __t";
    entitySide = `(SELECT __rid, __o, ${lo} AS __lo FROM (${inner}))`;
    on = "e.__o >= v.__o";
    valid = "v.__o >= e.__lo";
  } else {
    const keys = view.keys.map((k) => `e.${ident(k)}`);
    entitySide = `(SELECT ${
      ["rowid AS __rid", ...keys, `epoch_us(${ts}) AS __o`].join(", ")
    } FROM ${ident(entities.table)} e)`;
    on = [...view.keys.map((k) => `e.${ident(k)} = v.${ident(k)}`), "e.__o >= v.__o"].join(
      " AND ",
    );
    valid = ttl > 0n ? `v.__o >= e.__o - (${ttl})::BIGINT` : "v.__o IS NOT NULL";
  }
  const source = orderedSource(
    ordering,
    view,
    view.features.map((f) => `s.${ident(f.column)}`),
  );
  const selects = [
    `CASE WHEN ${valid} THEN v.__o END AS ${MATCH}`,
    ...(ordering.kind === "keyed" && view.hasCreated
      ? view.keys.map((k, i) => `CASE WHEN ${valid} THEN v.${ident(k)} END AS ${matchedKey(i)}`)
      : []),
    ...view.features.map((f) =>
      `CASE WHEN ${valid} THEN v.${ident(f.column)} END AS ${ident(f.output)}`
    ),
  ];
  let parts = await partCount(runner, facts, view);
  let bounds: bigint[] = [];
  if (parts > 1 && ordering.kind === "packed") {
    bounds = await packedBounds(runner, ordering, view, parts);
    parts = bounds.length + 1;
  }
  if (parts === 1) {
    await runner.exec(
      `CREATE TEMP TABLE ${ident(result)} AS SELECT ${selects.join(", ")} FROM ${entitySide} e ` +
        `ASOF LEFT JOIN ${source} v ON ${on} ORDER BY e.__rid`,
    );
  } else {
    const tables: string[] = [];
    try {
      for (let part = 0; part < parts; part++) {
        const { entity, source: sourcePart } = partFilters(facts, view, part, parts, bounds);
        const table = `${result}_p${part}`;
        tables.push(table);
        await runner.exec(
          `CREATE TEMP TABLE ${ident(table)} AS SELECT e.__rid, ${selects.join(", ")} FROM ` +
            `(SELECT * FROM ${entitySide} e WHERE ${entity}) e ASOF LEFT JOIN ` +
            `(SELECT * FROM ${source} s WHERE ${sourcePart}) v ON ${on}`,
        );
      }
      await runner.exec(
        `CREATE TEMP TABLE ${ident(result)} AS SELECT * EXCLUDE (__rid) FROM (${
          tables.map((t) => `SELECT * FROM ${ident(t)}`).join(" UNION ALL ")
        }) ORDER BY __rid`,
      );
    } finally {
      for (const table of tables) await runner.exec(`DROP TABLE IF EXISTS ${ident(table)}`);
    }
  }
  if (view.hasCreated) await breakTies(runner, ordering, view, result);
}

/**
 * Where the packed key space splits into `parts` parts of about the same number of source rows:
 * quantiles of the key bits over a 2% sample of the source (vectors at random), each rounded
 * down to a whole key so that one key's rows are never split. Fewer bounds if one key holds
 * more than a part's share.
 */
async function packedBounds(
  runner: SqlRunner,
  ordering: Packed,
  view: PitView,
  parts: number,
): Promise<bigint[]> {
  const quantiles = Array.from({ length: parts - 1 }, (_, i) => (i + 1) / parts);
  const keyBits = `(${packedValue(ordering, "s", "s.__ts")}) >> ${ordering.tsBits}`;
  const where = ordering.sourceInRange ? "" : ` WHERE ${packedInRange(ordering, "s")}`;
  const [row] = await runner.rows(
    `SELECT CAST(quantile_disc(${keyBits}, [${quantiles.join(", ")}]) AS VARCHAR[]) AS q ` +
      `FROM (SELECT * FROM ${ident(view.table)} USING SAMPLE 2 PERCENT (system, 7)) s${where}`,
  );
  const raw = row?.q as Iterable<unknown> | null | undefined;
  let values = raw ? [...raw].map((v) => BigInt(String(v))) : [];
  if (values.length === 0) {
    // An empty sample (a small table): split the key range evenly instead.
    const top = ordering.keys.reduce(
      (sum, k) => sum + ((k.max - k.min) << BigInt(k.shift - ordering.tsBits)),
      0n,
    );
    values = quantiles.map((_, i) => ((top + 1n) * BigInt(i + 1)) / BigInt(parts));
  }
  const bounds = [...new Set(values.filter((v) => v > 0n))].sort((a, b) => (a < b ? -1 : 1));
  return bounds.map((v) => v << BigInt(ordering.tsBits));
}

/**
 * Conditions selecting part `part` on the entity side (`e`) and the source side (`s`, as from
 * {@linkcode orderedSource}). Packed: between consecutive `bounds` (whole keys); entity rows
 * that cannot match (NULL `__o`) go to part 0. Keyed: a hash of the keys, cast to the source's
 * key types on both sides.
 */
function partFilters(
  facts: SourceFacts,
  view: PitView,
  part: number,
  parts: number,
  bounds: readonly bigint[],
): { entity: string; source: string } {
  if (facts.ordering.kind === "packed") {
    const range = (alias: string) =>
      [
        ...(part > 0 ? [`${alias}.__o >= ${bounds[part - 1]}`] : []),
        ...(part < parts - 1 ? [`${alias}.__o < ${bounds[part]}`] : []),
      ].join(" AND ") || "true";
    return {
      entity: part === 0 ? `(${range("e")} OR e.__o IS NULL)` : range("e"),
      source: range("s"),
    };
  }
  const hash = (alias: string, cast: boolean) =>
    `hash(${
      view.keys.map((k) =>
        cast ? `TRY_CAST(${alias}.${ident(k)} AS ${facts.types.get(k)})` : `${alias}.${ident(k)}`
      ).join(", ")
    }) % ${parts} = ${part}`;
  return { entity: hash("e", true), source: hash("s", false) };
}

/**
 * The ASOF join picks any one of several source rows with the same keys and event time; Feast
 * wants the greatest created time among them (NULL lowest). Finds the matched (keys, time)
 * groups that hold more than one row (usually none: one hash probe of the source) and, if any,
 * rewrites the affected result rows with the group's newest row.
 */
async function breakTies(
  runner: SqlRunner,
  ordering: Ordering,
  view: PitView,
  result: string,
): Promise<void> {
  const groupKeys = ordering.kind === "keyed" ? view.keys.map((k) => ident(k)) : [];
  const matchedKeys = groupKeys.map((_, i) => matchedKey(i));
  const on = [
    "s.__o = m.__o",
    ...groupKeys.map((k, i) => `s.${k} = m.${matchedKeys[i]}`),
  ].join(" AND ");
  const ties = `${result}_ties`;
  await runner.exec(
    `CREATE TEMP TABLE ${ident(ties)} AS SELECT ${[...groupKeys, "__o"].join(", ")} FROM ${
      orderedSource(ordering, view, [])
    } s SEMI JOIN (SELECT DISTINCT ${[`${MATCH} AS __o`, ...matchedKeys].join(", ")} FROM ${
      ident(result)
    } WHERE ${MATCH} IS NOT NULL) m ON ${on} GROUP BY ALL HAVING count(*) > 1`,
  );
  try {
    const [count] = await runner.rows(`SELECT count(*)::VARCHAR AS n FROM ${ident(ties)}`);
    if (String(count?.n ?? "0") === "0") return;
    const best = `${result}_best`;
    const fields = view.features.map((f, i) => `'c${i}': s.${ident(f.column)}`).join(", ");
    const tieOn = [
      "s.__o = t.__o",
      ...groupKeys.map((k) => `s.${k} = t.${k}`),
    ].join(" AND ");
    await runner.exec(
      `CREATE TEMP TABLE ${ident(best)} AS SELECT ${
        [...groupKeys.map((k) => `s.${k}`), "s.__o"].join(", ")
      }, arg_max({${fields}}, coalesce(epoch_us(s.__created), -9223372036854775808)) AS __best ` +
        `FROM ${
          orderedSource(ordering, view, [
            "s.__created",
            ...view.features.map((f) => `s.${ident(f.column)}`),
          ])
        } s ` +
        `SEMI JOIN ${ident(ties)} t ON ${tieOn} GROUP BY ALL`,
    );
    const sets = view.features.map((f, i) =>
      `${ident(f.output)} = struct_extract(b.__best, 'c${i}')`
    );
    const r = ident(result);
    const where = [
      `${r}.${MATCH} = b.__o`,
      ...groupKeys.map((k, i) => `${r}.${matchedKeys[i]} = b.${k}`),
    ].join(" AND ");
    await runner.exec(`UPDATE ${r} SET ${sets.join(", ")} FROM ${ident(best)} b WHERE ${where}`);
    await runner.exec(`DROP TABLE ${ident(best)}`);
  } finally {
    await runner.exec(`DROP TABLE IF EXISTS ${ident(ties)}`);
  }
}

/**
 * `filterByCreatedTimestamp` with a created column: the created filter depends on each entity
 * row, so the ASOF plan does not apply; a range join ranked by `row_number()` (like Feast's).
 */
function rangeJoinSql(entities: PitEntities, view: PitView): string {
  const ts = entityTs(entities.timestampColumn);
  const conditions = [
    ...view.keys.map((k) => `s.${ident(k)} = e.${ident(k)}`),
    "s.__ts <= e.__ts",
    ...(view.ttlMicros > 0n
      ? [`s.__ts >= e.__ts - to_microseconds(${view.ttlMicros}::BIGINT)`]
      : []),
    "s.__created <= e.__ts",
  ];
  const entity = `(SELECT *, rowid AS __rid, ${ts} AS __ts FROM ${ident(entities.table)})`;
  const ranked =
    `SELECT e.__rid, ${
      view.features.map((f) => `s.${ident(f.column)}`).join(", ")
    } FROM ${entity} e JOIN ${ident(view.table)} s ON ${conditions.join(" AND ")} ` +
    `QUALIFY row_number() OVER (PARTITION BY e.__rid ORDER BY s.__ts DESC, s.__created DESC) = 1`;
  return `SELECT ${
    view.features.map((f) => `c.${ident(f.column)} AS ${ident(f.output)}`).join(", ")
  } FROM (SELECT rowid AS __rid FROM ${ident(entities.table)}) e LEFT JOIN (${ranked}) c ` +
    `ON c.__rid = e.__rid ORDER BY e.__rid`;
}

/** One view of {@linkcode joinAll}: its entity join keys and how to load its source rows. */
export interface PitStage {
  /** The feature view, for progress events. */
  readonly name: string;
  /** Join keys (entity table column names). */
  readonly keys: readonly string[];
  /**
   * Loads the view's source rows (pruned with `stats` as it sees fit) into a table: for the
   * point-in-time join, or (an {@linkcode AggregateView}) for window aggregations.
   */
  load(stats: EntityStats): Promise<PitView | AggregateView>;
}

let resultCounter = 0;

/**
 * Where a retrieval is. Views are worked on one at a time: first `load` (reading the view's
 * source rows), then `join` (its point-in-time join); `output` starts streaming the result.
 * Each event marks the start of its phase and the end of the one before.
 */
export interface RetrievalStage {
  /** The phase starting. */
  readonly phase: "load" | "join" | "output";
  /** The feature view, or the name of a projection of it (absent for `output`). */
  readonly view?: string;
  /** The view's position, from 0 (for `output`: the number of views). */
  readonly index: number;
  /** How many views the retrieval joins. */
  readonly views: number;
}

/** Receives {@linkcode RetrievalStage} events. */
export type StageListener = (stage: RetrievalStage) => void;

/**
 * The whole join, one view at a time: load a view's source, join it into a small per-view
 * result, drop the source, next view; only one source is in memory at a time. Returns the SQL
 * of the final result (entity rows in input order, then the features in view order).
 */
export async function joinAll(
  runner: SqlRunner,
  entityTable: string,
  timestampColumn: string,
  stages: readonly PitStage[],
  options: {
    filterByCreatedTimestamp: boolean;
    onStage?: StageListener | undefined;
    /** The output columns in this order (default: by stage). */
    order?: readonly string[] | undefined;
  },
): Promise<string> {
  const stats = await entityStats(
    runner,
    entityTable,
    timestampColumn,
    stages.flatMap((s) => s.keys),
  );
  const entities = { table: entityTable, timestampColumn, stats };
  const results: { table: string; outputs: string[] }[] = [];
  for (const [index, stage] of stages.entries()) {
    const event = { view: stage.name, index, views: stages.length };
    options.onStage?.({ ...event, phase: "load" });
    const view = await stage.load(stats);
    const table = `${entityTable}_r${resultCounter++}`;
    options.onStage?.({ ...event, phase: "join" });
    try {
      if ("aggregations" in view) await aggregateView(runner, entities, view, table, options);
      else await joinView(runner, entities, view, table, options);
    } finally {
      await runner.exec(`DROP TABLE IF EXISTS ${ident(view.table)}`);
    }
    results.push({
      table,
      outputs: "aggregations" in view
        ? view.aggregations.map((a) => a.output)
        : view.features.map((f) => f.output),
    });
  }
  options.onStage?.({ phase: "output", index: stages.length, views: stages.length });
  return combineSql(entityTable, results, options.order);
}

/**
 * SQL returning the entity rows in input order, each with its columns unchanged followed by
 * the per-view results' output columns. Each result has exactly one row per entity row, in
 * entity order ({@linkcode joinView}), so they are stitched by position: no join, no sort.
 */
export function combineSql(
  entityTable: string,
  results: readonly { table: string; outputs: readonly string[] }[],
  order?: readonly string[],
): string {
  const owner = new Map(results.flatMap((r, i) => r.outputs.map((o) => [o, i] as const)));
  const selects = (order ?? results.flatMap((r) => r.outputs)).map((o) =>
    `r${owner.get(o)}.${ident(o)}`
  );
  const joins = results.map((r, i) => `POSITIONAL JOIN ${ident(r.table)} r${i}`);
  return `SELECT e.*${selects.length > 0 ? `, ${selects.join(", ")}` : ""} FROM ${
    ident(entityTable)
  } e ${joins.join(" ")}`;
}
