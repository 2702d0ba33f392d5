/**
 * The columns of a feature-log part as Arrow buffers (typed arrays, validity bitmaps, UTF-8
 * offsets), made in the calling thread without apache-arrow and transferable to a worker,
 * which turns them into Parquet (`_log_encode.ts`). Types without a flat buffer form here
 * (bool, bytes, lists) travel as their values.
 */
import type { ValueType } from "../../registry/mod.ts";

/** One column, ready for `makeData`. */
export type LogBuffer =
  | {
    readonly name: string;
    readonly type: "int32" | "float32" | "float64" | "int64" | "timestamp";
    readonly length: number;
    readonly nullCount: number;
    readonly valid: Uint8Array;
    readonly data: Int32Array | Float32Array | Float64Array | BigInt64Array;
  }
  | {
    readonly name: string;
    readonly type: "string";
    readonly length: number;
    readonly nullCount: number;
    readonly valid: Uint8Array;
    readonly offsets: Int32Array;
    readonly data: Uint8Array;
  }
  | { readonly name: string; readonly type: ValueType; readonly values: readonly unknown[] };

const encoder = new TextEncoder();
const TWO_32 = 2 ** 32;

function bitmap(length: number): Uint8Array {
  return new Uint8Array((length + 7) >> 3);
}

function utf8(name: string, values: readonly unknown[]): LogBuffer {
  const offsets = new Int32Array(values.length + 1);
  const valid = bitmap(values.length);
  let nullCount = 0;
  let bytes = new Uint8Array(Math.max(64, values.length * 16));
  let end = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      nullCount++;
      offsets[i + 1] = end;
      continue;
    }
    const text = String(v);
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (end + text.length * 3 > bytes.length) {
      const grown = new Uint8Array(Math.max(bytes.length * 2, end + text.length * 3));
      grown.set(bytes.subarray(0, end));
      bytes = grown;
    }
    end += encoder.encodeInto(text, bytes.subarray(end)).written;
    offsets[i + 1] = end;
    valid[i >> 3]! |= 1 << (i & 7);
  }
  return {
    name,
    type: "string",
    length: values.length,
    nullCount,
    valid,
    offsets,
    data: bytes.slice(0, end),
  };
}

/** The buffers to transfer (not copy) to a worker. */
export function transferables(buffers: readonly LogBuffer[]): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const b of buffers) {
    if (!("valid" in b)) continue;
    out.add(b.valid.buffer as ArrayBuffer);
    out.add(b.data.buffer as ArrayBuffer);
    if ("offsets" in b) out.add(b.offsets.buffer as ArrayBuffer);
  }
  return [...out];
}

/**
 * Fills one column's buffers value by value, in row order, with no array of values in between
 * for numbers and times (`timestamp` values are epoch microseconds).
 */
export class ColumnWriter {
  readonly #name: string;
  readonly #type: ValueType;
  readonly #length: number;
  readonly #valid: Uint8Array;
  readonly #data: Int32Array | Float32Array | Float64Array | BigInt64Array | undefined;
  readonly #halves: Int32Array | undefined;
  readonly #values: unknown[] | undefined;
  #row = 0;
  #nulls = 0;

  /** A writer of `length` values of `type`. */
  constructor(name: string, type: ValueType, length: number) {
    this.#name = name;
    this.#type = type;
    this.#length = length;
    this.#valid = bitmap(length);
    switch (type) {
      case "int32":
        this.#data = new Int32Array(length);
        break;
      case "float32":
        this.#data = new Float32Array(length);
        break;
      case "float64":
        this.#data = new Float64Array(length);
        break;
      case "int64":
      case "timestamp": {
        const data = new BigInt64Array(length);
        this.#data = data;
        this.#halves = new Int32Array(data.buffer);
        break;
      }
      default:
        this.#values = new Array<unknown>(length);
    }
  }

  /** Sets the next row's value (`null` or `undefined`: none). */
  push(value: unknown): void {
    const i = this.#row++;
    if (this.#values) {
      this.#values[i] = value ?? null;
      return;
    }
    if (value === null || value === undefined) {
      this.#nulls++;
      return;
    }
    if (this.#halves) {
      if (typeof value === "bigint") (this.#data as BigInt64Array)[i] = value;
      else {
        const n = Math.trunc(value as number);
        const hi = Math.floor(n / TWO_32);
        this.#halves[2 * i] = n - hi * TWO_32;
        this.#halves[2 * i + 1] = hi;
      }
    } else (this.#data as Int32Array | Float32Array | Float64Array)[i] = Number(value);
    this.#valid[i >> 3]! |= 1 << (i & 7);
  }

  /** The column's buffers. */
  finish(): LogBuffer {
    const name = this.#name;
    if (this.#values) {
      return this.#type === "string"
        ? utf8(name, this.#values)
        : { name, type: this.#type, values: this.#values };
    }
    return {
      name,
      type: this.#type as "int32" | "float32" | "float64" | "int64" | "timestamp",
      length: this.#length,
      nullCount: this.#nulls,
      valid: this.#valid,
      data: this.#data!,
    };
  }
}
