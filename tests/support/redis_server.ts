/**
 * Starts a real `redis-server` for tests: on a free loopback port, with persistence off and a
 * throwaway working directory. Suites that need it call {@linkcode skipWithoutRedis} for their
 * `ignore` flag: without `redis-server` they are skipped with a loud warning, except under
 * `CI=true`, where they run and fail.
 *
 * @example
 * ```ts
 * import { skipWithoutRedis, startRedisServer } from "./redis_server.ts";
 * Deno.test({ name: "store() reads back", ignore: skipWithoutRedis("store"), fn: async () => {
 *   const redis = await startRedisServer();
 *   try {
 *     // use redis.url
 *   } finally {
 *     await redis.stop();
 *   }
 * } });
 * ```
 *
 * @module
 */

/** A `redis-server` started by {@linkcode startRedisServer}. */
export interface RedisServer {
  /** The TCP port it listens on (kept across {@linkcode RedisServer.restart}). */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Kills the process as a crash would (SIGKILL); {@linkcode RedisServer.restart} brings it back. */
  kill(): Promise<void>;
  /** Starts a fresh, empty server on the same port after {@linkcode RedisServer.kill}. */
  restart(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections stay open but nothing answers. */
  pause(): void;
  /** Thaws a process frozen by {@linkcode RedisServer.pause} (SIGCONT). */
  resume(): void;
  /** Stops the server and removes its working directory; safe to call twice. */
  stop(): Promise<void>;
}

/** Options for {@linkcode startRedisServer}. */
export interface StartRedisServerOptions {
  /**
   * Port to listen on.
   * @default {a free port}
   */
  readonly port?: number;
  /**
   * How long to wait for the server to answer `PING`.
   * @default {5000}
   */
  readonly readyTimeoutMs?: number;
  /** A password clients must give (`requirepass`). @default {none} */
  readonly password?: string;
}

const BINARY = "redis-server";
let available: boolean | undefined;

/** Whether a `redis-server` binary can be run here. */
export function redisAvailable(): boolean {
  if (available === undefined) {
    try {
      const output = new Deno.Command(BINARY, {
        args: ["--version"],
        stdout: "null",
        stderr: "null",
      })
        .outputSync();
      available = output.success;
    } catch {
      available = false;
    }
  }
  return available;
}

const warned = new Set<string>();

/**
 * The `ignore` flag for a suite that needs `redis-server`: `true` (with a loud warning) when the
 * binary is missing, unless `CI` is `"true"`, where the suite runs and fails instead.
 */
export function skipWithoutRedis(suite: string): boolean {
  if (redisAvailable() || Deno.env.get("CI") === "true") return false;
  if (!warned.has(suite)) {
    warned.add(suite);
    console.warn(
      `\n!!! SKIPPING "${suite}": "${BINARY}" is not installed (apt-get install redis-server). ` +
        `Under CI=true these tests fail instead.\n`,
    );
  }
  return true;
}

/** Starts `redis-server` on a free port (or `options.port`) and waits until it answers `PING`. */
export async function startRedisServer(
  options: StartRedisServerOptions = {},
): Promise<RedisServer> {
  if (!redisAvailable()) {
    throw new Error(
      `Cannot start "${BINARY}": it is not installed or not on PATH (apt-get install redis-server)`,
    );
  }
  const readyTimeoutMs = options.readyTimeoutMs ?? 5000;
  const dir = await Deno.makeTempDir({ prefix: "larder_redis_" });
  let port = options.port ?? freePort();
  let running: RedisProcess | undefined;
  try {
    for (let attempt = 1;; attempt++) {
      try {
        running = await spawnRedis(port, dir, { readyTimeoutMs, password: options.password });
        break;
      } catch (err) {
        // Another process may have taken the free port between probing and binding.
        if (options.port !== undefined || attempt >= 3) throw err;
        port = freePort();
      }
    }
  } catch (err) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }

  let stopped = false;
  const fixedPort = port;
  return {
    port: fixedPort,
    url: `redis://127.0.0.1:${fixedPort}`,
    async kill(): Promise<void> {
      await running?.end("SIGKILL");
      running = undefined;
    },
    async restart(): Promise<void> {
      if (stopped) throw new Error("Cannot restart a redis-server after stop()");
      await running?.end("SIGKILL");
      running = await spawnRedis(fixedPort, dir, { readyTimeoutMs, password: options.password });
    },
    pause(): void {
      if (running !== undefined) Deno.kill(running.pid, "SIGSTOP");
    },
    resume(): void {
      if (running !== undefined) Deno.kill(running.pid, "SIGCONT");
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      await running?.end("SIGTERM");
      running = undefined;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

interface RedisProcess {
  readonly pid: number;
  end(signal: Deno.Signal): Promise<void>;
}

async function spawnRedis(
  port: number,
  dir: string,
  options: { readonly readyTimeoutMs: number; readonly password: string | undefined },
): Promise<RedisProcess> {
  const { readyTimeoutMs, password } = options;
  const child = new Deno.Command(BINARY, {
    args: [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
      // DEBUG SLEEP lets tests make Redis answer slowly (from loopback only).
      "--enable-debug-command",
      "local",
      ...(password === undefined ? [] : ["--requirepass", password]),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()])
    .then(([out, err]) => `${out}${err}`);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  async function end(signal: Deno.Signal): Promise<void> {
    if (!exited) {
      try {
        // A paused process would not act on SIGTERM.
        if (signal !== "SIGKILL") Deno.kill(child.pid, "SIGCONT");
        child.kill(signal);
      } catch {
        // It exited between the check and the kill.
      }
    }
    await status;
    await output;
  }

  const deadline = Date.now() + readyTimeoutMs;
  while (!(await answersPing(port, password))) {
    if (exited || Date.now() > deadline) {
      await end("SIGKILL");
      const log = (await output).trim().split("\n").slice(-3).join(" | ");
      throw new Error(
        `Cannot start "${BINARY}" on port ${port}: ${
          exited ? "it exited" : `no PING reply within ${readyTimeoutMs} ms`
        }: ${log}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { pid: child.pid, end };
}

async function answersPing(port: number, password: string | undefined): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    if (password !== undefined) {
      // AUTH's +OK and PING's +PONG may arrive in one read or two.
      const auth = `*2\r\n$4\r\nAUTH\r\n$${
        new TextEncoder().encode(password).length
      }\r\n${password}\r\n`;
      await conn.write(new TextEncoder().encode(auth));
      const buffer = new Uint8Array(64);
      const read = await conn.read(buffer);
      if (read === null || !new TextDecoder().decode(buffer.subarray(0, read)).startsWith("+OK")) {
        return false;
      }
    }
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buffer = new Uint8Array(64);
    const read = await conn.read(buffer);
    return read !== null && new TextDecoder().decode(buffer.subarray(0, read)).startsWith("+PONG");
  } catch {
    return false;
  } finally {
    conn?.close();
  }
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}
