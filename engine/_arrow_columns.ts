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

/** Thrown by {@linkcode convert} for a value its type cannot hold. */
class Unconvertible extends Error {}

function scalar(value: unknown, type: ScalarType): unknown {
  switch (type) {
    case "int32":
    case "int64": {
      const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
      if (typeof n === "bigint") return type === "int64" ? n : Number(n);
      if (typeof n !== "number" || !Number.isInteger(n)) throw new Unconvertible();
      if (type === "int32" && (n < -2147483648 || n > 2147483647)) throw new Unconvertible();
      return type === "int64" ? BigInt(n) : n;
    }
    case "float32":
    case "float64": {
      const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
      if (typeof n === "bigint") return Number(n);
      if (typeof n !== "number" || Number.isNaN(n)) throw new Unconvertible();
      return n;
    }
    case "string":
      if (typeof value !== "string") throw new Unconvertible();
      return value;
    case "bool":
      if (typeof value !== "boolean") throw new Unconvertible();
      return value;
    case "bytes":
      if (!(value instanceof Uint8Array)) throw new Unconvertible();
      return value;
    case "timestamp": {
      const ms = value instanceof Date
        ? value.getTime()
        : typeof value === "string"
        ? Date.parse(value)
        : typeof value === "number"
        ? value
        : NaN;
      if (!Number.isFinite(ms)) throw new Unconvertible();
      return ms;
    }
  }
}

/** The value Arrow's builder takes for `value` of `type`; throws {@linkcode Unconvertible}. */
export function convert(value: unknown, type: ValueType): unknown {
  if (value === null || value === undefined) return null;
  const { array, element } = elementType(type);
  if (!array) return scalar(value, element);
  if (!Array.isArray(value)) throw new Unconvertible();
  return value.map((v) => (v === null || v === undefined ? null : scalar(v, element)));
}

function shown(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  }
  if (typeof value === "bigint") return `${value}n`;
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return "an invalid Date";
  return typeof value === "object" ? "an object" : String(value);
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
    const values = columns[name]!.map((v, row) => {
      try {
        return convert(v, type);
      } catch (err) {
        if (!(err instanceof Unconvertible)) throw err;
        throw new LarderError(
          "INPUT_INVALID",
          `Column "${name}" row ${row}: expected ${type}, got ${shown(v)}`,
          { details: { column: name, row, type } },
        );
      }
    });
    return [name, vectorFromArray(values, arrowType(type) as never)];
  }));
  return tableToIPC(new Table(vectors), "stream");
}
