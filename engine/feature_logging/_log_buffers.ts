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

/** Writes whole numbers into a 64-bit buffer through its 32-bit halves (no BigInt per value). */
function int64s(
  values: readonly unknown[],
  valid: Uint8Array,
): { data: BigInt64Array; nulls: number } {
  const data = new BigInt64Array(values.length);
  const halves = new Int32Array(data.buffer);
  let nulls = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      nulls++;
      continue;
    }
    if (typeof v === "bigint") data[i] = v;
    else {
      const n = Math.trunc(v as number);
      const hi = Math.floor(n / TWO_32);
      halves[2 * i] = n - hi * TWO_32;
      halves[2 * i + 1] = hi;
    }
    valid[i >> 3]! |= 1 << (i & 7);
  }
  return { data, nulls };
}

function numbers<T extends Int32Array | Float32Array | Float64Array>(
  values: readonly unknown[],
  data: T,
  valid: Uint8Array,
): number {
  let nulls = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      nulls++;
      continue;
    }
    data[i] = Number(v);
    valid[i >> 3]! |= 1 << (i & 7);
  }
  return nulls;
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

/**
 * A column's buffers. Values are as online reads decode them (numbers, bigints, strings…);
 * `timestamp` columns hold epoch microseconds.
 */
export function logBuffer(name: string, type: ValueType, values: readonly unknown[]): LogBuffer {
  const length = values.length;
  const valid = bitmap(length);
  switch (type) {
    case "int32": {
      const data = new Int32Array(length);
      return { name, type, length, nullCount: numbers(values, data, valid), valid, data };
    }
    case "float32": {
      const data = new Float32Array(length);
      return { name, type, length, nullCount: numbers(values, data, valid), valid, data };
    }
    case "float64": {
      const data = new Float64Array(length);
      return { name, type, length, nullCount: numbers(values, data, valid), valid, data };
    }
    case "int64":
    case "timestamp": {
      const { data, nulls } = int64s(values, valid);
      return { name, type, length, nullCount: nulls, valid, data };
    }
    case "string":
      return utf8(name, values);
    default:
      return { name, type, values };
  }
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
