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
  Table,
  tableToIPC,
  TimestampMicrosecond,
  Utf8,
  vectorFromArray,
} from "apache-arrow";
import { elementType, LarderError, type ScalarType, type ValueType } from "../registry/mod.ts";

import type { Columns } from "./table_writer.ts";

/** The Arrow type Larder writes for a value type. */
export function arrowType(type: ValueType): DataType {
  const { array, element } = elementType(type);
  const scalar: Record<ScalarType, () => DataType> = {
    int32: () => new Int32(),
    int64: () => new Int64(),
    float32: () => new Float32(),
    float64: () => new Float64(),
    string: () => new Utf8(),
    bool: () => new Bool(),
    bytes: () => new Binary(),
    timestamp: () => new TimestampMicrosecond("UTC"),
  };
  const t = scalar[element]();
  return array ? new List(new Field("item", t, true)) : t;
}

export function convert(value: unknown, type: ValueType): unknown {
  if (value === null || value === undefined) return null;
  const { array, element } = elementType(type);
  if (array) return (value as unknown[]).map((v) => convert(v, element));
  switch (element) {
    case "int64":
      return typeof value === "bigint" ? value : BigInt(Math.trunc(Number(value)));
    case "timestamp":
      return value instanceof Date
        ? value.getTime()
        : typeof value === "string"
        ? Date.parse(value)
        : value;
    default:
      return value;
  }
}

/** Builds Arrow IPC stream bytes from typed columns. */
export function columnsToIpc(columns: Columns, schema: Record<string, ValueType>): Uint8Array {
  const names = Object.keys(schema);
  const lengths = new Set(names.map((n) => columns[n]?.length ?? -1));
  if (lengths.has(-1) || lengths.size > 1) {
    const missing = names.filter((n) => columns[n] === undefined);
    throw new LarderError(
      "INPUT_INVALID",
      missing.length > 0
        ? `Cannot write the table: no values for ${missing.map((n) => `"${n}"`).join(", ")}`
        : `Cannot write the table: columns have different lengths (${
          names.map((n) => `${n}: ${columns[n]!.length}`).join(", ")
        })`,
    );
  }
  const vectors = Object.fromEntries(names.map((name) => {
    const type = schema[name]!;
    const values = columns[name]!.map((v) => convert(v, type));
    return [name, vectorFromArray(values, arrowType(type) as never)];
  }));
  return tableToIPC(new Table(vectors), "stream");
}
