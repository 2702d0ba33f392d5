/** DuckDB's type names and Larder's value types. */
import type { ScalarType, ValueType } from "../../registry/mod.ts";

const SCALARS: ReadonlyArray<[RegExp, ScalarType]> = [
  [/^(TINYINT|SMALLINT|INTEGER|UTINYINT|USMALLINT|INT1|INT2|INT4|INT)$/, "int32"],
  [/^(BIGINT|UINTEGER|UBIGINT|HUGEINT|UHUGEINT|INT8|LONG)$/, "int64"],
  [/^(FLOAT|REAL|FLOAT4)$/, "float32"],
  [/^(DOUBLE|FLOAT8|DECIMAL(\(\d+,\s*\d+\))?|NUMERIC.*)$/, "float64"],
  [/^(VARCHAR|TEXT|STRING|UUID|ENUM\(.*\))$/, "string"],
  [/^(BOOLEAN|BOOL)$/, "bool"],
  [/^(BLOB|BYTEA|VARBINARY)$/, "bytes"],
  [/^(TIMESTAMP.*|DATE|DATETIME)$/, "timestamp"],
];

/** The closest Larder value type of a DuckDB type name, or `undefined`. */
export function valueTypeOf(duckdbType: string): ValueType | undefined {
  const type = duckdbType.trim().toUpperCase();
  if (type.endsWith("[]")) {
    const inner = valueTypeOf(type.slice(0, -2));
    return inner === undefined || inner.endsWith("[]") ? undefined : `${inner as ScalarType}[]`;
  }
  for (const [regex, scalar] of SCALARS) if (regex.test(type)) return scalar;
  return undefined;
}

/** Whether a DuckDB type name is a point in time. */
export function isTimestampType(duckdbType: string): boolean {
  return valueTypeOf(duckdbType) === "timestamp";
}
