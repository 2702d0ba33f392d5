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

/** Opens a pool (connections are made lazily, at the first query). */
export function connect(config: PostgresOfflineStoreConfig): Sql {
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
    types: { bigint: postgres.BigInt },
    connection: {
      ...config.settings,
      application_name: "larder",
      // Timestamps without a zone are UTC, as everywhere in Larder.
      TimeZone: "UTC",
      ...(timeout > 0 ? { statement_timeout: Math.round(timeout * 1000) } : {}),
    },
  };
  return (config.url !== undefined ? postgres(config.url, options) : postgres(options)) as Sql;
}

/** A Postgres error's SQLSTATE, or the client's own code (`ECONNREFUSED`, `CONNECT_TIMEOUT`). */
function codeOf(err: unknown): string {
  return String((err as { code?: unknown } | null)?.code ?? "");
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
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
  if (
    code === "ECONNREFUSED" || code === "CONNECT_TIMEOUT" || code === "ENOTFOUND" ||
    code === "CONNECTION_CLOSED" || code === "CONNECTION_ENDED" ||
    code === "CONNECTION_DESTROYED" ||
    code.startsWith("08") || code === "57P01"
  ) {
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
    return await sql.reserve();
  } catch (err) {
    throw pgError(err, "connecting");
  }
}

/** Drops the session's temporary tables and gives the connection back to the pool. */
export async function releaseSession(session: Session): Promise<void> {
  await session.unsafe("DISCARD TEMP").catch(() => {});
  session.release();
}

/** Runs `fn` on one connection, released (temporary tables dropped) when it ends. */
export async function withSession<T>(sql: Sql, fn: (session: Session) => Promise<T>): Promise<T> {
  const session = await reserveSession(sql);
  try {
    return await fn(session);
  } finally {
    await releaseSession(session);
  }
}
