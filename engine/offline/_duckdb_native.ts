/**
 * Native DuckDB (`@duckdb/node-api`) behind the same backend interface as DuckDB-WASM: the only
 * module that imports `@duckdb/node-api`, loaded by `duckdb.ts` only when `engine: native` is
 * configured. Queries run on DuckDB's own threads (the event loop stays free), on every core,
 * spilling to `temp_directory` beyond `memory_limit`.
 *
 * Arrow crosses the boundary as it does for WASM: results become the project's Arrow record
 * batches (`_native_arrow.ts`); Arrow data to insert is handed over as a Parquet file in the
 * temporary directory, which DuckDB reads with its built-in reader (the same type mapping as
 * its Arrow import, and no extension to load).
 */
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { type RecordBatch, Table, tableToIPC } from "apache-arrow";
import { join } from "node:path";
import { BatchBuilder } from "./_native_arrow.ts";
import { encodeParquet } from "./parquet.ts";
import { ident, str } from "./_sql.ts";

/** Rows per batch handed out by `stream` (DuckDB produces chunks of 2048). */
const BATCH_ROWS = 65_536;

/** Settings of a native instance. */
export interface NativeSettings {
  readonly memoryLimit: string;
  readonly threads: number;
  /** Where DuckDB spills, and where Arrow data to insert is written for a moment. */
  readonly tempDirectory: string;
  /** Remove `tempDirectory` on close (a folder made for this instance). */
  readonly removeTempDirectory: boolean;
}

/** What `duckdb.ts` needs of a backend (see its `Backend`). */
export interface NativeBackend {
  connect(): Promise<number>;
  disconnect(conn: number): Promise<void>;
  exec(conn: number, sql: string): Promise<void>;
  query(conn: number, sql: string): Promise<Table>;
  runQuery(conn: number, sql: string): Promise<Uint8Array>;
  stream(conn: number, sql: string): AsyncGenerator<RecordBatch>;
  insertIPC(conn: number, bytes: Uint8Array, name: string, create: boolean): Promise<void>;
  dropFiles(names: string[]): Promise<void>;
  terminate(): Promise<void>;
}

/** Opens an in-memory native DuckDB with extension loading off and the settings applied. */
export async function nativeBackend(settings: NativeSettings): Promise<NativeBackend> {
  const instance = await DuckDBInstance.create(":memory:", {
    // No extension is ever downloaded: Parquet, JSON and ICU are built in.
    autoload_known_extensions: "false",
    autoinstall_known_extensions: "false",
    memory_limit: settings.memoryLimit,
    threads: String(settings.threads),
    temp_directory: settings.tempDirectory,
    preserve_insertion_order: "true",
  });
  // Timestamps with a zone compare and cast as UTC instants, as in WASM (which has no ICU).
  // ICU's setting, so not an instance option.
  const setup = await instance.connect();
  try {
    await setup.run("SET GLOBAL TimeZone = 'UTC'");
  } finally {
    setup.closeSync();
  }
  const connections = new Map<number, DuckDBConnection>();
  let next = 0;
  let files = 0;
  const connection = (conn: number): DuckDBConnection => {
    const found = connections.get(conn);
    if (!found) throw new Error(`DuckDB connection ${conn} is closed`);
    return found;
  };
  const stream = async function* (conn: number, sql: string): AsyncGenerator<RecordBatch> {
    const result = await connection(conn).stream(sql);
    const builder = new BatchBuilder(result.columnNames(), result.columnTypes());
    let yielded = false;
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      builder.add(chunk);
      if (builder.rows >= BATCH_ROWS) {
        yielded = true;
        yield builder.flush();
      }
    }
    // Like WASM: the last rows, or one empty batch that carries the schema.
    if (builder.rows > 0 || !yielded) yield builder.flush();
  };
  const query = async (conn: number, sql: string): Promise<Table> => {
    const batches: RecordBatch[] = [];
    for await (const batch of stream(conn, sql)) batches.push(batch);
    return new Table(batches);
  };
  return {
    connect: async () => {
      const id = next++;
      connections.set(id, await instance.connect());
      return id;
    },
    disconnect: (conn) => {
      connections.get(conn)?.closeSync();
      connections.delete(conn);
      return Promise.resolve();
    },
    exec: async (conn, sql) => {
      await connection(conn).run(sql);
    },
    query,
    runQuery: async (conn, sql) => tableToIPC(await query(conn, sql), "stream"),
    stream,
    insertIPC: async (conn, bytes, name, create) => {
      await Deno.mkdir(settings.tempDirectory, { recursive: true });
      const file = join(settings.tempDirectory, `larder-insert-${Deno.pid}-${files++}.parquet`);
      await Deno.writeFile(file, encodeParquet(bytes));
      try {
        const read = `SELECT * FROM read_parquet(${str(file)})`;
        await connection(conn).run(
          create ? `CREATE TABLE ${ident(name)} AS ${read}` : `INSERT INTO ${ident(name)} ${read}`,
        );
      } finally {
        await Deno.remove(file).catch(() => {});
      }
    },
    // Native DuckDB reads files as they are on disk at each query: nothing to forget.
    dropFiles: () => Promise.resolve(),
    terminate: async () => {
      for (const conn of connections.values()) conn.closeSync();
      connections.clear();
      instance.closeSync();
      if (settings.removeTempDirectory) {
        await Deno.remove(settings.tempDirectory, { recursive: true }).catch(() => {});
      }
    },
  };
}
