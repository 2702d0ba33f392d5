/**
 * Starts a throwaway PostgreSQL 15 for tests: a fresh cluster in a temporary folder, on a free
 * loopback port, with durability off (`fsync`, `synchronous_commit`, `full_page_writes`).
 * Start one per test file and stop it at the end. Suites call {@linkcode skipWithoutPostgres}
 * for their `ignore` flag: without the binaries they are skipped with a loud warning, except
 * under `CI=true`, where they run and fail.
 *
 * As root, `initdb` and `pg_ctl` run as the `postgres` user (`runuser -u postgres --`), and
 * the cluster's folder sits under a folder that user can traverse.
 *
 * @example
 * ```ts ignore
 * const pg = await startPostgres();
 * try {
 *   // connect to pg.url
 * } finally {
 *   await pg.stop();
 * }
 * ```
 *
 * @module
 */
import { join } from "node:path";
import type { Table } from "apache-arrow";
import postgres from "postgres";
import { tableFromRows } from "../../engine/offline/mod.ts";
import { isoMicros } from "../../engine/timestamps.ts";
import { freePort } from "./redis_server.ts";

/** A PostgreSQL server started by {@linkcode startPostgres}. */
export interface PostgresServer {
  readonly port: number;
  /**
   * `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication), or with the
   * password when one was given.
   */
  readonly url: string;
  /** Stops the server (fast shutdown) and removes its folder; safe to call twice. */
  stop(): Promise<void>;
}

const BIN = "/usr/lib/postgresql/15/bin";
let available: boolean | undefined;

/** Whether PostgreSQL 15's binaries are installed here. */
export function postgresAvailable(): boolean {
  if (available === undefined) {
    try {
      available = Deno.statSync(join(BIN, "pg_ctl")).isFile;
    } catch {
      available = false;
    }
  }
  return available;
}

const warned = new Set<string>();

/**
 * The `ignore` flag for a suite that needs PostgreSQL: `true` (with a loud warning) when the
 * binaries are missing, unless `CI` is `"true"`, where the suite runs and fails instead.
 */
export function skipWithoutPostgres(suite: string): boolean {
  if (postgresAvailable() || Deno.env.get("CI") === "true") return false;
  if (!warned.has(suite)) {
    warned.add(suite);
    console.warn(
      `\n!!! SKIPPING "${suite}": PostgreSQL 15 is not installed (apt-get install postgresql). ` +
        `Under CI=true these tests fail instead.\n`,
    );
  }
  return true;
}

const isRoot = Deno.uid?.() === 0;

async function run(command: string, args: string[]): Promise<{ ok: boolean; output: string }> {
  const [cmd, cmdArgs] = isRoot
    ? ["runuser", ["-u", "postgres", "--", join(BIN, command), ...args]]
    : [join(BIN, command), args];
  const out = await new Deno.Command(cmd, {
    args: cmdArgs,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { ok: out.success, output: `${decode(out.stdout)}${decode(out.stderr)}`.trim() };
}

/** Options for {@linkcode startPostgres}. */
export interface StartPostgresOptions {
  /**
   * The `postgres` user's password, checked on TCP connections (`scram-sha-256`).
   * @default {none: every connection is trusted}
   */
  readonly password?: string;
}

/** Creates a cluster and starts it on a free port; resolves once it accepts connections. */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  if (!postgresAvailable()) {
    throw new Error(
      `Cannot start PostgreSQL: "${BIN}/pg_ctl" is missing (apt-get install postgresql)`,
    );
  }
  // /tmp is world-traversable; a 0700 folder from makeTempDir would not be, for `postgres`.
  const dir = await Deno.makeTempDir({ prefix: "larder_pg_" });
  await Deno.chmod(dir, 0o755);
  const data = join(dir, "data");
  const socket = join(dir, "sock");
  await Deno.mkdir(data);
  await Deno.mkdir(socket);
  if (isRoot) {
    const chown = await new Deno.Command("chown", { args: ["-R", "postgres:postgres", dir] })
      .output();
    if (!chown.success) throw new Error(`Cannot hand "${dir}" to the postgres user`);
  }
  const log = join(dir, "server.log");
  const pwfile = join(dir, "pwfile");
  if (options.password !== undefined) {
    await Deno.writeTextFile(pwfile, `${options.password}\n`);
    if (isRoot) {
      await new Deno.Command("chown", { args: ["postgres:postgres", pwfile] }).output();
    }
  }
  const cleanup = () => Deno.remove(dir, { recursive: true }).catch(() => {});
  const init = await run("initdb", [
    "-D",
    data,
    "-U",
    "postgres",
    ...(options.password === undefined
      ? ["-A", "trust"]
      : ["--auth-local=trust", "--auth-host=scram-sha-256", `--pwfile=${pwfile}`]),
    "-E",
    "UTF8",
    "--no-sync",
  ]);
  if (!init.ok) {
    await cleanup();
    throw new Error(`Cannot create a PostgreSQL cluster: ${init.output.split("\n").slice(-3)}`);
  }
  let port = 0;
  for (let attempt = 1;; attempt++) {
    port = freePort();
    const start = await run("pg_ctl", [
      "-D",
      data,
      "-l",
      log,
      "-w",
      "-t",
      "30",
      "-o",
      `-p ${port} -k ${socket} -c listen_addresses=127.0.0.1 -c fsync=off ` +
      `-c synchronous_commit=off -c full_page_writes=off`,
      "start",
    ]);
    if (start.ok) break;
    // Another process may have taken the free port between probing and binding.
    if (attempt >= 3) {
      const tail = await Deno.readTextFile(log).catch(() => "");
      await cleanup();
      throw new Error(
        `Cannot start PostgreSQL on port ${port}: ${start.output} ${
          tail.trim().split("\n").slice(-3).join(" | ")
        }`,
      );
    }
  }
  let stopped = false;
  return {
    port,
    url: `postgres://postgres${
      options.password === undefined ? "" : `:${encodeURIComponent(options.password)}`
    }@127.0.0.1:${port}/postgres`,
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      await run("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
      await cleanup();
    },
  };
}

/** Postgres column types for the value kinds `tableFromRows` infers (Arrow type names). */
function columnType(arrowType: string): string {
  if (arrowType.startsWith("Int")) return "bigint";
  if (arrowType.startsWith("Float")) return "double precision";
  if (arrowType.startsWith("Timestamp")) return "timestamp";
  if (arrowType === "Bool") return "boolean";
  if (arrowType === "Binary") return "bytea";
  return "text";
}

/**
 * Creates table `name` (replacing it) holding `rows`, typed as `tableFromRows` types them:
 * integers `bigint`, other numbers `double precision`, `Date`s `timestamp` (UTC, no zone),
 * strings `text`. Returns the row count.
 */
export async function createTable(
  url: string,
  name: string,
  rows: readonly Record<string, unknown>[],
  options: { types?: Readonly<Record<string, string>> } = {},
): Promise<number> {
  const sql = postgres(url, { onnotice: () => {}, max: 1 });
  try {
    const schema = tableFromRows(rows).schema;
    const columns = schema.fields.map((f) => f.name);
    const defs = schema.fields.map((f) =>
      `"${f.name}" ${options.types?.[f.name] ?? columnType(String(f.type))}`
    );
    await sql.unsafe(`DROP TABLE IF EXISTS "${name}"`);
    await sql.unsafe(`CREATE TABLE "${name}" (${defs.join(", ")})`);
    for (let at = 0; at < rows.length; at += 1000) {
      const chunk = rows.slice(at, at + 1000).map((r) =>
        Object.fromEntries(columns.map((c) => [c, r[c] ?? null]))
      );
      await sql`INSERT INTO ${sql(name)} ${sql(chunk as Record<string, never>[], columns)}`;
    }
    return rows.length;
  } finally {
    await sql.end();
  }
}

/** Runs one statement against `url` (for fixtures: grants, slow functions). */
export async function execSql(url: string, statement: string): Promise<void> {
  const sql = postgres(url, { onnotice: () => {}, max: 1 });
  try {
    await sql.unsafe(statement);
  } finally {
    await sql.end();
  }
}

/**
 * Creates table `name` (replacing it) with `columns` (name → Postgres type) and copies the
 * rows of Arrow `data` into it with `COPY … FROM STDIN` (CSV), for data too big to insert.
 */
export async function copyArrowTable(
  url: string,
  name: string,
  columns: Readonly<Record<string, string>>,
  data: Table,
): Promise<void> {
  const sql = postgres(url, { onnotice: () => {}, max: 1 });
  try {
    const names = Object.keys(columns);
    await sql.unsafe(`DROP TABLE IF EXISTS "${name}"`);
    await sql.unsafe(
      `CREATE TABLE "${name}" (${names.map((n) => `"${n}" ${columns[n]}`).join(", ")})`,
    );
    const vectors = names.map((n) => {
      const vector = data.getChild(n);
      if (!vector) throw new Error(`copyArrowTable(): no column "${n}"`);
      return vector;
    });
    const timestamp = names.map((n) => /^timestamp/.test(columns[n]!));
    const writable = await sql.unsafe(`COPY "${name}" FROM STDIN WITH (FORMAT csv)`).writable();
    const write = (text: string) =>
      new Promise<void>((ok, fail) => writable.write(text, (err) => (err ? fail(err) : ok())));
    for (let at = 0; at < data.numRows; at += 10_000) {
      let text = "";
      for (let r = at; r < Math.min(at + 10_000, data.numRows); r++) {
        text += vectors.map((v, i) => {
          const value = v.get(r);
          if (value === null || value === undefined) return "";
          // apache-arrow gives timestamps as epoch milliseconds (a float: microseconds kept).
          return timestamp[i] ? isoMicros(BigInt(Math.round(Number(value) * 1000))) : String(value);
        }).join(",") + "\n";
      }
      await write(text);
    }
    await new Promise<void>((ok) => writable.end(() => ok()));
    await sql.unsafe(`ANALYZE "${name}"`);
  } finally {
    await sql.end();
  }
}
