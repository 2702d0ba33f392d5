/**
 * DuckDB behind a small wrapper: DuckDB-WASM (the only module that imports
 * `@duckdb/duckdb-wasm`) or native DuckDB (`_duckdb_native.ts`, loaded only when asked for),
 * both behind one backend interface, so that every query of the offline engine runs unchanged
 * on either.
 *
 * Tabular data crosses this boundary as the project's own `apache-arrow`: WASM results come as
 * Arrow IPC bytes parsed here, so duckdb-wasm's bundled copy of Arrow never leaks out (its
 * classes fail `instanceof` against ours).
 */
import { type RecordBatch, RecordBatchReader, type Table, tableFromIPC } from "apache-arrow";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LarderError } from "../../registry/mod.ts";
import { str } from "./_sql.ts";

/** Which DuckDB runs the queries. */
export type DuckDBEngine =
  /** DuckDB-WASM: portable (any Deno, no native code), one thread, a heap of at most ~4 GB. */
  | "wasm"
  /** Native DuckDB (`@duckdb/node-api`): every core, spills to disk, no heap ceiling. */
  | "native";

/** How DuckDB-WASM runs. */
export type DuckDBMode =
  /** In the calling thread (Node blocking bundle): simplest; blocks the event loop while a query runs. */
  | "blocking"
  /** In a Web Worker (Node async bundle): the event loop stays free; for servers. */
  | "worker";

/** Options for {@linkcode DuckDB.open}. */
export interface DuckDBOptions {
  /**
   * Which DuckDB (`offline_store.engine` in `larder.yaml`).
   * @default {"wasm"}
   */
  readonly engine?: DuckDBEngine;
  /**
   * Where WASM queries run (native queries always run on DuckDB's own threads).
   * @default {"blocking"}
   */
  readonly mode?: DuckDBMode;
  /**
   * DuckDB's `memory_limit`, e.g. `"2GB"` (`offline_store.memory_limit` in `larder.yaml`).
   * WASM cannot spill to disk: a query over the limit fails. Native spills to
   * `tempDirectory`.
   * @default {"2GB"}
   */
  readonly memoryLimit?: string;
  /**
   * Native only: threads DuckDB runs a query on.
   * @default every core (`navigator.hardwareConcurrency`)
   */
  readonly threads?: number;
  /**
   * Native only: where DuckDB spills what does not fit under `memoryLimit`.
   * @default a folder of its own under the system's temporary directory, removed on close
   */
  readonly tempDirectory?: string;
}

/** The operations every backend offers, all asynchronous. */
interface Backend {
  connect(): Promise<number>;
  disconnect(conn: number): Promise<void>;
  /** Runs statements, discarding their result. */
  exec(conn: number, sql: string): Promise<void>;
  /** A result as Arrow IPC stream bytes. */
  runQuery(conn: number, sql: string): Promise<Uint8Array>;
  query(conn: number, sql: string): Promise<Table>;
  /** A result batch by batch; at least one batch (empty when there are no rows). */
  stream(conn: number, sql: string): AsyncGenerator<RecordBatch>;
  insertIPC(conn: number, bytes: Uint8Array, name: string, create: boolean): Promise<void>;
  /** Forgets what DuckDB-WASM's file system holds of these files (open handles, contents). */
  dropFiles(names: string[]): Promise<void>;
  terminate(): Promise<void>;
}

/** The pending-query protocol of both WASM bundles. */
interface WasmQueries {
  runQuery(conn: number, sql: string): Promise<Uint8Array>;
  startPendingQuery(conn: number, sql: string): Promise<Uint8Array | null>;
  pollPendingQuery(conn: number): Promise<Uint8Array | null>;
  /** `null`: not ready yet; empty: end of stream. */
  fetchQueryResults(conn: number): Promise<Uint8Array | null>;
}

/** `exec`, `query` and `stream` over DuckDB-WASM's Arrow IPC results. */
function wasmResults(db: WasmQueries): Pick<Backend, "exec" | "query" | "stream"> {
  return {
    exec: async (conn, sql) => {
      await db.runQuery(conn, sql);
    },
    query: async (conn, sql) => tableFromIPC(await db.runQuery(conn, sql)),
    stream: async function* (conn, sql) {
      let header = await db.startPendingQuery(conn, sql);
      while (header === null) header = await db.pollPendingQuery(conn);
      const messages: Uint8Array[] = [header];
      let done = false;
      while (!done) {
        let chunk: Uint8Array | null = null;
        do chunk = await db.fetchQueryResults(conn); while (chunk === null);
        if (chunk.length === 0) done = true;
        else messages.push(chunk);
        if (messages.length > 1 || done) {
          // The schema message, then the batch messages fetched so far.
          const reader = RecordBatchReader.from(messages);
          for (const batch of reader) yield batch;
          messages.length = 1;
        }
      }
    },
  };
}

function distFile(name: string): string {
  return fileURLToPath(import.meta.resolve(`@duckdb/duckdb-wasm/dist/${name}`));
}

async function blockingBackend(): Promise<Backend> {
  // Loaded lazily: importing the engine must stay cheap for code that never queries.
  const duckdb = await import("@duckdb/duckdb-wasm/blocking");
  const bundles = {
    mvp: { mainModule: distFile("duckdb-mvp.wasm"), mainWorker: "" },
    eh: { mainModule: distFile("duckdb-eh.wasm"), mainWorker: "" },
  };
  // Bundle selection probes for WASM threads with `new MessageChannel()` and never closes the
  // port (a leak Deno's test sanitizer reports). The blocking bundle never uses threads, so
  // hide MessageChannel for the probe: it then answers "no threads", which is true here.
  const global = globalThis as { MessageChannel?: typeof MessageChannel };
  const saved = global.MessageChannel;
  let db: Awaited<ReturnType<typeof duckdb.createDuckDB>>;
  try {
    delete global.MessageChannel;
    db = await duckdb.createDuckDB(bundles, new duckdb.VoidLogger(), duckdb.NODE_RUNTIME);
  } finally {
    if (saved) global.MessageChannel = saved;
  }
  await db.instantiate(() => {});
  db.open({});
  const queries: WasmQueries = {
    runQuery: (conn, sql) => Promise.resolve(db.runQuery(conn, sql)),
    startPendingQuery: (conn, sql) => Promise.resolve(db.startPendingQuery(conn, sql, true)),
    pollPendingQuery: (conn) => Promise.resolve(db.pollPendingQuery(conn)),
    fetchQueryResults: (conn) => Promise.resolve(db.fetchQueryResults(conn)),
  };
  return {
    ...queries,
    ...wasmResults(queries),
    connect: () => Promise.resolve(db.connect().useUnsafe((_b, id) => id)),
    disconnect: (conn) => Promise.resolve(db.disconnect(conn)),
    insertIPC: (conn, bytes, name, create) =>
      Promise.resolve(db.insertArrowFromIPCStream(conn, bytes, { name, create })),
    dropFiles: (names) => Promise.resolve(db.dropFiles(names)),
    terminate: () => Promise.resolve(db.reset()),
  };
}

async function workerBackend(): Promise<Backend> {
  const { AsyncDuckDB, VoidLogger } = await import("@duckdb/duckdb-wasm");
  // The Node worker script runs as is inside a Deno module worker.
  const worker = new Worker(
    import.meta.resolve("@duckdb/duckdb-wasm/dist/duckdb-node-eh.worker.cjs"),
    {
      type: "module",
    },
  );
  const db = new AsyncDuckDB(new VoidLogger(), worker);
  try {
    await db.instantiate(distFile("duckdb-eh.wasm"));
    await db.open({});
  } catch (err) {
    await db.terminate();
    throw err;
  }
  const queries: WasmQueries = {
    runQuery: (conn, sql) => db.runQuery(conn, sql),
    startPendingQuery: (conn, sql) => db.startPendingQuery(conn, sql, true),
    pollPendingQuery: (conn) => db.pollPendingQuery(conn),
    fetchQueryResults: (conn) => db.fetchQueryResults(conn),
  };
  return {
    ...queries,
    ...wasmResults(queries),
    connect: () => db.connectInternal(),
    disconnect: (conn) => db.disconnect(conn),
    insertIPC: (conn, bytes, name, create) =>
      db.insertArrowFromIPCStream(conn, bytes, { name, create }),
    dropFiles: async (names) => {
      await db.dropFiles(names);
    },
    terminate: () => db.terminate(),
  };
}

async function nativeBackend(options: DuckDBOptions): Promise<Backend> {
  // Loaded lazily: only a store configured with `engine: native` loads native DuckDB.
  const native = await import("./_duckdb_native.ts");
  const own = options.tempDirectory === undefined;
  return await native.nativeBackend({
    memoryLimit: options.memoryLimit ?? "2GB",
    threads: options.threads ?? navigator.hardwareConcurrency,
    tempDirectory: options.tempDirectory ??
      join(tmpdir(), `larder-duckdb-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`),
    removeTempDirectory: own,
  });
}

function queryError(err: unknown, sql: string): LarderError {
  const message = err instanceof Error ? err.message : String(err);
  const oom = /out of memory|memory_limit|could not allocate/i.test(message);
  const first = message.split("\n")[0] ?? message;
  return new LarderError(
    "INTERNAL",
    oom
      ? `DuckDB ran out of memory: ${first} (raise offline_store.memory_limit in larder.yaml)`
      : `DuckDB query failed: ${first}`,
    { cause: err, details: { sql: sql.length > 2000 ? `${sql.slice(0, 2000)}…` : sql } },
  );
}

/**
 * One DuckDB connection. Temporary tables belong to it and vanish when it closes, so a job
 * that works in its own session cleans up after itself.
 */
export class DuckDBSession {
  readonly #backend: Backend;
  readonly #conn: number;
  readonly #onClose: () => void;
  /** Whether DuckDB reads Parquet files itself (see {@linkcode DuckDB.readsParquet}). */
  readonly readsParquet: boolean;
  /** Whether DuckDB spills to disk beyond `memory_limit` (native), rather than failing (WASM). */
  readonly spills: boolean;
  #closed = false;

  /** @internal Use {@linkcode DuckDB.connect}. */
  constructor(backend: Backend, conn: number, onClose: () => void, readsParquet: boolean) {
    this.#backend = backend;
    this.#conn = conn;
    this.#onClose = onClose;
    this.readsParquet = readsParquet;
    this.spills = readsParquet;
  }

  /** Runs statements and discards their result. */
  async exec(sql: string): Promise<void> {
    this.#check();
    try {
      await this.#backend.exec(this.#conn, sql);
    } catch (err) {
      throw queryError(err, sql);
    }
  }

  /** Runs a query and returns its result as Arrow IPC bytes. */
  async queryIPC(sql: string): Promise<Uint8Array> {
    this.#check();
    try {
      return await this.#backend.runQuery(this.#conn, sql);
    } catch (err) {
      throw queryError(err, sql);
    }
  }

  /** Runs a query and returns its result as an Arrow table. */
  async query(sql: string): Promise<Table> {
    this.#check();
    try {
      return await this.#backend.query(this.#conn, sql);
    } catch (err) {
      throw queryError(err, sql);
    }
  }

  /** Runs a query and returns its rows as plain objects (BIGINT as `bigint`, timestamps as epoch ms). */
  async rows(sql: string): Promise<Record<string, unknown>[]> {
    const table = await this.query(sql);
    return table.toArray().map((row) => ({ ...row.toJSON() }));
  }

  /**
   * Runs a query and yields its result batch by batch as DuckDB produces them, so a large
   * result never sits whole in JavaScript memory. The session runs nothing else meanwhile.
   */
  async *stream(sql: string): AsyncGenerator<RecordBatch> {
    this.#check();
    const batches = this.#backend.stream(this.#conn, sql);
    for (;;) {
      let next: IteratorResult<RecordBatch>;
      try {
        next = await batches.next();
      } catch (err) {
        throw queryError(err, sql);
      }
      if (next.done) return;
      yield next.value;
    }
  }

  /** Creates table `name` from Arrow IPC stream bytes, or appends to it. */
  async insertIPC(name: string, ipc: Uint8Array, options: { create: boolean }): Promise<void> {
    this.#check();
    try {
      await this.#backend.insertIPC(this.#conn, ipc, name, options.create);
    } catch (err) {
      throw queryError(err, `INSERT ARROW INTO ${name}`);
    }
  }

  /**
   * Makes the next read of these files see them as they are now. DuckDB-WASM keeps the files a
   * query opened, and their contents, by path: without this a file rewritten in place (or
   * replaced by a rename) reads as it was the first time, for the life of the instance.
   */
  async forgetFiles(paths: readonly string[]): Promise<void> {
    this.#check();
    if (paths.length > 0) await this.#backend.dropFiles([...paths]);
  }

  /** Closes the connection, dropping its temporary tables. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose();
    await this.#backend.disconnect(this.#conn);
  }

  #check(): void {
    if (this.#closed) throw new LarderError("INTERNAL", "DuckDB session is closed");
  }
}

/**
 * A DuckDB database in memory (WASM or native), with extension autoloading off (it would hang
 * offline) and `memory_limit` set.
 *
 * @example
 * ```ts
 * import { DuckDB } from "./duckdb.ts";
 * const db = await DuckDB.open({ memoryLimit: "1GB" });
 * const session = await db.connect();
 * console.log(await session.rows("SELECT 42 AS answer"));
 * await db.close();
 * ```
 */
export class DuckDB {
  readonly #backend: Backend;
  readonly #sessions = new Set<DuckDBSession>();
  readonly engine: DuckDBEngine;
  readonly mode: DuckDBMode;
  #closed = false;

  private constructor(backend: Backend, engine: DuckDBEngine, mode: DuckDBMode) {
    this.#backend = backend;
    this.engine = engine;
    this.mode = mode;
  }

  /**
   * Whether DuckDB reads Parquet files itself (native), rather than being handed Arrow decoded
   * by parquet-wasm (WASM, whose Parquet reader would have to be downloaded).
   */
  get readsParquet(): boolean {
    return this.engine === "native";
  }

  /** Starts DuckDB (WASM: about a second; native: a few milliseconds) and applies the settings. */
  static async open(options: DuckDBOptions = {}): Promise<DuckDB> {
    const engine = options.engine ?? "wasm";
    const mode = options.mode ?? "blocking";
    let backend: Backend;
    try {
      backend = engine === "native"
        ? await nativeBackend(options)
        : mode === "worker"
        ? await workerBackend()
        : await blockingBackend();
    } catch (err) {
      const what = engine === "native" ? "native DuckDB" : `DuckDB-WASM (${mode})`;
      throw new LarderError("INTERNAL", `Cannot start ${what}: ${String(err)}`, {
        cause: err,
      });
    }
    const db = new DuckDB(backend, engine, mode);
    const session = await db.connect();
    try {
      // First, before any statement could trigger an extension download.
      await session.exec("SET autoload_known_extensions=false");
      await session.exec("SET autoinstall_known_extensions=false");
      await session.exec(`SET memory_limit=${str(options.memoryLimit ?? "2GB")}`);
      await session.exec("SET preserve_insertion_order=true");
    } catch (err) {
      await db.close();
      throw err;
    } finally {
      await session.close();
    }
    return db;
  }

  /** Opens a new connection. */
  async connect(): Promise<DuckDBSession> {
    if (this.#closed) throw new LarderError("INTERNAL", "DuckDB is closed");
    const conn = await this.#backend.connect();
    const session: DuckDBSession = new DuckDBSession(
      this.#backend,
      conn,
      () => this.#sessions.delete(session),
      this.readsParquet,
    );
    this.#sessions.add(session);
    return session;
  }

  /** Runs `fn` in a fresh session and closes it afterwards. */
  async withSession<T>(fn: (session: DuckDBSession) => Promise<T>): Promise<T> {
    const session = await this.connect();
    try {
      return await fn(session);
    } finally {
      await session.close();
    }
  }

  /** Closes every session and releases the instance (WASM memory and worker; native threads). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const session of [...this.#sessions]) await session.close().catch(() => {});
    await this.#backend.terminate();
  }
}
