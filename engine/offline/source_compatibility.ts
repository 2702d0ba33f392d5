/** Whether a batch source has the columns, with usable types, that a feature view reads. */
import {
  type BatchSourceSpec,
  elementType,
  type EntitySpec,
  type FeatureViewSpec,
  type ScalarType,
  type ValueType,
} from "../../registry/mod.ts";
import type { SourceColumn } from "./offline_store.ts";

const INTEGER: ReadonlySet<ScalarType> = new Set(["int32", "int64"]);
const FLOAT: ReadonlySet<ScalarType> = new Set(["float32", "float64"]);

/**
 * Whether a column stored as `found` can be read as `expected`: the same type, or numeric
 * widening (any integer → any integer or float, any float → any float); arrays element-wise.
 */
export function isCompatibleType(expected: ValueType, found: ValueType | undefined): boolean {
  if (found === undefined) return false;
  const e = elementType(expected);
  const f = elementType(found);
  if (e.array !== f.array) return false;
  if (e.element === f.element) return true;
  if (INTEGER.has(f.element)) return INTEGER.has(e.element) || FLOAT.has(e.element);
  if (FLOAT.has(f.element)) return FLOAT.has(e.element);
  return false;
}

/** The integer types each Larder integer type holds every value of, by DuckDB's names. */
const HOLDS: Readonly<Record<"int32" | "int64", RegExp>> = {
  int32: /^(TINYINT|SMALLINT|INTEGER|UTINYINT|USMALLINT|INT1|INT2|INT4|INT)$/,
  int64:
    /^(TINYINT|SMALLINT|INTEGER|UTINYINT|USMALLINT|INT1|INT2|INT4|INT|BIGINT|UINTEGER|INT8|LONG)$/,
};

/**
 * When declaring a column stored as the DuckDB integer type `physical` as `expected` narrows it
 * (an INT64 column declared int32, a UINT64 one declared int64), the Larder type to declare
 * instead; `undefined` otherwise. Arrays element-wise.
 */
export function narrowerThanStored(expected: ValueType, physical: string): ValueType | undefined {
  const e = elementType(expected);
  const stored = physical.trim().toUpperCase();
  const isList = stored.endsWith("[]");
  if (isList !== e.array || (e.element !== "int32" && e.element !== "int64")) return undefined;
  const element = isList ? stored.slice(0, -2) : stored;
  const integer = HOLDS.int64.test(element) || /^(UBIGINT|HUGEINT|UHUGEINT)$/.test(element);
  if (!integer || HOLDS[e.element].test(element)) return undefined;
  const wider: ScalarType = HOLDS.int64.test(element) ? "int64" : "float64";
  return e.array ? `${wider}[]` : wider;
}

const INTEGER_NAMES: Readonly<Record<string, string>> = {
  BIGINT: "int64",
  UINTEGER: "uint32",
  UBIGINT: "uint64",
  HUGEINT: "int128",
  UHUGEINT: "uint128",
};

/** A stored integer type by its file name and DuckDB's: `uint64 (UBIGINT)`. */
function storedInteger(physical: string): string {
  const list = physical.endsWith("[]");
  const name = INTEGER_NAMES[list ? physical.slice(0, -2) : physical];
  return name === undefined ? physical : `${name}${list ? "[]" : ""} (${physical})`;
}

/**
 * What is wrong with declaring a column stored as the DuckDB integer type `physical` as the
 * narrower `expected` (`is int64 (BIGINT) in file "…", declared int32: …; declare it int64`),
 * `where` naming the file; `undefined` when the declaration holds every stored value.
 */
export function narrowingProblem(
  expected: ValueType,
  physical: string,
  where = "",
): string | undefined {
  const narrower = narrowerThanStored(expected, physical);
  if (narrower === undefined) return undefined;
  return `is ${
    storedInteger(physical)
  }${where}, declared ${expected}: a stored value beyond the ${expected} range would fail to load; declare it ${narrower}`;
}

/** A source column that a view reads, under its stored name. */
export interface PhysicalColumn {
  /** The name in the source file. */
  readonly column: string;
  /** The name the view uses (after `fieldMapping`). */
  readonly name: string;
}

/** Where each name a view reads comes from in its source. */
export interface SourceLayout {
  readonly joinKeys: readonly PhysicalColumn[];
  readonly features: readonly PhysicalColumn[];
  readonly timestamp: PhysicalColumn;
  readonly created: PhysicalColumn | undefined;
}

/** The source column that holds `name` after `fieldMapping` (mapping is source column → name). */
export function physicalName(source: BatchSourceSpec, name: string): string {
  for (const [column, mapped] of Object.entries(source.fieldMapping)) {
    if (mapped === name) return column;
  }
  return name;
}

/**
 * The source column for a timestamp field: the column of that name, or else the column
 * that `fieldMapping` maps to that name.
 */
function timestampColumn(
  source: BatchSourceSpec,
  field: string,
  columns?: readonly SourceColumn[],
) {
  if (columns === undefined || columns.some((c) => c.name === field)) return field;
  return physicalName(source, field);
}

/** The join keys of a view, in the order of its entities. */
export function joinKeysOf(view: FeatureViewSpec, entities: readonly EntitySpec[]): {
  keys: { name: string; type: ScalarType; entity: string }[];
  missingEntities: string[];
} {
  const keys: { name: string; type: ScalarType; entity: string }[] = [];
  const missingEntities: string[] = [];
  for (const entityName of view.entities) {
    const entity = entities.find((e) => e.name === entityName);
    if (!entity) {
      missingEntities.push(entityName);
      continue;
    }
    for (const key of entity.joinKeys) {
      if (!keys.some((k) => k.name === key)) {
        keys.push({ name: key, type: entity.valueType, entity: entity.name });
      }
    }
  }
  return { keys, missingEntities };
}

/** The physical columns a view reads from its source (see {@linkcode checkSourceCompatibility}). */
export function sourceLayout(
  view: FeatureViewSpec,
  source: BatchSourceSpec,
  entities: readonly EntitySpec[],
  features: readonly string[] = view.features.map((f) => f.name),
  columns?: readonly SourceColumn[],
): SourceLayout {
  const map = (name: string) => ({ column: physicalName(source, name), name });
  const created = source.createdTimestampColumn;
  return {
    joinKeys: joinKeysOf(view, entities).keys.map((k) => map(k.name)),
    features: features.map(map),
    timestamp: { column: timestampColumn(source, source.timestampField, columns), name: "" },
    created: created === undefined
      ? undefined
      : { column: timestampColumn(source, created, columns), name: "" },
  };
}

function quoteList(names: readonly string[]): string {
  return names.map((n) => `"${n}"`).join(", ");
}

/**
 * Every problem that stops `view` from reading `source`, as sentence-case messages naming the
 * view, the source, the column and what was expected: a join key, feature or timestamp column
 * missing (after `fieldMapping`), or stored with an incompatible type (a `textual` CSV column
 * fits any type: its values are checked when read). Empty when compatible.
 *
 * @example
 * ```ts ignore
 * const problems = checkSourceCompatibility(view, source, entities, await store.describeSource(source, repo));
 * if (problems.length > 0) throw new Error(problems.join("\n"));
 * ```
 */
export function checkSourceCompatibility(
  view: FeatureViewSpec,
  source: BatchSourceSpec,
  entities: EntitySpec[],
  columns: SourceColumn[],
): string[] {
  const problems: string[] = [];
  const prefix = `Feature view "${view.name}": source "${source.name}"`;
  const byName = new Map(columns.map((c) => [c.name, c]));
  const available = quoteList(columns.map((c) => c.name));

  const check = (column: string, name: string, expected: ValueType, what: string) => {
    const found = byName.get(column);
    const label = column === name ? `"${column}"` : `"${column}" (mapped to "${name}")`;
    if (!found) {
      problems.push(`${prefix} has no column ${label} for ${what} (columns: ${available})`);
      return;
    }
    if (found.textual) return;
    const inFile = found.file === undefined ? "" : ` in file "${found.file}"`;
    if (found.unreadable !== undefined) {
      problems.push(
        `${prefix} column ${label} for ${what} is ${found.physicalType}${inFile}, declared ${expected}: ${found.unreadable}`,
      );
      return;
    }
    const narrowing = narrowingProblem(expected, found.physicalType, inFile);
    if (narrowing !== undefined) {
      problems.push(`${prefix} column ${label} for ${what} ${narrowing}`);
      return;
    }
    if (!isCompatibleType(expected, found.valueType)) {
      const shown = found.valueType
        ? `${found.physicalType} (${found.valueType})`
        : found.physicalType;
      problems.push(`${prefix} column ${label} for ${what} is ${shown}, expected ${expected}`);
    }
  };

  const { keys, missingEntities } = joinKeysOf(view, entities);
  for (const name of missingEntities) {
    problems.push(`Feature view "${view.name}": entity "${name}" is not defined`);
  }
  for (const key of keys) {
    check(physicalName(source, key.name), key.name, key.type, `join key of entity "${key.entity}"`);
  }
  for (const feature of view.features) {
    check(physicalName(source, feature.name), feature.name, feature.type, "feature");
  }
  const ts = timestampColumn(source, source.timestampField, columns);
  check(ts, source.timestampField, "timestamp", "the event timestamp");
  if (source.createdTimestampColumn !== undefined) {
    const created = timestampColumn(source, source.createdTimestampColumn, columns);
    check(created, source.createdTimestampColumn, "timestamp", "the created timestamp");
  }
  return problems;
}
