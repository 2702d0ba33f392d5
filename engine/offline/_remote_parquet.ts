/**
 * Parquet files in object storage, read by explicit byte ranges: the footer first (one HEAD,
 * then the last 64 KiB, more only for a larger footer), then only the column chunks of the row
 * groups a query needs. Row groups whose min/max statistics (event time, integer join keys)
 * lie outside the query's bounds are never fetched.
 *
 * `npm:hyparquet` parses the footer (it decodes the statistics with their logical types);
 * `parquet-wasm` decodes the column chunks through {@linkcode RangeBlob}, a `Blob` look-alike
 * whose `slice().arrayBuffer()` is a ranged GET. Only explicit ranges are sent: some
 * S3-compatible servers answer suffix ranges (`bytes=-8`) wrongly.
 */
import { parquetMetadata } from "hyparquet";
import { defaultObjectStore, type ObjectStore } from "../object_store/mod.ts";
import { LarderError } from "../../registry/mod.ts";

const TAIL_BYTES = 64 * 1024;
const MAGIC = "PAR1";

/** A remote Parquet file's size, ETag and footer. */
export interface RemoteParquet {
  readonly url: string;
  readonly size: number;
  readonly etag: string | undefined;
  /** The footer, its 4-byte length and the closing magic: the file's last bytes. */
  readonly footer: Uint8Array<ArrayBuffer>;
  /** Per row group: rows, and per column (top-level name) the min/max statistics when known. */
  readonly rowGroups: readonly RowGroupStats[];
}

/** What a footer says about one row group. */
export interface RowGroupStats {
  readonly rows: number;
  readonly columns: ReadonlyMap<string, { readonly min: unknown; readonly max: unknown }>;
}

const footers = new Map<string, RemoteParquet>();

/** The footer of a remote Parquet file (cached while its ETag stays the same). */
export async function remoteParquet(
  url: string,
  store: ObjectStore = defaultObjectStore(),
): Promise<RemoteParquet> {
  const info = await store.head(url);
  if (info === null) {
    throw new LarderError("NOT_FOUND", `Cannot find "${url}" in object storage: no such object`, {
      details: { url },
    });
  }
  const cached = footers.get(url);
  if (cached && cached.etag === info.etag && cached.size === info.size) return cached;
  const size = info.size;
  if (!Number.isFinite(size) || size < 12) throw new Error("file is too small to be Parquet");
  const tailLength = Math.min(size, TAIL_BYTES);
  let tail = (await store.get(url, { range: { offset: size - tailLength, length: tailLength } }))
    .bytes;
  if (new TextDecoder().decode(tail.subarray(tail.length - 4)) !== MAGIC) {
    throw new Error("not a Parquet file (no PAR1 footer)");
  }
  const footerLength = new DataView(tail.buffer, tail.byteOffset + tail.length - 8, 4)
    .getUint32(0, true);
  if (footerLength + 12 > size) throw new Error("corrupt footer length");
  if (footerLength + 8 > tail.length) {
    const length = footerLength + 8;
    tail = (await store.get(url, { range: { offset: size - length, length } })).bytes;
  }
  const footer = tail.slice(tail.length - footerLength - 8);
  const remote: RemoteParquet = {
    url,
    size,
    etag: info.etag,
    footer,
    rowGroups: rowGroupStats(footer.slice(0, footerLength)),
  };
  footers.set(url, remote);
  return remote;
}

function rowGroupStats(metadata: Uint8Array<ArrayBuffer>): RowGroupStats[] {
  // hyparquet reads the metadata from the end of the buffer: footer, length, magic.
  const buffer = new Uint8Array(metadata.length + 8);
  buffer.set(metadata);
  new DataView(buffer.buffer).setUint32(metadata.length, metadata.length, true);
  buffer.set(new TextEncoder().encode(MAGIC), metadata.length + 4);
  const parsed = parquetMetadata(buffer.buffer);
  return parsed.row_groups.map((group) => {
    const columns = new Map<string, { min: unknown; max: unknown }>();
    for (const chunk of group.columns) {
      const meta = chunk.meta_data;
      const stats = meta?.statistics;
      if (!meta || meta.path_in_schema.length !== 1 || !stats) continue;
      const min = stats.min_value ?? stats.min;
      const max = stats.max_value ?? stats.max;
      if (min === undefined || max === undefined || min === null || max === null) continue;
      columns.set(meta.path_in_schema[0]!, { min, max });
    }
    return { rows: Number(group.num_rows), columns };
  });
}

/** Bounds a load keeps rows within: event time in epoch microseconds, integer key ranges. */
export interface RowGroupBounds {
  readonly timestampColumn: string;
  readonly low?: bigint | undefined;
  readonly high?: bigint | undefined;
  readonly keys?: readonly {
    readonly column: string;
    readonly min: bigint;
    readonly max: bigint;
  }[];
}

/** Epoch microseconds of a timestamp statistic, rounded outwards; `undefined` if not a time. */
function micros(value: unknown, round: "down" | "up"): bigint | undefined {
  if (value instanceof Date) {
    const ms = BigInt(value.getTime());
    // hyparquet gives milliseconds: the statistic may be up to 999 µs later.
    return round === "down" ? ms * 1000n : ms * 1000n + 999n;
  }
  return undefined;
}

function integer(value: unknown): bigint | undefined {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  return undefined;
}

/**
 * The row groups that may hold rows within `bounds`: a row group is skipped only when its
 * statistics prove that none of its rows can be kept (no statistics: it is read).
 */
export function rowGroupsWithin(file: RemoteParquet, bounds: RowGroupBounds): number[] {
  const keep: number[] = [];
  file.rowGroups.forEach((group, i) => {
    if (group.rows === 0) return;
    const ts = group.columns.get(bounds.timestampColumn);
    if (ts) {
      const min = micros(ts.min, "down");
      const max = micros(ts.max, "up");
      if (bounds.low !== undefined && max !== undefined && max < bounds.low) return;
      if (bounds.high !== undefined && min !== undefined && min > bounds.high) return;
    }
    for (const key of bounds.keys ?? []) {
      const stats = group.columns.get(key.column);
      if (!stats) continue;
      const min = integer(stats.min);
      const max = integer(stats.max);
      if (min !== undefined && max !== undefined && (max < key.min || min > key.max)) return;
    }
    keep.push(i);
  });
  return keep;
}

/**
 * A `Blob` look-alike over a remote file for `parquet-wasm`'s `ParquetFile.fromFile`: it asks
 * only `size`, `slice(start, end)` and `arrayBuffer()`, so each read it makes becomes one
 * ranged GET (or a copy out of the footer already fetched).
 */
export class RangeBlob {
  readonly #file: RemoteParquet;
  readonly #store: ObjectStore;
  readonly #start: number;
  readonly #end: number;

  constructor(file: RemoteParquet, store: ObjectStore, start = 0, end = file.size) {
    this.#file = file;
    this.#store = store;
    this.#start = start;
    this.#end = end;
  }

  get size(): number {
    return this.#end - this.#start;
  }

  slice(start = 0, end: number = this.size): RangeBlob {
    const from = this.#start + Math.max(0, start);
    const to = this.#start + Math.min(this.size, end);
    return new RangeBlob(this.#file, this.#store, from, Math.max(from, to));
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const footerStart = this.#file.size - this.#file.footer.length;
    if (this.#start >= footerStart) {
      return this.#file.footer.slice(this.#start - footerStart, this.#end - footerStart).buffer;
    }
    const { bytes } = await this.#store.get(this.#file.url, {
      range: { offset: this.#start, length: this.size },
    });
    return bytes.buffer;
  }
}
