/** Postgres type names, Larder value types and Arrow types, and values between them. */
import {
  type DataType,
  Field,
  Float64,
  type List,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  TimestampMicrosecond,
  Type,
  Utf8,
  vectorFromArray,
} from "apache-arrow";
import { elementType, LarderError, type ScalarType, type ValueType } from "../../registry/mod.ts";
import { micros } from "./_client.ts";
import { arrowType } from "../_arrow_columns.ts";

/** An integer type's width in bits. */
export function intBits(type: DataType): number {
  return (type as unknown as { bitWidth: number }).bitWidth;
}

/** A float type's precision (0 half, 1 single, 2 double). */
export function floatPrecision(type: DataType): number {
  return (type as unknown as { precision: number }).precision;
}

const SCALARS: ReadonlyArray<[RegExp, ScalarType]> = [
  [/^(SMALLINT|INTEGER|INT2|INT4)$/, "int32"],
  [/^(BIGINT|INT8)$/, "int64"],
  [/^(REAL|FLOAT4)$/, "float32"],
  [/^(DOUBLE PRECISION|FLOAT8|NUMERIC.*)$/, "float64"],
  [/^(TEXT|CHARACTER VARYING.*|CHARACTER.*|VARCHAR.*|NAME|UUID|CITEXT)$/, "string"],
  [/^BOOLEAN$/, "bool"],
  [/^BYTEA$/, "bytes"],
  [/^(TIMESTAMP.*|DATE)$/, "timestamp"],
];

/** The closest Larder value type of a Postgres type (as `format_type` names it), or `undefined`. */
export function valueTypeOfPg(pgType: string): ValueType | undefined {
  const type = pgType.trim().toUpperCase();
  if (type.endsWith("[]")) {
    const inner = valueTypeOfPg(type.slice(0, -2));
    return inner === undefined || inner.endsWith("[]") ? undefined : `${inner as ScalarType}[]`;
  }
  for (const [regex, scalar] of SCALARS) if (regex.test(type)) return scalar;
  return undefined;
}

const PG_SCALAR: Readonly<Record<ScalarType, string>> = {
  int32: "int4",
  int64: "int8",
  float32: "float4",
  float64: "float8",
  string: "text",
  bool: "bool",
  bytes: "bytea",
  timestamp: "timestamptz",
};

/** The Postgres type Larder reads a value type as. */
export function pgTypeOf(type: ValueType): string {
  const { array, element } = elementType(type);
  return `${PG_SCALAR[element]}${array ? "[]" : ""}`;
}

/** How a column travels back from Postgres and becomes Arrow. */
export interface OutputColumn {
  readonly name: string;
  readonly type: DataType;
}

/** The Arrow type of a Larder value type, as retrieval output carries it (timestamps without a zone). */
export function arrowTypeOf(type: ValueType): DataType {
  return arrowType(type, null);
}

/** The Postgres type an Arrow column of an entity table is loaded as. */
export function pgTypeOfArrow(type: DataType, column: string): string {
  switch (type.typeId) {
    case Type.Int:
      return intBits(type) <= 16 ||
          (intBits(type) <= 32 && (type as unknown as { isSigned: boolean }).isSigned)
        ? "int4"
        : "int8";
    case Type.Float:
      return floatPrecision(type) === 1 ? "float4" : "float8";
    case Type.Decimal:
      return "numeric";
    case Type.Utf8:
    case Type.LargeUtf8:
      return "text";
    case Type.Bool:
      return "bool";
    case Type.Binary:
    case Type.LargeBinary:
      return "bytea";
    case Type.Timestamp:
    case Type.Date:
      return "timestamptz";
    case Type.Null:
      return "text";
  }
  throw new LarderError(
    "INPUT_INVALID",
    `The entity table's column "${column}" is ${type}: the Postgres offline store loads scalar columns only (numbers, text, booleans, bytes, timestamps)`,
    { details: { column } },
  );
}

/** The Arrow type an entity column comes back as: its own, timestamps in microseconds. */
export function entityOutputType(type: DataType): DataType {
  if (type.typeId === Type.Timestamp || type.typeId === Type.Date) {
    return new TimestampMicrosecond((type as { timezone?: string | null }).timezone ?? null);
  }
  if (type.typeId === Type.Null) return new Utf8();
  if (type.typeId === Type.Decimal) return new Float64();
  return type;
}

/**
 * The SELECT expression that brings a column of Arrow type `type` back in a shape
 * {@linkcode batchFromRows} reads: timestamps as epoch microseconds, numeric as float8.
 */
export function selectAs(expression: string, type: DataType): string {
  if (type.typeId === Type.Timestamp) return micros(expression);
  if (type.typeId === Type.List && (type as List).children[0]!.type.typeId === Type.Timestamp) {
    return `(SELECT array_agg(${
      micros("x")
    } ORDER BY o) FROM unnest(${expression}) WITH ORDINALITY AS u(x, o))`;
  }
  if (type.typeId === Type.Float || type.typeId === Type.Decimal) {
    return `${expression}::${floatPrecision(type) === 1 ? "float4" : "float8"}`;
  }
  return expression;
}

function toBig(value: unknown): bigint {
  return typeof value === "bigint" ? value : BigInt(String(value));
}

/** Converts values read by the client into what `vectorFromArray` takes for `type`. */
function normalizer(type: DataType): (value: unknown) => unknown {
  switch (type.typeId) {
    case Type.Int:
      return intBits(type) === 64
        ? (v) => (v == null ? null : toBig(v))
        : (v) => (v == null ? null : Number(v));
    case Type.Float:
      return (v) => (v == null ? null : Number(v));
    case Type.Binary:
      return (v) => (v == null ? null : new Uint8Array(v as Uint8Array));
    case Type.List: {
      const inner = normalizer((type as List).children[0]!.type);
      return (v) => (v == null ? null : (v as unknown[]).map(inner));
    }
    default:
      return (v) => (v === undefined ? null : v);
  }
}

/** A timestamp vector from epoch microseconds (exact, unlike `vectorFromArray`'s milliseconds). */
function timestampData(type: DataType, values: readonly unknown[]) {
  const data = new BigInt64Array(values.length);
  const bitmap = new Uint8Array(Math.ceil(values.length / 8));
  let nulls = 0;
  values.forEach((v, i) => {
    if (v == null) nulls++;
    else {
      data[i] = toBig(v);
      bitmap[i >> 3]! |= 1 << (i & 7);
    }
  });
  return makeData({
    type: type as TimestampMicrosecond,
    length: values.length,
    nullCount: nulls,
    data,
    nullBitmap: bitmap,
  });
}

/** A record batch of `columns` from rows read by the client (column names as keys). */
export function batchFromRows(
  columns: readonly OutputColumn[],
  rows: readonly Record<string, unknown>[],
): RecordBatch {
  const fields = columns.map((c) => new Field(c.name, c.type, true));
  const children = columns.map((c, i) => {
    const key = `c${i}`;
    if (c.type.typeId === Type.Timestamp) return timestampData(c.type, rows.map((r) => r[key]));
    if (
      c.type.typeId === Type.List && (c.type as List).children[0]!.type.typeId === Type.Timestamp
    ) {
      // Epoch microseconds to the milliseconds `vectorFromArray` expects (lists of timestamps).
      const values = rows.map((r) =>
        r[key] == null
          ? null
          : (r[key] as unknown[]).map((v) => (v == null ? null : Number(v) / 1000))
      );
      return vectorFromArray(values, c.type).data[0]!;
    }
    const normalize = normalizer(c.type);
    return vectorFromArray(rows.map((r) => normalize(r[key])), c.type).data[0]!;
  });
  const schema = new Schema(fields);
  return new RecordBatch(
    schema,
    makeData({ type: new Struct(fields), length: rows.length, nullCount: 0, children }),
  );
}
