/**
 * The bridge's connections to `redis-server`: a few RESP2 connections shared by all callers
 * (each request goes whole to the least busy one, so a small request is not queued behind
 * another caller's big pipeline), plus one control connection that only ever sends
 * `SCRIPT KILL` / `FUNCTION KILL` when a script has run too long.
 *
 * Every request has a byte budget for its replies, counted as they stream in: a reply over it
 * is read and thrown away, never buffered, and the request fails with `TOO_LARGE`. A request
 * that gets no reply for `commandTimeoutMs` fails with `UNAVAILABLE`, saying how many of its
 * commands replied (the late replies are dropped, so the connection stays in step). A
 * connection silent for three `commandTimeoutMs` while it owes replies (and no script of its
 * runs) is closed and dialled again: a link whose peer vanished without closing it (a
 * partition, a forgotten NAT entry) would otherwise stay open and silent for good.
 *
 * @example
 * ```ts
 * import { RedisPool } from "./redis_pool.ts";
 * const pool = new RedisPool("redis://127.0.0.1:6379");
 * await pool.connect();
 * console.log(await pool.send([["PING"]], { maxReplyBytes: 1024 })); // ["PONG"]
 * await pool.close();
 * ```
 *
 * @module
 */
import type { LarderError } from "../../engine/mod.ts";
import {
  Batch,
  Connection,
  type ConnectionHost,
  redactUrl,
  type RequestShape,
  type SendOptions,
  unreachable,
} from "./_connection.ts";
import { RespError, type RespValue } from "./_resp.ts";

export { redactUrl, type RequestShape, type SendOptions };

/** Options for {@linkcode RedisPool}. */
export interface RedisPoolOptions {
  /**
   * Connections shared by callers' requests (a control connection comes on top).
   * @default {4}
   */
  readonly connections?: number;
  /**
   * How long one connection attempt (TCP, TLS, then `AUTH` and `SELECT`, or `PING`) may take.
   * @default {1000}
   */
  readonly connectTimeoutMs?: number;
  /**
   * How long a request may wait while its connection receives nothing from Redis before it
   * fails with `UNAVAILABLE` (a long pipeline that keeps receiving replies is not cut off).
   * @default {2000}
   */
  readonly commandTimeoutMs?: number;
  /**
   * How long a script may run before the pool sends `SCRIPT KILL` (or `FUNCTION KILL`) on its
   * control connection. Redis acts on it only once the script has run for its own
   * `busy-reply-threshold` (5 s by default), and cannot kill a script that has written. The
   * kill stops whichever script Redis is running then: usually the one that stalled, but
   * another caller's if that one is running instead.
   * @default {5000}
   */
  readonly scriptTimeoutMs?: number;
  /**
   * Where the pool reports what the operator should know (a killed or unkillable script, a
   * silent connection redialled).
   */
  readonly log?: (message: string) => void;
}

const DEFAULT_CONNECTIONS = 4;
const DEFAULT_CONNECT_TIMEOUT_MS = 1000;
const DEFAULT_COMMAND_TIMEOUT_MS = 2000;
const DEFAULT_SCRIPT_TIMEOUT_MS = 5000;
/**
 * A connection that owes replies and has received nothing for this many `commandTimeoutMs`
 * (and is not waiting on a script) is closed and dialled again: the link may be dead.
 */
const REDIAL_AFTER_TIMEOUTS = 3;

/** What the bridge sends through: one Redis ({@linkcode RedisPool}) or a Redis Cluster. */
export interface BridgeRedis {
  /** Where Redis is, with any password shown as `***`. */
  readonly url: string;
  /** Starts connecting; resolves once ready or given up for now (it never rejects). */
  connect(): Promise<void>;
  readonly isReady: boolean;
  /** Sends `commands` together and resolves to their replies, in order. */
  send(commands: readonly (readonly string[])[], options: SendOptions): Promise<RespValue[]>;
  close(): Promise<void>;
}

/**
 * A small pool of RESP2 connections to one `redis-server`, shared by all the bridge's callers.
 * Connects in the background and keeps reconnecting (every ≤500 ms) until closed.
 */
export class RedisPool implements BridgeRedis {
  /** The server's URL with any password shown as `***`. */
  readonly url: string;
  readonly #url: URL;
  readonly #connections: Connection[];
  readonly #control: Connection;
  readonly #commandTimeoutMs: number;
  readonly #scriptTimeoutMs: number;
  readonly #log: (message: string) => void;
  #lastError: string | undefined;
  #closed = false;
  #firstReady = Promise.withResolvers<void>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;

  constructor(redisUrl: string, options: RedisPoolOptions = {}) {
    this.#url = new URL(redisUrl);
    this.url = redactUrl(this.#url);
    this.#commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.#scriptTimeoutMs = options.scriptTimeoutMs ?? DEFAULT_SCRIPT_TIMEOUT_MS;
    this.#log = options.log ?? ((message) => console.error(`Redis HTTP bridge: ${message}`));
    const host = (shared: boolean): ConnectionHost => ({
      url: this.#url,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      closed: () => this.#closed,
      failure: (message) => {
        if (shared) this.#lastError = message;
      },
      ready: () => {
        if (shared) this.#firstReady.resolve();
      },
    });
    const size = Math.max(1, options.connections ?? DEFAULT_CONNECTIONS);
    this.#connections = Array.from({ length: size }, () => new Connection(host(true)));
    this.#control = new Connection(host(false));
  }

  /** Starts connecting; resolves once one connection is ready (it never rejects). */
  connect(): Promise<void> {
    for (const connection of this.#connections) connection.start();
    this.#control.start();
    return this.#firstReady.promise;
  }

  /** Whether some connection is ready. */
  get isReady(): boolean {
    return this.#connections.some((connection) => connection.ready);
  }

  /**
   * Sends `commands` together on the least busy connection and resolves to their replies,
   * in order. Rejects with `UNAVAILABLE` when no connection is ready (nothing was sent), when
   * the connection drops or Redis sends nothing for `commandTimeoutMs` (saying how many
   * commands replied), and with `TOO_LARGE` when the replies pass `maxReplyBytes`.
   */
  send(commands: readonly (readonly string[])[], options: SendOptions): Promise<RespValue[]> {
    let best: Connection | undefined;
    for (const connection of this.#connections) {
      if (connection.ready && (best === undefined || connection.pending < best.pending)) {
        best = connection;
      }
    }
    if (best === undefined) {
      return Promise.reject(unreachable(this.#url, this.#lastError ?? "not connected"));
    }
    const settle = Promise.withResolvers<RespValue[]>();
    const batch = new Batch(commands.length, options, settle);
    best.send(commands, batch);
    this.#watch(this.#commandTimeoutMs);
    return settle.promise;
  }

  /** Stops every connection; waiting requests fail. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#firstReady.resolve();
    await Promise.all([...this.#connections, this.#control].map((c) => c.close()));
  }

  /** Makes sure the watchdog looks again within `ms`. */
  #watch(ms: number): void {
    const at = performance.now() + ms;
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(this.#check, ms);
  }

  /**
   * The watchdog, one timer for the pool: fails the waiting requests of each connection that
   * has received nothing for `commandTimeoutMs`, redials one that has owed replies for
   * `REDIAL_AFTER_TIMEOUTS` times that, and kills a script that has run for
   * `scriptTimeoutMs`. Runs only while some connection owes replies.
   */
  readonly #check = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const connection of this.#connections) {
      const waiting = connection.oldestWaiting();
      if (waiting !== undefined) {
        const since = Math.max(connection.lastActivity, waiting.queuedAt);
        if (now - since >= this.#commandTimeoutMs) {
          connection.failWaiting((batch) => this.#quiet(connection, batch));
        } else {
          next = Math.min(next, since + this.#commandTimeoutMs);
        }
      }
      const head = connection.head;
      if (head?.nextRunsScript) {
        const since = Math.max(connection.lastActivity, head.queuedAt);
        if (now - since >= this.#scriptTimeoutMs) {
          if (head.kill?.command !== head.replies.length) this.#kill(head);
          next = Math.min(next, now + this.#scriptTimeoutMs);
        } else {
          next = Math.min(next, since + this.#scriptTimeoutMs);
        }
      }
    }
    for (const connection of [...this.#connections, this.#control]) {
      next = Math.min(next, this.#redialIfSilent(connection, now));
    }
    if (next < Infinity) this.#watch(Math.max(1, next - now));
  };

  /**
   * Redials `connection` if it owes replies, has received nothing for `REDIAL_AFTER_TIMEOUTS`
   * × `commandTimeoutMs` and is not waiting on a script (closing would not stop it, and the
   * kill needs to know it runs); returns when to look again (`Infinity`: nothing owed).
   */
  #redialIfSilent(connection: Connection, now: number): number {
    const head = connection.head;
    if (head === undefined || head.nextRunsScript) return Infinity;
    const since = Math.max(connection.lastActivity, head.queuedAt);
    const at = since + REDIAL_AFTER_TIMEOUTS * this.#commandTimeoutMs;
    if (now < at) return at;
    const reason = `Redis sent nothing for ${
      Math.round(now - since)
    } ms on a connection that waited for replies: the bridge closed it and reconnects`;
    this.#log(reason);
    connection.redial(reason);
    return Infinity;
  }

  #quiet(connection: Connection, batch: Batch): LarderError {
    let reason = `no reply within ${this.#commandTimeoutMs} ms; ${batch.partial()}`;
    const head = connection.head;
    if (this.#connections.some((c) => c.head?.unkillable)) {
      reason +=
        " (Redis is running a script that has written and cannot be killed: it answers again when the script ends, or after SHUTDOWN NOSAVE)";
    } else if (head?.nextRunsScript) {
      reason += ` (a script is running: the bridge stops it after ${this.#scriptTimeoutMs} ms)`;
    }
    return unreachable(this.#url, reason);
  }

  /**
   * Sends `SCRIPT KILL` (then `FUNCTION KILL` if a function runs) on the control connection,
   * once for the command of `head` now running. Redis kills whichever script it is running.
   */
  #kill(head: Batch): void {
    if (!this.#control.ready) return;
    const kill = { command: head.replies.length, unkillable: false };
    head.kill = kill;
    const run = (command: string[]) => {
      const settle = Promise.withResolvers<RespValue[]>();
      this.#control.send([command], new Batch(1, { maxReplyBytes: 1 << 16 }, settle));
      this.#watch(this.#commandTimeoutMs);
      return settle.promise.then(([reply]) => reply);
    };
    const retry = (): void => {
      // Look again later.
      if (head.kill === kill) head.kill = undefined;
    };
    void (async () => {
      let reply = await run(["SCRIPT", "KILL"]);
      if (reply instanceof RespError && /FUNCTION KILL/.test(reply.message)) {
        reply = await run(["FUNCTION", "KILL"]);
      }
      if (!(reply instanceof RespError)) {
        this.#log(`stopped a script that ran for over ${this.#scriptTimeoutMs} ms (SCRIPT KILL)`);
      } else if (reply.message.startsWith("UNKILLABLE")) {
        kill.unkillable = true;
        this.#log(
          `a script has run for over ${this.#scriptTimeoutMs} ms and cannot be killed: ${reply.message}`,
        );
      } else {
        // NOTBUSY: no script runs (Redis is slow for another reason).
        retry();
      }
    })().catch(retry);
  }
}
