/** Builds Arrow IPC bytes from typed columns (apache-arrow; loaded only when writing). */
import {
  Binary,
  Bool,
  type DataType,
  Field,
  Float32,
  Float64,
  Int32,
  Int64,
  List,
  makeData,
  makeVector,
  Table,
  tableToIPC,
  TimestampMicrosecond,
  Utf8,
  type Vector,
  vectorFromArray,
} from "apache-arrow";
import { elementType, type ScalarType, type ValueType } from "../registry/mod.ts";
import { checkColumns, type Columns, invalidValue } from "./table_writer.ts";
import { coerceValue, INVALID, timestampMicros } from "./online/value_codec.ts";

/**
 * The Arrow type Larder writes for a value type; timestamps carry `timezone` (`null`: none,
 * as retrieval output from Postgres carries them).
 */
export function arrowType(type: ValueType, timezone: string | null = "UTC"): DataType {
  const { array, element } = elementType(type);
  const scalar: Record<ScalarType, () => DataType> = {
    int32: () => new Int32(),
    int64: () => new Int64(),
    float32: () => new Float32(),
    float64: () => new Float64(),
    string: () => new Utf8(),
    bool: () => new Bool(),
    bytes: () => new Binary(),
    timestamp: () => new TimestampMicrosecond(timezone),
  };
  const t = scalar[element]();
  return array ? new List(new Field("item", t, true)) : t;
}

/** Thrown by {@linkcode convert} for a value its type cannot hold. */
class Unconvertible extends Error {}

/** The Arrow builder's form of a typed scalar: int64 as bigint, timestamps as epoch ms. */
function arrowScalar(typed: unknown, type: ScalarType): unknown {
  if (typed === null) return null;
  if (type === "int64") return BigInt(typed as number | bigint);
  if (type === "timestamp") return (typed as Date).getTime();
  return typed;
}

/**
 * The value Arrow's builder takes for `value` of `type`. Caller values are read by
 * `coerceValue`, the one reader of values handed to Larder; throws {@linkcode Unconvertible}.
 */
export function convert(value: unknown, type: ValueType): unknown {
  const typed = coerceValue(value, type);
  if (typed === INVALID) throw new Unconvertible();
  if (typed === null) return null;
  const { array, element } = elementType(type);
  return array
    ? (typed as unknown[]).map((v) => arrowScalar(v, element))
    : arrowScalar(typed, element);
}

/**
 * A timestamp column at microseconds, built from its buffers: the builder takes epoch
 * milliseconds, which would drop the microseconds of ISO text such as `…:02.000001Z`.
 */
function microsVector(
  values: readonly unknown[],
  invalid: (value: unknown, row: number) => Error,
): Vector {
  const data = new BigInt64Array(values.length);
  const valid = new Uint8Array((values.length + 7) >> 3);
  let nullCount = 0;
  for (let row = 0; row < values.length; row++) {
    const micros = timestampMicros(values[row]);
    if (micros === null) {
      nullCount++;
      continue;
    }
    if (Number.isNaN(micros)) throw invalid(values[row], row);
    data[row] = BigInt(micros);
    valid[row >> 3]! |= 1 << (row & 7);
  }
  return makeVector(makeData({
    type: arrowType("timestamp") as TimestampMicrosecond,
    length: values.length,
    nullCount,
    nullBitmap: nullCount > 0 ? valid : null,
    data,
  }));
}

/** Builds Arrow IPC stream bytes from typed columns. */
export function columnsToIpc(columns: Columns, schema: Record<string, ValueType>): Uint8Array {
  const names = Object.keys(schema);
  checkColumns(columns, schema);
  const vectors = Object.fromEntries(names.map((name) => {
    const type = schema[name]!;
    const invalid = (v: unknown, row: number) => invalidValue(name, type, v, row);
    if (type === "timestamp") return [name, microsVector(columns[name]!, invalid)];
    const values = columns[name]!.map((v, row) => {
      try {
        return convert(v, type);
      } catch (err) {
        if (!(err instanceof Unconvertible)) throw err;
        throw invalid(v, row);
      }
    });
    return [name, vectorFromArray(values, arrowType(type) as never)];
  }));
  return tableToIPC(new Table(vectors), "stream");
}
