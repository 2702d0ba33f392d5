/** Generated data for bench/pit.ts: Parquet files of entity rows and feature rows, cached. */
import { join } from "node:path";
import { tableFromIPC } from "apache-arrow";
import { DuckDB, writeParquetFile } from "../engine/offline/mod.ts";
import { str } from "../engine/offline/_sql.ts";

/** One benchmark size. */
export interface BenchSize {
  readonly name: "small" | "large" | "large1" | "huge";
  /** Folder under bench/.data/ (sizes may share data). */
  readonly data: "small" | "large" | "huge";
  readonly entityRows: number;
  readonly views: number;
  readonly rowsPerView: number;
  readonly keys: number;
  /**
   * DuckDB-WASM memory_limit for (b), Feast's template: its best chance (3.5 GB is about the
   * 32-bit WASM ceiling). (a) Larder runs with the default `offline_store.memory_limit`.
   */
  readonly memoryLimit: string;
}

export const SIZES: Record<BenchSize["name"], BenchSize> = {
  small: {
    name: "small",
    data: "small",
    entityRows: 100_000,
    views: 1,
    rowsPerView: 1_000_000,
    keys: 10_000,
    memoryLimit: "3GB",
  },
  large: {
    name: "large",
    data: "large",
    entityRows: 1_000_000,
    views: 3,
    rowsPerView: 10_000_000,
    keys: 100_000,
    memoryLimit: "3.5GB",
  },
  /** The large data with one view: where Feast's template still fits in WASM memory. */
  large1: {
    name: "large1",
    data: "large",
    entityRows: 1_000_000,
    views: 1,
    rowsPerView: 10_000_000,
    keys: 100_000,
    memoryLimit: "3.5GB",
  },
  /** 100M source rows: more than the WASM heap holds, whatever the memory limit. */
  huge: {
    name: "huge",
    data: "huge",
    entityRows: 1_000_000,
    views: 1,
    rowsPerView: 100_000_000,
    keys: 1_000_000,
    memoryLimit: "3.5GB",
  },
};

const DAY_US = 86_400_000_000n;
/** 2024-01-01T00:00:00Z in microseconds. */
export const T0_US = 1_704_067_200_000_000n;
/** Feature rows span 30 days; entity rows the last 28. */
export const SPAN_US = 30n * DAY_US;
export const TTL_SECONDS = 2 * 86_400;
const CHUNK = 1_000_000;
/** Rows per file of the huge size, written by native DuckDB. */
const HUGE_CHUNK = 10_000_000;

/** Where a size's files live: `entities.parquet` and `view_<i>/part-<n>.parquet`. */
export function dataDir(size: BenchSize): string {
  return join(import.meta.dirname!, ".data", size.data);
}

function featureSql(view: number, from: number, to: number, keys: number): string {
  const h = (mult: number) => `hash(i * ${mult} + ${view * 1_000_003})`;
  return `SELECT (${h(3)} % ${keys})::BIGINT AS driver_id,
    make_timestamp((${T0_US} + ${h(7)} % ${SPAN_US})::BIGINT) AS event_timestamp,
    make_timestamp((${T0_US} + ${h(7)} % ${SPAN_US} + ${h(11)} % 3600000000)::BIGINT) AS created,
    ((${h(13)} % 10000) / 10000.0)::FLOAT AS f1,
    ((${h(17)} % 1000000) / 1000.0)::DOUBLE AS f2,
    (${h(19)} % 1000)::BIGINT AS f3
    FROM range(${from}, ${to}) t(i)`;
}

function entitySql(from: number, to: number, keys: number): string {
  // 10% of the keys never occur in the feature data.
  return `SELECT (hash(i * 23) % ${Math.round(keys * 1.1)})::BIGINT AS driver_id,
    make_timestamp((${T0_US + 2n * DAY_US} + hash(i * 29) % ${
    SPAN_US - 2n * DAY_US
  })::BIGINT) AS event_timestamp
    FROM range(${from}, ${to}) t(i)`;
}

/**
 * The same rows written by native DuckDB's own Parquet writer (every core, straight to disk):
 * parquet-wasm through DuckDB-WASM would take many minutes for 100M rows.
 */
async function writeNatively(size: BenchSize, dir: string): Promise<void> {
  const db = await DuckDB.open({ engine: "native", memoryLimit: "4GB" });
  try {
    console.log(`generating ${size.name} data in ${dir} with native DuckDB …`);
    await db.withSession(async (session) => {
      const copy = (sql: string, path: string) =>
        session.exec(`COPY (${sql}) TO ${str(path)} (FORMAT parquet, COMPRESSION snappy)`);
      await copy(entitySql(0, size.entityRows, size.keys), join(dir, "entities.parquet"));
      for (let v = 0; v < size.views; v++) {
        const viewDir = join(dir, `view_${v}`);
        await Deno.mkdir(viewDir, { recursive: true });
        for (let from = 0, part = 0; from < size.rowsPerView; from += HUGE_CHUNK, part++) {
          const to = Math.min(size.rowsPerView, from + HUGE_CHUNK);
          await copy(
            featureSql(v, from, to, size.keys),
            join(viewDir, `part-${String(part).padStart(3, "0")}.parquet`),
          );
        }
      }
    });
  } finally {
    await db.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Writes the size's files unless they are already there. */
export async function ensureData(size: BenchSize): Promise<string> {
  if (size.data !== size.name) return await ensureData(SIZES[size.data]);
  const dir = dataDir(size);
  const done = join(dir, "COMPLETE");
  if (await exists(done)) return dir;
  await Deno.mkdir(dir, { recursive: true });
  if (size.name === "huge") {
    await writeNatively(size, dir);
    await Deno.writeTextFile(done, new Date().toISOString());
    return dir;
  }
  const db = await DuckDB.open({ memoryLimit: "2GB" });
  try {
    const session = await db.connect();
    const write = async (path: string, sql: string) => {
      const table = tableFromIPC(await session.queryIPC(sql));
      await writeParquetFile(path, table);
    };
    console.log(`generating ${size.name} data in ${dir} …`);
    await write(join(dir, "entities.parquet"), entitySql(0, size.entityRows, size.keys));
    for (let v = 0; v < size.views; v++) {
      const viewDir = join(dir, `view_${v}`);
      await Deno.mkdir(viewDir, { recursive: true });
      for (let from = 0, part = 0; from < size.rowsPerView; from += CHUNK, part++) {
        const to = Math.min(size.rowsPerView, from + CHUNK);
        await write(
          join(viewDir, `part-${String(part).padStart(3, "0")}.parquet`),
          featureSql(v, from, to, size.keys),
        );
      }
    }
    await session.close();
  } finally {
    await db.close();
  }
  await Deno.writeTextFile(done, new Date().toISOString());
  return dir;
}
