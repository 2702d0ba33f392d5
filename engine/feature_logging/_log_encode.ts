/**
 * Turns a feature-log part's buffers (`_log_buffers.ts`) into Parquet bytes: Arrow vectors
 * over the buffers as they are, then parquet-wasm. Runs in the log's worker
 * (`_log_worker.ts`), or in the calling thread where there are no workers. Loaded on first
 * use (it brings apache-arrow and parquet-wasm).
 */
import {
  type DataType,
  Float32,
  Float64,
  Int32,
  Int64,
  makeData,
  makeVector,
  Table,
  TimestampMicrosecond,
  Utf8,
  type Vector,
  vectorFromArray,
} from "apache-arrow";
import { arrowType, convert } from "../_arrow_columns.ts";
import { encodeParquet } from "../offline/mod.ts";
import type { LogBuffer } from "./_log_buffers.ts";

const FIXED: Record<string, () => DataType> = {
  int32: () => new Int32(),
  float32: () => new Float32(),
  float64: () => new Float64(),
  int64: () => new Int64(),
  timestamp: () => new TimestampMicrosecond("UTC"),
};

function vector(buffer: LogBuffer): Vector {
  if (!("valid" in buffer)) {
    return vectorFromArray(
      buffer.values.map((v) => convert(v, buffer.type)),
      arrowType(buffer.type) as never,
    );
  }
  const common = {
    length: buffer.length,
    nullCount: buffer.nullCount,
    nullBitmap: buffer.nullCount > 0 ? buffer.valid : null,
  };
  if ("offsets" in buffer) {
    return makeVector(
      makeData({ type: new Utf8(), ...common, valueOffsets: buffer.offsets, data: buffer.data }),
    );
  }
  return makeVector(
    makeData({ type: FIXED[buffer.type]!(), ...common, data: buffer.data } as never),
  );
}

/** The Parquet bytes of a part, its columns in the order of `buffers`. */
export function encodeLogBuffers(buffers: readonly LogBuffer[]): Uint8Array {
  const vectors: Record<string, Vector> = {};
  for (const b of buffers) vectors[b.name] = vector(b);
  return encodeParquet(new Table(vectors));
}
