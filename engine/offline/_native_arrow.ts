/**
 * Native DuckDB result chunks to Arrow record batches (the project's `apache-arrow`), with the
 * column types DuckDB-WASM's Arrow export gives, so both engines hand out the same batches.
 * Fixed-width columns are copied straight from DuckDB's vectors; strings and lists are walked
 * in their raw layout; rarer types (INTERVAL, UUID, STRUCT, MAP, …) go through
 * `@duckdb/node-api`'s values, as text.
 */
import bindings from "@duckdb/node-bindings";
import {
  type DuckDBDataChunk,
  type DuckDBType,
  DuckDBTypeId,
  DuckDBVector,
} from "@duckdb/node-api";
import {
  Binary,
  Bool,
  type Data,
  type DataType,
  DateDay,
  Field,
  Float32,
  Float64,
  Int16,
  Int32,
  Int64,
  Int8,
  List,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Time,
  Timestamp,
  TimeUnit,
  Uint16,
  Uint32,
  Uint64,
  Uint8,
  Utf8,
} from "apache-arrow";

type Raw = ReturnType<typeof bindings.data_chunk_get_vector>;

/** Arrow type of a DuckDB type, as DuckDB's own Arrow export has it (text for the rare ones). */
export function arrowType(type: DuckDBType): DataType {
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return new Bool();
    case DuckDBTypeId.TINYINT:
      return new Int8();
    case DuckDBTypeId.SMALLINT:
      return new Int16();
    case DuckDBTypeId.INTEGER:
      return new Int32();
    case DuckDBTypeId.BIGINT:
      return new Int64();
    case DuckDBTypeId.UTINYINT:
      return new Uint8();
    case DuckDBTypeId.USMALLINT:
      return new Uint16();
    case DuckDBTypeId.UINTEGER:
      return new Uint32();
    case DuckDBTypeId.UBIGINT:
      return new Uint64();
    case DuckDBTypeId.FLOAT:
      return new Float32();
    case DuckDBTypeId.DOUBLE:
    case DuckDBTypeId.DECIMAL:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
      return new Float64();
    case DuckDBTypeId.TIMESTAMP:
      return new Timestamp(TimeUnit.MICROSECOND);
    case DuckDBTypeId.TIMESTAMP_TZ:
      return new Timestamp(TimeUnit.MICROSECOND, "UTC");
    case DuckDBTypeId.TIMESTAMP_S:
      return new Timestamp(TimeUnit.SECOND);
    case DuckDBTypeId.TIMESTAMP_MS:
      return new Timestamp(TimeUnit.MILLISECOND);
    case DuckDBTypeId.TIMESTAMP_NS:
      return new Timestamp(TimeUnit.NANOSECOND);
    case DuckDBTypeId.DATE:
      return new DateDay();
    case DuckDBTypeId.TIME:
      return new Time(TimeUnit.MICROSECOND, 64);
    case DuckDBTypeId.BLOB:
      return new Binary();
    case DuckDBTypeId.LIST:
      return new List(new Field("l", arrowType(type.valueType), true));
    default:
      return new Utf8();
  }
}

/** Bytes per value of the fixed-width types copied as they are, and their array type. */
const FIXED: Partial<
  Record<DuckDBTypeId, [number, new (buffer: ArrayBuffer) => ArrayBufferView]>
> = {
  [DuckDBTypeId.TINYINT]: [1, Int8Array],
  [DuckDBTypeId.SMALLINT]: [2, Int16Array],
  [DuckDBTypeId.INTEGER]: [4, Int32Array],
  [DuckDBTypeId.BIGINT]: [8, BigInt64Array],
  [DuckDBTypeId.UTINYINT]: [1, Uint8Array],
  [DuckDBTypeId.USMALLINT]: [2, Uint16Array],
  [DuckDBTypeId.UINTEGER]: [4, Uint32Array],
  [DuckDBTypeId.UBIGINT]: [8, BigUint64Array],
  [DuckDBTypeId.FLOAT]: [4, Float32Array],
  [DuckDBTypeId.DOUBLE]: [8, Float64Array],
  [DuckDBTypeId.TIMESTAMP]: [8, BigInt64Array],
  [DuckDBTypeId.TIMESTAMP_TZ]: [8, BigInt64Array],
  [DuckDBTypeId.TIMESTAMP_S]: [8, BigInt64Array],
  [DuckDBTypeId.TIMESTAMP_MS]: [8, BigInt64Array],
  [DuckDBTypeId.TIMESTAMP_NS]: [8, BigInt64Array],
  [DuckDBTypeId.TIME]: [8, BigInt64Array],
  [DuckDBTypeId.DATE]: [4, Int32Array],
};

/** A growable byte buffer. */
class Bytes {
  buffer = new Uint8Array(1024);
  length = 0;

  reserve(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
  }

  push(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  take(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

/** Validity bits of one column of a batch (Arrow's layout: LSB first, 1 = valid). */
class Validity {
  readonly bits = new Bytes();
  length = 0;
  nulls = 0;

  /** Appends `count` values from position `start` of DuckDB validity mask `mask` (null: all valid). */
  append(mask: Uint8Array | null, start: number, count: number): void {
    this.bits.reserve(((this.length + count + 7) >> 3) - this.bits.length + 1);
    const out = this.bits.buffer;
    for (let i = 0; i < count; i++) {
      const at = start + i;
      const valid = mask === null || ((mask[at >> 3]! >> (at & 7)) & 1) === 1;
      const pos = this.length + i;
      if (valid) out[pos >> 3]! |= 1 << (pos & 7);
      else this.nulls++;
    }
    this.length += count;
    this.bits.length = (this.length + 7) >> 3;
  }

  take(): Uint8Array | undefined {
    return this.nulls === 0 ? undefined : this.bits.take();
  }
}

/**
 * One DuckDB vector of `size` rows, its buffers fetched once: each fetch copies the buffer out
 * of DuckDB, so a list's child vector must not be fetched again for each list.
 */
class VectorSource {
  readonly vector: Raw;
  readonly size: number;
  #data: Uint8Array | undefined;
  #validity: Uint8Array | null | undefined;
  #child: VectorSource | undefined;

  constructor(vector: Raw, size: number) {
    this.vector = vector;
    this.size = size;
  }

  /** The data buffer, `width` bytes per row. */
  data(width: number): Uint8Array {
    this.#data ??= this.size === 0
      ? new Uint8Array(0)
      : bindings.vector_get_data(this.vector, this.size * width);
    return this.#data;
  }

  /** The validity mask (`null`: every row valid). */
  validity(): Uint8Array | null {
    if (this.#validity === undefined) {
      this.#validity = this.size === 0
        ? null
        : bindings.vector_get_validity(this.vector, Math.ceil(this.size / 64) * 8) ?? null;
    }
    return this.#validity;
  }

  /** A list vector's child (every list's items, one after the other). */
  child(): VectorSource {
    this.#child ??= new VectorSource(
      bindings.list_vector_get_child(this.vector),
      bindings.list_vector_get_size(this.vector),
    );
    return this.#child;
  }
}

/** Accumulates one column's values over several chunks (or a child vector's ranges). */
interface ColumnBuilder {
  /** Appends rows `[start, start + count)` of `source`. */
  append(source: VectorSource, start: number, count: number): void;
  finish(): Data;
}

class FixedBuilder implements ColumnBuilder {
  readonly #type: DataType;
  readonly #width: number;
  readonly #array: new (buffer: ArrayBuffer) => ArrayBufferView;
  readonly #values = new Bytes();
  readonly #validity = new Validity();

  constructor(
    type: DataType,
    [width, array]: [number, new (buffer: ArrayBuffer) => ArrayBufferView],
  ) {
    this.#type = type;
    this.#width = width;
    this.#array = array;
  }

  append(source: VectorSource, start: number, count: number): void {
    if (count === 0) return;
    const data = source.data(this.#width);
    this.#values.push(data.subarray(start * this.#width, (start + count) * this.#width));
    this.#validity.append(source.validity(), start, count);
  }

  finish(): Data {
    const bytes = this.#values.take();
    return makeData({
      type: this.#type as Int32,
      length: this.#validity.length,
      nullCount: this.#validity.nulls,
      nullBitmap: this.#validity.take(),
      data: new this.#array(bytes.buffer as ArrayBuffer) as Int32Array,
    });
  }
}

class BoolBuilder implements ColumnBuilder {
  readonly #values = new Validity();
  readonly #validity = new Validity();

  append(source: VectorSource, start: number, count: number): void {
    if (count === 0) return;
    const data = source.data(1);
    // DuckDB stores one byte per boolean; Arrow one bit: reuse the bit packer.
    const packed = new Uint8Array((count + 7) >> 3);
    for (let i = 0; i < count; i++) if (data[start + i]) packed[i >> 3]! |= 1 << (i & 7);
    this.#values.append(packed, 0, count);
    this.#validity.append(source.validity(), start, count);
  }

  finish(): Data {
    return makeData({
      type: new Bool(),
      length: this.#validity.length,
      nullCount: this.#validity.nulls,
      nullBitmap: this.#validity.take(),
      data: this.#values.bits.take(),
    });
  }
}

/** VARCHAR and BLOB: DuckDB's 16-byte string entries (inlined up to 12 bytes, else a pointer). */
class StringBuilder implements ColumnBuilder {
  readonly #type: Utf8 | Binary;
  readonly #bytes = new Bytes();
  #offsets = new Int32Array(1025);
  readonly #validity = new Validity();

  constructor(type: Utf8 | Binary) {
    this.#type = type;
  }

  append(source: VectorSource, start: number, count: number): void {
    if (count === 0) return;
    const data = source.data(16);
    const buffer = data.buffer as ArrayBuffer;
    const view = new DataView(buffer, data.byteOffset, data.byteLength);
    const mask = source.validity();
    const base = this.#validity.length;
    if (this.#offsets.length < base + count + 1) {
      const next = new Int32Array(Math.max(this.#offsets.length * 2, base + count + 1));
      next.set(this.#offsets);
      this.#offsets = next;
    }
    for (let i = 0; i < count; i++) {
      const at = start + i;
      const valid = mask === null || ((mask[at >> 3]! >> (at & 7)) & 1) === 1;
      if (valid) {
        const offset = at * 16;
        const length = view.getUint32(offset, true);
        if (length <= 12) {
          this.#bytes.push(data.subarray(offset + 4, offset + 4 + length));
        } else {
          this.#bytes.push(
            bindings.get_data_from_pointer(
              data.buffer as ArrayBuffer,
              data.byteOffset + offset + 8,
              length,
            ),
          );
        }
      }
      this.#offsets[base + i + 1] = this.#bytes.length;
    }
    this.#validity.append(mask, start, count);
  }

  finish(): Data {
    const length = this.#validity.length;
    return makeData({
      type: this.#type as Utf8,
      length,
      nullCount: this.#validity.nulls,
      nullBitmap: this.#validity.take(),
      valueOffsets: this.#offsets.slice(0, length + 1),
      data: this.#bytes.take(),
    });
  }
}

class ListBuilder implements ColumnBuilder {
  readonly #type: List;
  readonly #child: ColumnBuilder;
  #offsets = new Int32Array(1025);
  #childLength = 0;
  readonly #validity = new Validity();

  constructor(type: List, child: ColumnBuilder) {
    this.#type = type;
    this.#child = child;
  }

  append(source: VectorSource, start: number, count: number): void {
    if (count === 0) return;
    const entries = source.data(16);
    const view = new DataView(entries.buffer, entries.byteOffset, entries.byteLength);
    const mask = source.validity();
    const child = source.child();
    const base = this.#validity.length;
    if (this.#offsets.length < base + count + 1) {
      const next = new Int32Array(Math.max(this.#offsets.length * 2, base + count + 1));
      next.set(this.#offsets);
      this.#offsets = next;
    }
    // Consecutive lists whose items follow each other in the child are copied as one range.
    let runStart = -1;
    let runEnd = -1;
    const flush = () => {
      if (runEnd > runStart) this.#child.append(child, runStart, runEnd - runStart);
      runStart = runEnd = -1;
    };
    for (let i = 0; i < count; i++) {
      const at = start + i;
      const valid = mask === null || ((mask[at >> 3]! >> (at & 7)) & 1) === 1;
      if (valid) {
        const offset = Number(view.getBigUint64(at * 16, true));
        const length = Number(view.getBigUint64(at * 16 + 8, true));
        if (offset !== runEnd) {
          flush();
          runStart = runEnd = offset;
        }
        runEnd += length;
        this.#childLength += length;
      }
      this.#offsets[base + i + 1] = this.#childLength;
    }
    flush();
    this.#validity.append(mask, start, count);
  }

  finish(): Data {
    const length = this.#validity.length;
    return makeData({
      type: this.#type,
      length,
      nullCount: this.#validity.nulls,
      nullBitmap: this.#validity.take(),
      valueOffsets: this.#offsets.slice(0, length + 1),
      child: this.#child.finish(),
    });
  }
}

/** Any other type, through `@duckdb/node-api`'s values: numbers for DECIMAL and HUGEINT, else text. */
class ValueBuilder implements ColumnBuilder {
  readonly #duckdb: DuckDBType;
  readonly #numeric: boolean;
  readonly #values: (string | number | null)[] = [];

  constructor(type: DuckDBType) {
    this.#duckdb = type;
    this.#numeric = [DuckDBTypeId.DECIMAL, DuckDBTypeId.HUGEINT, DuckDBTypeId.UHUGEINT].includes(
      type.typeId,
    );
  }

  append(source: VectorSource, start: number, count: number): void {
    if (count === 0) return;
    const values = DuckDBVector.create(source.vector, source.size, this.#duckdb);
    for (let i = start; i < start + count; i++) {
      const value = values.getItem(i);
      this.#values.push(
        value === null ? null : this.#numeric ? Number(String(value)) : String(value),
      );
    }
  }

  finish(): Data {
    const length = this.#values.length;
    const validity = new Validity();
    const mask = new Uint8Array((length + 7) >> 3);
    this.#values.forEach((v, i) => {
      if (v !== null) mask[i >> 3]! |= 1 << (i & 7);
    });
    validity.append(mask, 0, length);
    if (this.#numeric) {
      return makeData({
        type: new Float64(),
        length,
        nullCount: validity.nulls,
        nullBitmap: validity.take(),
        data: Float64Array.from(this.#values, (v) => (v === null ? 0 : Number(v))),
      });
    }
    const encoder = new TextEncoder();
    const bytes = new Bytes();
    const offsets = new Int32Array(length + 1);
    this.#values.forEach((v, i) => {
      if (v !== null) bytes.push(encoder.encode(String(v)));
      offsets[i + 1] = bytes.length;
    });
    return makeData({
      type: new Utf8(),
      length,
      nullCount: validity.nulls,
      nullBitmap: validity.take(),
      valueOffsets: offsets,
      data: bytes.take(),
    });
  }
}

function builderFor(type: DuckDBType): ColumnBuilder {
  const arrow = arrowType(type);
  const fixed = FIXED[type.typeId];
  if (fixed) return new FixedBuilder(arrow, fixed);
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return new BoolBuilder();
    case DuckDBTypeId.VARCHAR:
      return new StringBuilder(new Utf8());
    case DuckDBTypeId.BLOB:
      return new StringBuilder(new Binary());
    case DuckDBTypeId.LIST:
      return new ListBuilder(arrow as List, builderFor(type.valueType));
    default:
      return new ValueBuilder(type);
  }
}

/**
 * Turns result chunks into record batches: `add` chunks, then `flush` the rows added so far as
 * one batch.
 */
export class BatchBuilder {
  readonly schema: Schema;
  readonly #types: readonly DuckDBType[];
  #builders: ColumnBuilder[];
  rows = 0;

  constructor(names: readonly string[], types: readonly DuckDBType[]) {
    this.#types = types;
    this.schema = new Schema(names.map((name, i) => new Field(name, arrowType(types[i]!), true)));
    this.#builders = types.map(builderFor);
  }

  add(chunk: DuckDBDataChunk): void {
    const size = chunk.rowCount;
    if (size === 0) return;
    this.#builders.forEach((builder, i) => {
      builder.append(
        new VectorSource(bindings.data_chunk_get_vector(chunk.chunk, i), size),
        0,
        size,
      );
    });
    this.rows += size;
  }

  flush(): RecordBatch {
    const children = this.#builders.map((b) => b.finish());
    const data = makeData({
      type: new Struct(this.schema.fields),
      length: this.rows,
      nullCount: 0,
      children,
    });
    this.#builders = this.#types.map(builderFor);
    this.rows = 0;
    return new RecordBatch(this.schema, data);
  }
}
