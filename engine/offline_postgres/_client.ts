/**
 * The one place that imports the Postgres client (`npm:postgres`): connection options from
 * `larder.yaml`, and the client's failures as `LarderError`s.
 */
import postgres from "postgres";
import { LarderError } from "../../registry/mod.ts";
import type { PostgresOfflineStoreConfig } from "../config.ts";

/** A connection pool. */
export type Sql = postgres.Sql<{ bigint: bigint }>;
/** One connection held for a job (its temporary tables live as long as it does). */
export type Session = postgres.ReservedSql<{ bigint: bigint }>;

/**
 * Which of a pool's connections closed, and how often: npm:postgres 3.4 writes a statement
 * sent on a connection the server has closed from a timer, where it throws outside any caller
 * (an uncaught TypeError), so a session is checked before each statement it sends.
 */
interface ConnectionTracker {
  /** Client connection id -> how many times it closed. */
  readonly closes: Map<number, number>;
  /** Session tag -> the connection id its tagging statement ran on. */
  readonly tags: Map<string, number>;
  /** Connection id -> what to call when it closes. */
  readonly listeners: Map<number, Set<() => void>>;
}

const trackers = new WeakMap<Sql, ConnectionTracker>();
const sessions = new WeakMap<Session, { connection: number; closes: number }>();
let tagCounter = 0;

/** Opens a pool (connections are made lazily, at the first query). */
export function connect(config: PostgresOfflineStoreConfig): Sql {
  const tracker: ConnectionTracker = { closes: new Map(), tags: new Map(), listeners: new Map() };
  const timeout = config.statement_timeout_seconds;
  const options = {
    ...(config.host !== undefined ? { host: config.host } : {}),
    ...(config.port !== undefined ? { port: config.port } : {}),
    ...(config.database !== undefined ? { database: config.database } : {}),
    ...(config.user !== undefined ? { username: config.user } : {}),
    ...(config.password !== undefined ? { password: config.password } : {}),
    ...(config.ssl !== undefined ? { ssl: config.ssl === "disable" ? false : config.ssl } : {}),
    max: config.max_connections,
    connect_timeout: config.connect_timeout_seconds,
    idle_timeout: 30,
    onnotice: () => {},
    onclose: (id: number) => {
      tracker.closes.set(id, (tracker.closes.get(id) ?? 0) + 1);
      for (const listener of tracker.listeners.get(id) ?? []) listener();
    },
    debug: (id: number, statement: string) => {
      const tag = /^\/\*larder:(\d+)\*\//.exec(statement)?.[1];
      if (tag !== undefined) tracker.tags.set(tag, id);
    },
    types: { bigint: postgres.BigInt },
    connection: {
      ...config.settings,
      application_name: "larder",
      // Timestamps without a zone are UTC, as everywhere in Larder.
      TimeZone: "UTC",
      ...(timeout > 0 ? { statement_timeout: Math.round(timeout * 1000) } : {}),
    },
  };
  const sql = (config.url !== undefined ? postgres(config.url, options) : postgres(options)) as Sql;
  trackers.set(sql, tracker);
  return sql;
}

/** A Postgres error's SQLSTATE, or the client's own code (`ECONNREFUSED`, `CONNECT_TIMEOUT`). */
function codeOf(err: unknown): string {
  return String((err as { code?: unknown } | null)?.code ?? "");
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Whether a client or server code means the connection is gone (or was never made). */
function unreachable(code: string): boolean {
  return code === "ECONNREFUSED" || code === "CONNECT_TIMEOUT" || code === "ENOTFOUND" ||
    code === "ECONNRESET" || code === "EPIPE" || code === "ETIMEDOUT" || code === "ECONNABORTED" ||
    code === "CONNECTION_CLOSED" || code === "CONNECTION_ENDED" ||
    code === "CONNECTION_DESTROYED" || code.startsWith("08") || code === "57P01";
}

/** Whether `err` (or the client failure it wraps) says the connection is gone. */
function connectionLost(err: unknown): boolean {
  if (err instanceof LarderError && err.details?.sqlstate === "CONNECTION_CLOSED") return true;
  const cause = err instanceof LarderError ? err.cause : err;
  return unreachable(codeOf(cause));
}

/**
 * A client failure as a `LarderError`: bad credentials or an unknown database are
 * `CONFIG_INVALID`, an unreachable server and a cancelled (timed-out) statement `UNAVAILABLE`,
 * a missing table or column or bad SQL `SOURCE_INVALID`; `what` says what was being done
 * (`reading data source "x"`). A `LarderError` passes through.
 */
export function pgError(err: unknown, what: string): LarderError {
  if (err instanceof LarderError) return err;
  const code = codeOf(err);
  const detail = messageOf(err);
  const make = (larder: LarderError["code"], message: string) =>
    new LarderError(larder, message, { cause: err, details: { sqlstate: code } });
  if (code === "28P01" || code === "28000") {
    return make(
      "CONFIG_INVALID",
      `Postgres offline store: the server refused the credentials while ${what}: ${detail} (check offline_store's user and password, or PGUSER/PGPASSWORD)`,
    );
  }
  if (code === "3D000") {
    return make(
      "CONFIG_INVALID",
      `Postgres offline store: ${detail} (check offline_store.database)`,
    );
  }
  if (code === "57014") {
    return make(
      "UNAVAILABLE",
      `Postgres offline store: the statement timed out while ${what} (offline_store.statement_timeout_seconds): ${detail}`,
    );
  }
  if (unreachable(code)) {
    return make(
      "UNAVAILABLE",
      `Postgres offline store: cannot reach the server while ${what}: ${detail}`,
    );
  }
  if (code.startsWith("42") || code.startsWith("22")) {
    return make("SOURCE_INVALID", `Postgres offline store: ${what}: ${detail}`);
  }
  return make("INTERNAL", `Postgres offline store: ${what} failed: ${detail}`);
}

/** `"name"`, a Postgres identifier quoted (a schema-qualified `a.b` quoted part by part). */
export function pgIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A table name from a source's `table` (`schema.table` or `table`), quoted part by part. */
export function pgTableName(table: string): string {
  return table.split(".").map(pgIdent).join(".");
}

/** A string literal. */
export function pgString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** An exact `timestamptz` from epoch microseconds. */
export function pgMicros(micros: bigint): string {
  return `(timestamptz 'epoch' + interval '1 microsecond' * ${micros})`;
}

/** A `timestamptz` expression as epoch microseconds (exact: `extract` is numeric). */
export function micros(expression: string): string {
  return `(extract(epoch from ${expression}) * 1000000)::int8`;
}

/** One connection from the pool, held until {@linkcode releaseSession}. */
export async function reserveSession(sql: Sql): Promise<Session> {
  try {
    const session = await sql.reserve();
    const tracker = trackers.get(sql);
    if (tracker !== undefined) {
      // Learns which client connection the session holds, from the statement's debug hook.
      const tag = String(tagCounter++);
      await session.unsafe(`/*larder:${tag}*/ SELECT 1`);
      const connection = tracker.tags.get(tag);
      tracker.tags.delete(tag);
      if (connection !== undefined) {
        sessions.set(session, { connection, closes: tracker.closes.get(connection) ?? 0 });
        lostChecks.set(
          session,
          () => (tracker.closes.get(connection) ?? 0) > (sessions.get(session)?.closes ?? 0),
        );
        closeSignals.set(session, (listener) => {
          const set = tracker.listeners.get(connection) ?? new Set();
          tracker.listeners.set(connection, set);
          set.add(listener);
          return () => set.delete(listener);
        });
      }
    }
    return session;
  } catch (err) {
    throw pgError(err, "connecting");
  }
}

const lostChecks = new WeakMap<Session, () => boolean>();
const closeSignals = new WeakMap<Session, (listener: () => void) => () => void>();

function lostError(what: string): LarderError {
  return new LarderError(
    "UNAVAILABLE",
    `Postgres offline store: cannot reach the server while ${what}: the server closed the connection`,
    { details: { sqlstate: "CONNECTION_CLOSED" } },
  );
}

/**
 * `statement`, or `UNAVAILABLE` as soon as the session's connection closes: a statement sent as
 * the server closes the connection may otherwise stay pending for ever.
 */
async function unlessClosed<T>(session: Session, statement: Promise<T>, what: string): Promise<T> {
  checkSession(session, what);
  const subscribe = closeSignals.get(session);
  if (subscribe === undefined) return await statement;
  let unsubscribe = () => {};
  const closed = new Promise<never>((_, reject) => {
    unsubscribe = subscribe(() => reject(lostError(what)));
  });
  try {
    return await Promise.race([statement, closed]);
  } finally {
    unsubscribe();
    statement.catch(() => {});
  }
}

/**
 * Throws `UNAVAILABLE` when the server closed the session's connection since it was reserved;
 * call it before sending a statement on a session held across awaits.
 */
export function checkSession(session: Session, what: string): void {
  if (lostChecks.get(session)?.() === true) throw lostError(what);
}

/**
 * Drops the session's temporary tables and gives the connection back to the pool. After
 * `failure`, a lost connection is only given back (a statement sent on it would fail outside
 * any caller, as an uncaught error in the client).
 */
export async function releaseSession(session: Session, failure?: unknown): Promise<void> {
  const lost = connectionLost(failure) || lostChecks.get(session)?.() === true;
  if (!lost) {
    await unlessClosed(session, session.unsafe("DISCARD TEMP") as unknown as Promise<unknown>, "")
      .catch(() => {});
  }
  session.release();
}

/** Runs `fn` on one connection, released (temporary tables dropped) when it ends. */
export async function withSession<T>(sql: Sql, fn: (session: Session) => Promise<T>): Promise<T> {
  const session = await reserveSession(sql);
  let failure: unknown;
  try {
    return await fn(session);
  } catch (err) {
    failure = err;
    throw err;
  } finally {
    await releaseSession(session, failure);
  }
}

function rollback(session: Session): Promise<unknown> {
  return session.unsafe("ROLLBACK") as unknown as Promise<unknown>;
}

/**
 * The rows of `sql`, `rows` at a time, through a server-side cursor (`DECLARE … CURSOR` in a
 * transaction, then `FETCH`): the server holds the result, the client one chunk. Each `FETCH` is
 * a plain statement, so a connection lost between two of them is an ordinary error (the
 * client's protocol-level cursor throws outside any caller then).
 */
export async function* fetchInChunks(
  session: Session,
  sql: string,
  rows: number,
): AsyncGenerator<Record<string, unknown>[]> {
  await session.unsafe("BEGIN");
  let open = true;
  try {
    await session.unsafe(`DECLARE __larder_cursor NO SCROLL CURSOR FOR ${sql}`);
    for (;;) {
      const chunk = await unlessClosed(
        session,
        session.unsafe(`FETCH ${rows} FROM __larder_cursor`) as unknown as Promise<unknown[]>,
        "streaming the result",
      );
      if (chunk.length > 0) yield chunk as unknown as Record<string, unknown>[];
      if (chunk.length < rows) break;
    }
    open = false;
    await session.unsafe("COMMIT");
  } catch (err) {
    open = false;
    const lost = connectionLost(err) || lostChecks.get(session)?.() === true;
    if (!lost) await unlessClosed(session, rollback(session), "").catch(() => {});
    throw err;
  } finally {
    // The consumer stopped early.
    if (open && lostChecks.get(session)?.() !== true) {
      await unlessClosed(session, rollback(session), "").catch(() => {});
    }
  }
}
