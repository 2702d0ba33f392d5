/**
 * `SqliteOnlineStore`: the embedded online store on a local SQLite file (`node:sqlite`), shared
 * by every process on the machine that opens the same file.
 */
import { dirname } from "node:path";
import process from "node:process";
import { fileSystemFailure, LarderError } from "../../registry/mod.ts";
import { currentHolder, type LockState, parseHolder } from "./lock_holder.ts";
import type {
  LockLease,
  OnlineKey,
  OnlineRecord,
  OnlineRow,
  OnlineStore,
  OnlineStoreCapabilities,
  OnlineWriteResult,
  StoredValue,
  ViewsWithData,
} from "./online_store.ts";
import { storeFailure } from "./online_store.ts";

/** Options for {@linkcode SqliteOnlineStore.open}. */
export interface SqliteOnlineStoreOptions {
  /** The project: every row and lock carries it. */
  readonly project: string;
  /** The SQLite file (created with its folder when missing), or `":memory:"`. */
  readonly path: string;
  /**
   * Milliseconds a statement waits for another connection's write lock before failing.
   * @default 5000
   */
  readonly busyTimeoutMs?: number;
}

/** The part of `node:sqlite`'s statement that the store uses. */
interface StatementSync {
  all(...params: SqlValue[]): unknown[];
  get(...params: SqlValue[]): unknown;
  run(...params: SqlValue[]): { readonly changes: number | bigint };
  /** Rows as arrays instead of objects (faster); absent before Deno 2.4's `node:sqlite`. */
  setReturnArrays?(enabled: boolean): void;
}

/** The part of `node:sqlite`'s `DatabaseSync` that the store uses. */
interface DatabaseSync {
  readonly isTransaction: boolean;
  exec(sql: string): void;
  prepare(sql: string): StatementSync;
  close(): void;
}

type SqlValue = null | number | bigint | string | Uint8Array;

/**
 * `node:sqlite`'s `DatabaseSync`, looked up when a store opens (not when this module loads, so
 * that platforms without it can still import the online store's module). Looked up rather than
 * imported: the `@types/node` that a dependency brings in may predate `node:sqlite`.
 */
function databaseClass(): new (path: string) => DatabaseSync {
  const sqlite = process.getBuiltinModule?.("node:sqlite") as unknown as
    | { DatabaseSync?: new (path: string) => DatabaseSync }
    | undefined;
  if (sqlite?.DatabaseSync === undefined) {
    throw new LarderError(
      "UNAVAILABLE",
      'Cannot open the online store (sqlite): this runtime has no "node:sqlite" (Deno 2.2 or later has it); use online_store type deno_kv or redis',
    );
  }
  return sqlite.DatabaseSync;
}

/** Keys per read statement: two parameters each, far below SQLite's 32,766. */
const KEYS_PER_READ = 500;
/** Rows per write transaction: bounds how long other writers wait for the write lock. */
const ROWS_PER_TRANSACTION = 2_000;
/**
 * Rows per upsert statement, largest first: a statement of many rows costs far less per row
 * than one per row (the rows of one write have distinct keys).
 */
const ROWS_PER_UPSERT = [100, 10, 1] as const;

/**
 * An upsert of `n` rows that replaces a stored row only when the new one's event time is later
 * (a row that is not newer counts no change).
 */
function upsertSql(n: number): string {
  return `INSERT INTO larder_online VALUES ${Array(n).fill("(?, ?, ?, ?, ?, ?)").join(", ")}
ON CONFLICT (project, view, entity_key) DO UPDATE SET
  event_micros = excluded.event_micros,
  created_micros = excluded.created_micros,
  feature_values = excluded.feature_values
WHERE excluded.event_micros > larder_online.event_micros`;
}

/** Read statements kept, by key count (request shapes repeat). */
const READ_STATEMENTS = 64;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS larder_online (
  project TEXT NOT NULL,
  view TEXT NOT NULL,
  entity_key TEXT NOT NULL,
  event_micros INTEGER NOT NULL,
  created_micros INTEGER,
  feature_values TEXT NOT NULL,
  PRIMARY KEY (project, view, entity_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS larder_locks (
  project TEXT NOT NULL,
  name TEXT NOT NULL,
  token TEXT NOT NULL,
  stamp TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  holder TEXT,
  PRIMARY KEY (project, name)
) WITHOUT ROWID;`;

/** A prepared read, and whether it answers rows as arrays. */
interface ReadStatement {
  readonly statement: StatementSync;
  readonly arrays: boolean;
}

/** A row of {@linkcode readSql}: the key's index, event and created micros, the values' JSON. */
type ReadRowArray = [number, number, number | null, string];
interface ReadRowObject {
  readonly i: number;
  readonly event_micros: number;
  readonly created_micros: number | null;
  readonly feature_values: string;
}
type ReadRow = ReadRowArray | ReadRowObject;

function readRowArray(row: ReadRowObject): ReadRowArray {
  return [row.i, row.event_micros, row.created_micros, row.feature_values];
}

/** `SELECT` of `n` keys, answering each found row with its key's index. */
function readSql(n: number): string {
  const keys = Array.from({ length: n }, (_, i) => `(${i},?${2 * i + 2},?${2 * i + 3})`);
  return `WITH k(i, v, e) AS (VALUES ${keys.join(",")})
SELECT k.i, r.event_micros, r.created_micros, r.feature_values
FROM k JOIN larder_online r ON r.project = ?1 AND r.view = k.v AND r.entity_key = k.e`;
}

/**
 * The online store on SQLite. Table `larder_online(project, view, entity_key, event_micros,
 * created_micros, feature_values)`, the values as JSON of their stored form; locks in
 * `larder_locks`, outside the rows. The file is in WAL mode, so readers never wait for a
 * writer, and several processes (feature servers, materialization) share it; writers wait for
 * each other up to `busyTimeoutMs`.
 *
 * Writes are `INSERT … ON CONFLICT DO UPDATE … WHERE excluded.event_micros > event_micros`
 * statements of up to 100 rows inside a transaction: skip-if-not-newer is decided by SQLite
 * itself, atomically, and the statements' change counts say how many rows were written. A read of any
 * number of keys is one statement (per 500 keys). Commits are `synchronous = NORMAL`: a power
 * loss may lose the last writes (materialization writes them again), a crashed process does not.
 *
 * @example
 * ```ts
 * import { SqliteOnlineStore } from "./sqlite_store.ts";
 * const store = await SqliteOnlineStore.open({ project: "demo", path: ":memory:" });
 * await store.close();
 * ```
 */
export class SqliteOnlineStore implements OnlineStore {
  readonly name: string;
  readonly capabilities: OnlineStoreCapabilities = {
    ttl: false,
    // No network: batching concurrent reads into one would save nothing.
    singleRoundTripRead: false,
    locks: true,
  };
  readonly #db: DatabaseSync;
  readonly #project: string;
  readonly #reads = new Map<number, ReadStatement>();
  readonly #statements = new Map<string, StatementSync>();
  readonly #upserts = new Map<number, StatementSync>();
  #closed = false;

  private constructor(db: DatabaseSync, project: string, name: string) {
    this.#db = db;
    this.#project = project;
    this.name = name;
  }

  /** Opens (creating when needed) the SQLite file and its tables. */
  static open(options: SqliteOnlineStoreOptions): Promise<SqliteOnlineStore> {
    try {
      return Promise.resolve(SqliteOnlineStore.#openNow(options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  static #openNow(options: SqliteOnlineStoreOptions): SqliteOnlineStore {
    const { path } = options;
    const memory = path === ":memory:";
    if (!memory) {
      try {
        Deno.mkdirSync(dirname(path), { recursive: true });
        // Through Deno first: a refusal by the OS then names its cause (SQLite only says
        // "unable to open database file").
        Deno.openSync(path, { read: true, write: true, create: true }).close();
      } catch (err) {
        throw fileSystemFailure(err, {
          path,
          action: "open",
          what: "the online store (sqlite)",
          mkdir: true,
        }) ?? openFailure(path, err);
      }
    }
    const Database = databaseClass();
    let db: DatabaseSync | undefined;
    try {
      db = new Database(path);
      db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.round(options.busyTimeoutMs ?? 5_000))}`);
      if (!memory) {
        db.exec("PRAGMA journal_mode = WAL");
        db.exec("PRAGMA synchronous = NORMAL");
      }
      db.exec(SCHEMA);
    } catch (err) {
      try {
        db?.close();
      } catch {
        // Already failing: the open error is the one to report.
      }
      throw openFailure(path, err);
    }
    return new SqliteOnlineStore(db, options.project, `sqlite ${path}`);
  }

  #prepare(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #upsert(rows: number): StatementSync {
    let statement = this.#upserts.get(rows);
    if (statement === undefined) {
      statement = this.#db.prepare(upsertSql(rows));
      this.#upserts.set(rows, statement);
    }
    return statement;
  }

  /** Writes rows (a repeated key: only its newest row, the first of equals, is offered). */
  write(view: string, given: readonly OnlineRow[]): Promise<OnlineWriteResult> {
    const rows = newestOfEachKey(given);
    let written = 0;
    try {
      for (let start = 0; start < rows.length; start += ROWS_PER_TRANSACTION) {
        const end = Math.min(rows.length, start + ROWS_PER_TRANSACTION);
        let changed = 0;
        this.#db.exec("BEGIN IMMEDIATE");
        try {
          let i = start;
          for (const size of ROWS_PER_UPSERT) {
            if (end - i < size) continue;
            const upsert = this.#upsert(size);
            const params = new Array<SqlValue>(6 * size);
            for (; end - i >= size; i += size) {
              for (let r = 0; r < size; r++) {
                const { entityKey, record } = rows[i + r]!;
                params[6 * r] = this.#project;
                params[6 * r + 1] = view;
                params[6 * r + 2] = entityKey;
                params[6 * r + 3] = record.eventMicros;
                params[6 * r + 4] = record.createdMicros;
                params[6 * r + 5] = JSON.stringify(record.values);
              }
              changed += Number(upsert.run(...params).changes);
            }
          }
          this.#db.exec("COMMIT");
        } catch (err) {
          if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
          throw err;
        }
        written += changed;
      }
    } catch (err) {
      return Promise.reject(this.#failure(err, "write to"));
    }
    return Promise.resolve({ written, skipped: given.length - written });
  }

  read(keys: readonly OnlineKey[]): Promise<(OnlineRecord | null)[]> {
    const out = new Array<OnlineRecord | null>(keys.length).fill(null);
    try {
      for (let start = 0; start < keys.length; start += KEYS_PER_READ) {
        const n = Math.min(KEYS_PER_READ, keys.length - start);
        const params = new Array<string>(2 * n + 1);
        params[0] = this.#project;
        for (let i = 0; i < n; i++) {
          const key = keys[start + i]!;
          params[2 * i + 1] = key.view;
          params[2 * i + 2] = key.entityKey;
        }
        const { statement, arrays } = this.#readStatement(n);
        const found = statement.all(...params) as ReadRow[];
        for (const row of found) {
          const [i, eventMicros, createdMicros, values] = arrays
            ? row as ReadRowArray
            : readRowArray(row as ReadRowObject);
          out[start + i] = {
            eventMicros,
            createdMicros,
            values: JSON.parse(values) as Record<string, StoredValue>,
          };
        }
      }
    } catch (err) {
      return Promise.reject(this.#failure(err, "read from"));
    }
    return Promise.resolve(out);
  }

  #readStatement(n: number): ReadStatement {
    let read = this.#reads.get(n);
    if (read === undefined) {
      if (this.#reads.size >= READ_STATEMENTS) this.#reads.clear();
      const statement = this.#db.prepare(readSql(n));
      const arrays = typeof statement.setReturnArrays === "function";
      if (arrays) statement.setReturnArrays!(true);
      read = { statement, arrays };
      this.#reads.set(n, read);
    }
    return read;
  }

  deleteViews(views: readonly string[]): Promise<void> {
    return this.#run("delete from", () => {
      const remove = this.#prepare("DELETE FROM larder_online WHERE project = ? AND view = ?");
      for (const view of views) remove.run(this.#project, view);
    });
  }

  deleteAll(): Promise<void> {
    return this.#run("delete from", () => {
      this.#prepare("DELETE FROM larder_online WHERE project = ?").run(this.#project);
    });
  }

  /** One index seek per view, each past the previous view. Always complete. */
  viewsWithData(): Promise<ViewsWithData> {
    return this.#run("list the views of", () => {
      const first = this.#prepare(
        "SELECT view FROM larder_online WHERE project = ? ORDER BY view LIMIT 1",
      );
      const next = this.#prepare(
        "SELECT view FROM larder_online WHERE project = ? AND view > ? ORDER BY view LIMIT 1",
      );
      const views: string[] = [];
      for (;;) {
        const last = views.at(-1);
        const found = (last === undefined ? first.get(this.#project) : next.get(
          this.#project,
          last,
        )) as { view: string } | undefined;
        if (found === undefined) return { views, complete: true };
        views.push(found.view);
      }
    });
  }

  /**
   * Row `(project, name)` of `larder_locks`: `token` names the lease, `stamp` the holding as
   * last written (new on every extend, for `breakLock`). Each step is one statement, atomic in
   * SQLite; a row whose `expires_at` has passed counts as free.
   */
  acquireLock(name: string, ttlMs: number): Promise<LockLease | null> {
    const token = crypto.randomUUID();
    const holder = JSON.stringify(currentHolder());
    return this.#run(`take the lock "${name}" in`, () => {
      const now = Date.now();
      const taken = this.#prepare(
        `INSERT INTO larder_locks VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (project, name) DO UPDATE SET
  token = excluded.token, stamp = excluded.stamp, expires_at = excluded.expires_at,
  holder = excluded.holder
WHERE larder_locks.expires_at <= ?7`,
      ).run(this.#project, name, token, crypto.randomUUID(), expiry(now, ttlMs), holder, now);
      if (Number(taken.changes) !== 1) return null;
      return {
        name,
        extend: (ttl: number) =>
          this.#run(`extend the lock "${name}" in`, () =>
            Number(
              this.#prepare(
                "UPDATE larder_locks SET expires_at = ?, stamp = ? WHERE project = ? AND name = ? AND token = ?",
              ).run(expiry(Date.now(), ttl), crypto.randomUUID(), this.#project, name, token)
                .changes,
            ) === 1),
        release: () =>
          this.#run(`release the lock "${name}" in`, () => {
            this.#prepare(
              "DELETE FROM larder_locks WHERE project = ? AND name = ? AND token = ?",
            ).run(this.#project, name, token);
          }),
      };
    });
  }

  inspectLock(name: string): Promise<LockState | null> {
    return this.#run(`read the lock "${name}" in`, () => {
      const found = this.#prepare(
        "SELECT stamp, expires_at, holder FROM larder_locks WHERE project = ? AND name = ? AND expires_at > ?",
      ).get(this.#project, name, Date.now()) as
        | { stamp: string; expires_at: number; holder: string | null }
        | undefined;
      if (found === undefined) return null;
      return {
        name,
        holder: parseHolder(parseJson(found.holder)),
        expiresAt: found.expires_at,
        token: found.stamp,
      };
    });
  }

  breakLock(name: string, token: string): Promise<boolean> {
    return this.#run(`break the lock "${name}" in`, () =>
      Number(
        this.#prepare("DELETE FROM larder_locks WHERE project = ? AND name = ? AND stamp = ?")
          .run(this.#project, name, token).changes,
      ) === 1);
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#reads.clear();
      this.#statements.clear();
      this.#upserts.clear();
      this.#db.close();
    }
    return Promise.resolve();
  }

  /** Runs `fn`, its failure as a `LarderError` saying what it was doing. */
  #run<T>(action: string, fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(this.#failure(err, action));
    }
  }

  #failure(err: unknown, action: string): LarderError {
    return storeFailure(this.name, err, action);
  }
}

/**
 * `rows` when their keys are distinct (the usual case, checked first); otherwise the newest row
 * of each key (the first of equal times), in order: so a write counts a key once, as the other
 * stores do.
 */
function newestOfEachKey(rows: readonly OnlineRow[]): readonly OnlineRow[] {
  if (new Set(rows.map((r) => r.entityKey)).size === rows.length) return rows;
  const newest = new Map<string, OnlineRow>();
  for (const row of rows) {
    const seen = newest.get(row.entityKey);
    if (!seen || row.record.eventMicros > seen.record.eventMicros) newest.set(row.entityKey, row);
  }
  return [...newest.values()];
}

/** Epoch milliseconds `ttlMs` (at least 1) after `now`. */
function expiry(now: number, ttlMs: number): number {
  return now + Math.max(1, Math.ceil(ttlMs));
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function openFailure(path: string, err: unknown): LarderError {
  const detail = err instanceof Error ? err.message : String(err);
  const why = /file is not a database/i.test(detail) ? "the file is not a SQLite database" : detail;
  return new LarderError(
    "UNAVAILABLE",
    `Cannot open the online store (sqlite) at "${path}": ${why}`,
    { cause: err, details: { path } },
  );
}
