/** Arrow values to JavaScript values, and row objects to Arrow. */
import {
  Binary,
  Bool,
  type DataType,
  Field,
  Float64,
  Int64,
  List,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimestampMicrosecond,
  Type,
  Utf8,
  type Vector,
  vectorFromArray,
} from "apache-arrow";
import { shortestFloat32 } from "../float32.ts";
import { isoMicros } from "../timestamps.ts";
import { toBase64 } from "../online/value_codec.ts";
import { LarderError } from "../../registry/mod.ts";

/**
 * How to render values: `rows` for JavaScript objects, `json` for JSON/CSV text (timestamps as
 * ISO text, bytes as base64, int64 beyond 2^53 as decimal text, NaN/±Infinity as text).
 */
export type ValueStyle = "rows" | "json";

/** `"NaN"`, `"Infinity"` or `"-Infinity"`. */
function nonFinite(value: number): string {
  return Number.isNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity";
}

/** A converter from one column's raw Arrow values to JavaScript values. */
function converter(type: DataType, style: ValueStyle): (value: unknown) => unknown {
  switch (type.typeId) {
    case Type.Timestamp:
    case Type.Date: {
      return (v) => {
        if (v === null || v === undefined) return null;
        if (type.typeId === Type.Date) {
          const ms = Number(v);
          return style === "rows" ? new Date(ms) : new Date(ms).toISOString();
        }
        // apache-arrow 17 returns epoch milliseconds (a float) for any unit.
        const micros = BigInt(Math.round(Number(v) * 1000));
        return style === "rows" ? new Date(Number(micros / 1000n)) : isoMicros(micros);
      };
    }
    case Type.Float: {
      const single = (type as { precision?: number }).precision === 1;
      return (v) => {
        if (typeof v !== "number") return v ?? null;
        // JSON has no NaN or ±Infinity: text, as online reads answer them.
        if (style === "json" && !Number.isFinite(v)) return nonFinite(v);
        return single ? shortestFloat32(v) : v;
      };
    }
    case Type.Int: {
      // Like online reads: a number while it is exact, else a bigint (decimal text in JSON).
      return (v) => {
        if (typeof v !== "bigint") return v ?? null;
        const n = Number(v);
        if (Number.isSafeInteger(n)) return n;
        return style === "rows" ? v : v.toString();
      };
    }
    case Type.Decimal: {
      // apache-arrow gives the unscaled integer: 1.50 as DECIMAL(10, 2) is 150.
      const scale = 10 ** ((type as { scale?: number }).scale ?? 0);
      return (v) => (v === null || v === undefined ? null : Number(String(v)) / scale);
    }
    case Type.Binary:
    case Type.LargeBinary:
    case Type.FixedSizeBinary:
      return (v) => (v == null ? null : style === "rows" ? v : toBase64(v as Uint8Array));
    case Type.List:
    case Type.FixedSizeList: {
      const inner = converter((type as List).children[0]!.type, style);
      return (v) => (v == null ? null : [...(v as Iterable<unknown>)].map(inner));
    }
    case Type.Struct: {
      const fields = (type as Struct).children.map((f) =>
        [f.name, converter(f.type, style)] as const
      );
      return (v) => {
        if (v == null) return null;
        const row = v as Record<string, unknown>;
        return Object.fromEntries(fields.map(([name, conv]) => [name, conv(row[name])]));
      };
    }
    default:
      return (v) => (v === undefined ? null : v);
  }
}

/** The rows of a batch as objects. */
export function batchRows(
  batch: RecordBatch | Table,
  style: ValueStyle = "rows",
): Record<string, unknown>[] {
  const columns = batch.schema.fields.map((field, i) => ({
    name: field.name,
    vector: batch.getChildAt(i) as Vector,
    convert: converter(field.type, style),
  }));
  const rows: Record<string, unknown>[] = new Array(batch.numRows);
  // A file's column may be called "__proto__": assigning it would set the row's prototype.
  const plain = columns.every((c) => c.name !== "__proto__");
  for (let r = 0; r < batch.numRows; r++) {
    const row: Record<string, unknown> = {};
    if (plain) { for (const c of columns) row[c.name] = c.convert(c.vector.get(r)); }
    else {
      for (const c of columns) {
        Object.defineProperty(row, c.name, {
          value: c.convert(c.vector.get(r)),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    }
    rows[r] = row;
  }
  return rows;
}

/**
 * One column of a batch as plain values, converted exactly as {@linkcode batchRows} converts
 * them (so transforms see the same values whichever is used); `undefined` if there is no such
 * column.
 */
export function batchColumn(
  batch: RecordBatch | Table,
  name: string,
  style: ValueStyle = "rows",
): unknown[] | undefined {
  const index = batch.schema.fields.findIndex((f) => f.name === name);
  if (index < 0) return undefined;
  const vector = batch.getChildAt(index) as Vector;
  const convert = converter(batch.schema.fields[index]!.type, style);
  const out = new Array<unknown>(batch.numRows);
  for (let r = 0; r < batch.numRows; r++) out[r] = convert(vector.get(r));
  return out;
}

type Kind = "int" | "float" | "bigint" | "string" | "bool" | "date" | "bytes" | "list" | "null";

function kindOf(value: unknown): Kind | undefined {
  if (value === null || value === undefined) return "null";
  switch (typeof value) {
    case "number":
      return Number.isSafeInteger(value) ? "int" : "float";
    case "bigint":
      return "bigint";
    case "string":
      return "string";
    case "boolean":
      return "bool";
  }
  if (value instanceof Date) return "date";
  if (value instanceof Uint8Array) return "bytes";
  if (Array.isArray(value)) return "list";
  return undefined;
}

function arrowTypeOf(column: string, values: readonly unknown[]): DataType {
  const kinds = new Set<Kind>();
  for (const value of values) {
    const kind = kindOf(value);
    if (kind === undefined) {
      throw new LarderError(
        "INPUT_INVALID",
        `Entity rows: column "${column}" holds an unsupported value ${JSON.stringify(value)}`,
      );
    }
    if (kind !== "null") kinds.add(kind);
  }
  if (kinds.has("float") && kinds.has("int")) kinds.delete("int");
  if (kinds.has("bigint") && kinds.has("int")) kinds.delete("int");
  if (kinds.size > 1) {
    throw new LarderError(
      "INPUT_INVALID",
      `Entity rows: column "${column}" mixes value types (${[...kinds].join(", ")})`,
    );
  }
  const [kind = "null"] = kinds;
  switch (kind) {
    case "int":
    case "bigint":
      return new Int64();
    case "float":
      return new Float64();
    case "bool":
      return new Bool();
    case "date":
      return new TimestampMicrosecond();
    case "bytes":
      return new Binary();
    case "list": {
      const items = values.flatMap((v) => (Array.isArray(v) ? v : []));
      return new List(new Field("item", arrowTypeOf(column, items), true));
    }
    default:
      return new Utf8();
  }
}

function normalize(value: unknown, type: DataType): unknown {
  if (value === undefined || value === null) return null;
  if (type.typeId === Type.Int) return BigInt(value as number | bigint);
  if (type.typeId === Type.Timestamp) return (value as Date).getTime();
  if (type.typeId === Type.List) {
    const inner = (type as List).children[0]!.type;
    return (value as unknown[]).map((v) => normalize(v, inner));
  }
  return value;
}

/** An Arrow table from row objects; columns in order of first appearance. */
export function tableFromRows(rows: readonly Readonly<Record<string, unknown>>[]): Table {
  const names: string[] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    for (const key of Object.keys(row)) {
      if (!seen.has(key)) {
        seen.add(key);
        names.push(key);
      }
    }
  }
  const fields: Field[] = [];
  const children = names.map((name) => {
    const values = rows.map((row) => row[name]);
    const type = arrowTypeOf(name, values);
    values.forEach((value, i) => {
      if (value instanceof Date && Number.isNaN(value.getTime())) {
        throw new LarderError(
          "INPUT_INVALID",
          `Entity rows: row ${i} (counting from 0), column "${name}": the Date is invalid`,
          { details: { row: i, column: name } },
        );
      }
    });
    fields.push(new Field(name, type, true));
    return vectorFromArray(values.map((v) => normalize(v, type)), type).data[0]!;
  });
  const schema = new Schema(fields);
  const data = makeData({
    type: new Struct(fields),
    length: rows.length,
    nullCount: 0,
    children,
  });
  return new Table(schema, [new RecordBatch(schema, data)]);
}
