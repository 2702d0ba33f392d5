/**
 * Parquet files in object storage, read by explicit byte ranges: the footer first (one HEAD,
 * then the last 64 KiB, more only for a larger footer), then only the column chunks of the row
 * groups a query needs. Row groups whose min/max statistics (event time, integer join keys)
 * lie outside the query's bounds are never fetched.
 *
 * `npm:hyparquet` parses the footer (the statistics with their logical types, and where each
 * column chunk lies); `parquet-wasm` decodes the column chunks through {@linkcode RangeBlob}, a
 * `Blob` look-alike. The chunks of a row group are fetched here, in TypeScript, before
 * parquet-wasm reads them from memory: a failed or timed-out fetch is then a clear error, not
 * a panic inside WebAssembly. Only explicit ranges are sent: some S3-compatible servers answer
 * suffix ranges (`bytes=-8`) wrongly.
 */
import { parquetMetadata } from "hyparquet";
import { defaultObjectStore, type ObjectStore, redactUrl } from "../object_store/mod.ts";
import { isLarderError, LarderError } from "../../registry/mod.ts";

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
  /** Where each column chunk lies: `[start, end)` by top-level column name (leaves merged). */
  readonly chunks?: ReadonlyMap<string, readonly [number, number]>;
  /** Where the row group's page indexes lie, when it has them. */
  readonly pageIndex?: readonly [number, number] | undefined;
}

const footers = new Map<string, RemoteParquet & { checkedAt: number }>();

/**
 * How long a footer is used without asking again whether the object changed (one retrieval
 * asks for a file's footer several times). Reads of its data send `If-Match` with its ETag.
 */
const FRESH_MS = 10_000;

/** The footer of a remote Parquet file (cached while its ETag stays the same). */
export async function remoteParquet(
  url: string,
  store: ObjectStore = defaultObjectStore(),
): Promise<RemoteParquet> {
  const recent = footers.get(url);
  if (recent && performance.now() - recent.checkedAt < FRESH_MS) return recent;
  const info = await store.head(url);
  if (info === null) {
    const shown = redactUrl(url);
    throw new LarderError("NOT_FOUND", `Cannot find "${shown}" in object storage: no such object`, {
      details: { url: shown },
    });
  }
  const cached = footers.get(url);
  if (cached && cached.etag === info.etag && cached.size === info.size) {
    cached.checkedAt = performance.now();
    return cached;
  }
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
  const remote = {
    url,
    size,
    etag: info.etag,
    footer,
    rowGroups: rowGroupStats(footer.slice(0, footerLength)),
    checkedAt: performance.now(),
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
    const chunks = new Map<string, [number, number]>();
    let pageIndex: [number, number] | undefined;
    const widen = (range: [number, number] | undefined, start: number, end: number) =>
      range ? [Math.min(range[0], start), Math.max(range[1], end)] as [number, number] : [
        start,
        end,
      ] as [number, number];
    for (const chunk of group.columns) {
      const m = chunk.meta_data;
      if (m) {
        const first = Number(m.dictionary_page_offset ?? m.data_page_offset);
        const start = Math.min(first, Number(m.data_page_offset));
        const name = m.path_in_schema[0]!;
        chunks.set(name, widen(chunks.get(name), start, start + Number(m.total_compressed_size)));
      }
      for (
        const [offset, length] of [
          [chunk.column_index_offset, chunk.column_index_length],
          [chunk.offset_index_offset, chunk.offset_index_length],
        ] as const
      ) {
        if (offset !== undefined && length !== undefined) {
          pageIndex = widen(pageIndex, Number(offset), Number(offset) + Number(length));
        }
      }
      const meta = chunk.meta_data;
      const stats = meta?.statistics;
      if (!meta || meta.path_in_schema.length !== 1 || !stats) continue;
      const min = stats.min_value ?? stats.min;
      const max = stats.max_value ?? stats.max;
      if (min === undefined || max === undefined || min === null || max === null) continue;
      columns.set(meta.path_in_schema[0]!, { min, max });
    }
    return { rows: Number(group.num_rows), columns, chunks, pageIndex };
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

/** Bytes of a remote file from `start`. */
export interface FetchedSegment {
  readonly start: number;
  readonly bytes: Uint8Array<ArrayBuffer>;
}

/** Fetched byte ranges of one file, shared by a {@linkcode RangeBlob} and its slices. */
class Fetched {
  readonly segments: FetchedSegment[] = [];
  /** The first fetch that failed while parquet-wasm was reading (it cannot take an error). */
  failure: unknown;
}

/**
 * A `Blob` look-alike over a remote file for `parquet-wasm`'s `ParquetFile.fromFile`: it asks
 * only `size`, `slice(start, end)` and `arrayBuffer()`. Reads are served from the footer and
 * from what {@linkcode RangeBlob.prefetch} fetched; anything else is one ranged GET. A GET that
 * fails is recorded in `failure` and answered with zeros, never a rejection: parquet-wasm
 * panics on a rejected read. Callers check `failure` after each batch.
 */
export class RangeBlob {
  readonly #file: RemoteParquet;
  readonly #store: ObjectStore;
  readonly #start: number;
  readonly #end: number;
  readonly #fetched: Fetched;

  constructor(
    file: RemoteParquet,
    store: ObjectStore,
    start = 0,
    end = file.size,
    fetched: Fetched = new Fetched(),
  ) {
    this.#file = file;
    this.#store = store;
    this.#start = start;
    this.#end = end;
    this.#fetched = fetched;
  }

  get size(): number {
    return this.#end - this.#start;
  }

  /** The failed fetch, if one failed since the last {@linkcode RangeBlob.prefetch}. */
  get failure(): unknown {
    return this.#fetched.failure;
  }

  slice(start = 0, end: number = this.size): RangeBlob {
    const from = this.#start + Math.max(0, start);
    const to = this.#start + Math.min(this.size, end);
    return new RangeBlob(this.#file, this.#store, from, Math.max(from, to), this.#fetched);
  }

  /**
   * Fetches `ranges` (`[start, end)`, adjacent ones merged, concurrently) and returns them for
   * {@linkcode RangeBlob.use}. Errors reject here, in TypeScript.
   */
  async fetch(ranges: readonly (readonly [number, number])[]): Promise<FetchedSegment[]> {
    const merged: [number, number][] = [];
    for (const [start, end] of [...ranges].sort((a, b) => a[0] - b[0])) {
      const last = merged[merged.length - 1];
      if (last && start <= last[1]) last[1] = Math.max(last[1], end);
      else merged.push([start, end]);
    }
    return await Promise.all(merged.map(async ([start, end]) => {
      const { bytes } = await this.#get(start, end);
      return { start, bytes };
    }));
  }

  /** Serves the next reads from `segments`, replacing those used before. */
  use(segments: readonly FetchedSegment[]): void {
    this.#fetched.segments.length = 0;
    this.#fetched.segments.push(...segments);
    this.#fetched.failure = undefined;
  }

  /** {@linkcode RangeBlob.fetch}, then {@linkcode RangeBlob.use}. */
  async prefetch(ranges: readonly (readonly [number, number])[]): Promise<void> {
    this.use(await this.fetch(ranges));
  }

  #get(start: number, end: number) {
    return this.#store.get(this.#file.url, {
      range: { offset: start, length: end - start },
      ...(this.#file.etag ? { ifMatch: this.#file.etag } : {}),
    }).catch((err) => {
      if (!isLarderError(err) || err.code !== "CONFLICT") throw err;
      footers.delete(this.#file.url);
      throw new LarderError(
        "SOURCE_INVALID",
        `Parquet file "${
          redactUrl(this.#file.url)
        }" changed while it was read: run the command again`,
        { cause: err, details: { url: redactUrl(this.#file.url) } },
      );
    });
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const footerStart = this.#file.size - this.#file.footer.length;
    if (this.#start >= footerStart) {
      return this.#file.footer.slice(this.#start - footerStart, this.#end - footerStart).buffer;
    }
    // parquet-wasm may ask for several chunks in one read (it coalesces nearby ranges): the
    // read is assembled from the fetched segments, and only bytes none of them holds are got.
    const out = new Uint8Array(this.size);
    let at = this.#start;
    const gaps: [number, number][] = [];
    const segments = [...this.#fetched.segments].sort((a, b) => a.start - b.start);
    for (const segment of segments) {
      const segEnd = segment.start + segment.bytes.length;
      if (segEnd <= at || segment.start >= this.#end) continue;
      if (segment.start > at) gaps.push([at, segment.start]);
      const from = Math.max(at, segment.start);
      const to = Math.min(this.#end, segEnd);
      out.set(segment.bytes.subarray(from - segment.start, to - segment.start), from - this.#start);
      at = to;
      if (at >= this.#end) break;
    }
    if (at < this.#end) gaps.push([at, this.#end]);
    try {
      const parts = await Promise.all(gaps.map(([from, to]) => this.#get(from, to)));
      gaps.forEach(([from], i) => out.set(parts[i]!.bytes, from - this.#start));
    } catch (err) {
      this.#fetched.failure ??= err;
      return new ArrayBuffer(this.size);
    }
    return out.buffer;
  }
}
