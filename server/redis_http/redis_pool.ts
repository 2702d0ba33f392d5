/**
 * The bridge's connections to `redis-server`: a few RESP2 connections shared by all callers
 * (each request goes whole to the least busy one, so a small request is not queued behind
 * another caller's big pipeline), plus one control connection that only ever sends
 * `SCRIPT KILL` / `FUNCTION KILL` when a script has run too long.
 *
 * Every request has a byte budget for its replies, counted as they stream in: a reply over it
 * is read and thrown away, never buffered, and the request fails with `TOO_LARGE`. A request
 * that gets no reply for `commandTimeoutMs` fails with `UNAVAILABLE`, saying how many of its
 * commands replied (the late replies are dropped, so the connection stays in step).
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
import { LarderError } from "../../engine/mod.ts";
import { DROPPED, encodeCommands, RespError, RespReader, type RespValue } from "./_resp.ts";

/** Options for {@linkcode RedisPool}. */
export interface RedisPoolOptions {
  /**
   * Connections shared by callers' requests (a control connection comes on top).
   * @default {4}
   */
  readonly connections?: number;
  /**
   * How long one connection attempt (TCP, TLS, `AUTH`, `SELECT`) may take.
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
   * `busy-reply-threshold` (5 s by default), and cannot kill a script that has written.
   * @default {5000}
   */
  readonly scriptTimeoutMs?: number;
  /** Where the pool reports what the operator should know (a killed or unkillable script). */
  readonly log?: (message: string) => void;
}

/** Options for {@linkcode RedisPool.send}. */
export interface SendOptions {
  /** Bytes all the replies may take in all, as Redis sends them. */
  readonly maxReplyBytes: number;
  /** How errors name the request: `{ what: "pipeline", commands: 12 }`. */
  readonly shape?: RequestShape;
  /** Which of the commands run a script (watched for the busy-script kill). */
  readonly scripts?: readonly boolean[];
}

/** What the commands of a request are to the caller: errors describe partial runs with it. */
export type RequestShape =
  | { readonly what: "command" }
  | { readonly what: "pipeline"; readonly commands: number }
  | { readonly what: "transaction" };

const DEFAULT_CONNECTIONS = 4;
const DEFAULT_CONNECT_TIMEOUT_MS = 1000;
const DEFAULT_COMMAND_TIMEOUT_MS = 2000;
const DEFAULT_SCRIPT_TIMEOUT_MS = 5000;
const READ_BUFFER_BYTES = 256 * 1024;

/** A request on a connection, waiting for its replies in order. */
class Batch {
  readonly count: number;
  readonly replies: (RespValue | typeof DROPPED)[] = [];
  readonly maxBytes: number;
  readonly queuedAt: number;
  readonly shape: RequestShape;
  readonly scripts: readonly boolean[] | undefined;
  bytes = 0;
  overflow = false;
  /** Set once the caller has its answer: replies from then on are dropped. */
  settled = false;
  readonly #resolve: (replies: RespValue[]) => void;
  readonly #reject: (err: Error) => void;

  constructor(
    count: number,
    options: SendOptions,
    settle: { resolve: (replies: RespValue[]) => void; reject: (err: Error) => void },
  ) {
    this.count = count;
    this.maxBytes = options.maxReplyBytes;
    this.shape = options.shape ?? { what: "command" };
    this.scripts = options.scripts;
    this.queuedAt = performance.now();
    this.#resolve = settle.resolve;
    this.#reject = settle.reject;
  }

  /** Whether the next reply to come is that of a command running a script. */
  get nextRunsScript(): boolean {
    return this.scripts?.[this.replies.length] === true;
  }

  fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.#reject(err);
  }

  finish(): void {
    if (this.settled) return;
    if (this.overflow) {
      this.fail(
        new LarderError(
          "TOO_LARGE",
          `Reply too large: ${this.bytes} bytes, the limit is ${this.maxBytes} (--max-reply-bytes); ${
            ran(this.shape)
          }, the replies were dropped`,
        ),
      );
      return;
    }
    this.settled = true;
    this.#resolve(this.replies as RespValue[]);
  }

  /** What is known of a request cut off after `this.replies.length` replies. */
  partial(): string {
    const done = this.replies.length;
    if (this.shape.what === "command") return "whether the command ran is unknown";
    if (this.shape.what === "transaction") return "whether the transaction ran is unknown";
    const all = this.shape.commands;
    if (done === 0) return `none of the ${all} commands replied, whether they ran is unknown`;
    return `the first ${done} of ${all} commands replied, whether the other ${
      all - done
    } ran is unknown`;
  }
}

function ran(shape: RequestShape): string {
  if (shape.what === "command") return "the command ran";
  if (shape.what === "transaction") return "the transaction ran";
  return `all ${shape.commands} commands ran`;
}

/** Where a connection reports to its pool. */
interface ConnectionHost {
  readonly url: URL;
  readonly connectTimeoutMs: number;
  closed(): boolean;
  failure(message: string): void;
  ready(): void;
}

/** One RESP2 connection that reconnects on its own until closed. */
class Connection {
  readonly #host: ConnectionHost;
  #conn: Deno.Conn | undefined;
  #ready = false;
  /** Requests written, oldest first; replies come back in this order. */
  readonly #batches: Batch[] = [];
  #writing: Promise<void> = Promise.resolve();
  #retries = 0;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  /** When bytes last came from Redis (or the connection was made). */
  lastActivity = 0;
  /** Replies still to come. */
  pending = 0;

  constructor(host: ConnectionHost) {
    this.#host = host;
  }

  get ready(): boolean {
    return this.#ready;
  }

  /** The oldest request still waiting for replies (answered or not). */
  get head(): Batch | undefined {
    return this.#batches[0];
  }

  /** The oldest request whose caller still waits. */
  oldestWaiting(): Batch | undefined {
    return this.#batches.find((batch) => !batch.settled);
  }

  /** Fails every request whose caller still waits (their replies will be dropped). */
  failWaiting(err: (batch: Batch) => Error): void {
    for (const batch of this.#batches) if (!batch.settled) batch.fail(err(batch));
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Writes `commands` as one request and queues `batch` for their replies. */
  send(commands: readonly (readonly string[])[], batch: Batch): void {
    if (!this.#ready) throw new Error("The connection is not ready");
    this.#write(commands, batch);
  }

  /** Stops reconnecting and closes the socket; waiting requests fail. */
  async close(): Promise<void> {
    this.#wake?.();
    closeQuietly(this.#conn);
    await this.#loop;
  }

  #write(commands: readonly (readonly string[])[], batch: Batch): void {
    const conn = this.#conn!;
    const bytes = encodeCommands(commands);
    this.#batches.push(batch);
    this.pending += batch.count;
    this.#writing = this.#writing.then(() => writeAll(conn, bytes)).catch(() => {
      // The read loop sees the socket close and fails the waiting requests.
      closeQuietly(conn);
    });
  }

  async #run(): Promise<void> {
    while (!this.#host.closed()) {
      let reason: string;
      try {
        const conn = await this.#dial();
        this.#conn = conn;
        this.#writing = Promise.resolve();
        this.lastActivity = performance.now();
        const reading = this.#read(conn);
        try {
          await this.#handshake();
        } catch (err) {
          closeQuietly(conn);
          await reading;
          throw err;
        }
        this.#ready = true;
        this.#retries = 0;
        this.#host.ready();
        reason = await reading;
      } catch (err) {
        reason = (err as Error).message;
      }
      this.#ready = false;
      this.#conn = undefined;
      this.#host.failure(reason);
      const batches = this.#batches.splice(0);
      this.pending = 0;
      for (const batch of batches) {
        batch.fail(unreachable(this.#host.url, `${reason}; ${batch.partial()}`));
      }
      if (this.#host.closed()) break;
      const delay = Math.min(50 * 2 ** this.#retries++, 500);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** A TCP (or, for `rediss:`, TLS) connection; throws with the reason on failure. */
  async #dial(): Promise<Deno.Conn> {
    const url = this.#host.url;
    const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = url.port === "" ? 6379 : Number(url.port);
    const timeoutMs = this.#host.connectTimeoutMs;
    let conn: Deno.Conn;
    try {
      if (url.protocol === "rediss:") {
        conn = await withTimeout(Deno.connectTls({ hostname, port }), timeoutMs);
      } else {
        const tcp = await Deno.connect({ hostname, port, signal: AbortSignal.timeout(timeoutMs) });
        tcp.setNoDelay(true);
        conn = tcp;
      }
    } catch (err) {
      throw new Error(connectError(err, `${hostname}:${port}`, timeoutMs));
    }
    if (this.#host.closed()) {
      closeQuietly(conn);
      throw new Error("the bridge is closing");
    }
    return conn;
  }

  /** `AUTH` and `SELECT` as the URL asks; throws with the reason on failure. */
  async #handshake(): Promise<void> {
    const url = this.#host.url;
    const setup: string[][] = [];
    if (url.password !== "") {
      const password = decodeURIComponent(url.password);
      setup.push(
        url.username === ""
          ? ["AUTH", password]
          : ["AUTH", decodeURIComponent(url.username), password],
      );
    }
    const db = url.pathname.replace(/^\//, "");
    if (db !== "" && db !== "0") setup.push(["SELECT", db]);
    if (setup.length === 0) return;
    const settle = Promise.withResolvers<RespValue[]>();
    const batch = new Batch(setup.length, { maxReplyBytes: 1 << 16 }, settle);
    this.#write(setup, batch);
    const timeoutMs = this.#host.connectTimeoutMs;
    const timer = setTimeout(
      () => batch.fail(new Error(`no reply within ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      const replies = await settle.promise;
      replies.forEach((reply, i) => {
        if (reply instanceof RespError) throw new Error(`${setup[i]![0]} failed: ${reply.message}`);
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Reads replies until the socket closes; returns why it closed. */
  async #read(conn: Deno.Conn): Promise<string> {
    const reader = new RespReader({
      budget: () => {
        const batch = this.#batches[0];
        if (batch === undefined || batch.settled || batch.overflow) return 0;
        return Math.max(0, batch.maxBytes - batch.bytes);
      },
      reply: (value, bytes) => {
        const batch = this.#batches[0];
        if (batch === undefined) throw new Error("Redis sent a reply nobody asked for");
        batch.bytes += bytes;
        if (value === DROPPED && !batch.settled) batch.overflow = true;
        batch.replies.push(value);
        this.pending--;
        if (batch.replies.length === batch.count) {
          this.#batches.shift();
          batch.finish();
        }
      },
    });
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    try {
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) return "the connection was closed";
        this.lastActivity = performance.now();
        reader.feed(buffer.slice(0, n));
      }
    } catch (err) {
      return err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted
        ? "the connection was closed"
        : (err as Error).message;
    } finally {
      closeQuietly(conn);
    }
  }
}

function closeQuietly(conn: Deno.Conn | undefined): void {
  try {
    conn?.close();
  } catch {
    // Already closed.
  }
}

/**
 * A small pool of RESP2 connections to one `redis-server`, shared by all the bridge's callers.
 * Connects in the background and keeps reconnecting (every ≤500 ms) until closed.
 */
export class RedisPool {
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
  /** The request whose script a kill was last sent for, so that it is sent once per stall. */
  #killing: Batch | undefined;
  /** Set when Redis answered that the running script cannot be killed. */
  #unkillable: Batch | undefined;

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
   * has received nothing for `commandTimeoutMs`, and kills a script that has run for
   * `scriptTimeoutMs`. Runs only while some request waits or some script runs.
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
          if (this.#killing !== head) this.#kill(head);
          next = Math.min(next, now + this.#scriptTimeoutMs);
        } else {
          next = Math.min(next, since + this.#scriptTimeoutMs);
        }
      }
    }
    if (next < Infinity) this.#watch(Math.max(1, next - now));
  };

  #quiet(connection: Connection, batch: Batch): LarderError {
    let reason = `no reply within ${this.#commandTimeoutMs} ms; ${batch.partial()}`;
    const head = connection.head;
    const unkillable = this.#unkillable;
    if (unkillable !== undefined && this.#connections.some((c) => c.head === unkillable)) {
      reason +=
        " (Redis is running a script that has written and cannot be killed: it answers again when the script ends, or after SHUTDOWN NOSAVE)";
    } else if (head?.nextRunsScript) {
      reason += ` (a script is running: the bridge stops it after ${this.#scriptTimeoutMs} ms)`;
    }
    return unreachable(this.#url, reason);
  }

  /** Sends `SCRIPT KILL` (then `FUNCTION KILL` if a function runs) on the control connection. */
  #kill(head: Batch): void {
    if (!this.#control.ready) return;
    this.#killing = head;
    const run = (command: string[]) => {
      const settle = Promise.withResolvers<RespValue[]>();
      this.#control.send([command], new Batch(1, { maxReplyBytes: 1 << 16 }, settle));
      return settle.promise.then(([reply]) => reply);
    };
    void (async () => {
      let reply = await run(["SCRIPT", "KILL"]);
      if (reply instanceof RespError && /FUNCTION KILL/.test(reply.message)) {
        reply = await run(["FUNCTION", "KILL"]);
      }
      if (!(reply instanceof RespError)) {
        this.#log(`stopped a script that ran for over ${this.#scriptTimeoutMs} ms (SCRIPT KILL)`);
      } else if (reply.message.startsWith("UNKILLABLE")) {
        this.#unkillable = head;
        this.#log(
          `a script has run for over ${this.#scriptTimeoutMs} ms and cannot be killed: ${reply.message}`,
        );
      } else {
        // NOTBUSY: no script runs (Redis is slow for another reason); look again later.
        this.#killing = undefined;
      }
    })().catch(() => {
      this.#killing = undefined;
    });
  }
}

function unreachable(url: URL, reason: string): LarderError {
  return new LarderError("UNAVAILABLE", `Redis is unreachable at ${redactUrl(url)}: ${reason}`);
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

function withTimeout<T extends Deno.Conn>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = promise.then((conn) => {
    // Connected after the timeout: nobody uses this socket.
    if (timer === undefined) conn.close();
    return conn;
  });
  return Promise.race([
    late,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timer = undefined;
        reject(new Error(`no connection within ${ms} ms`));
      }, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function connectError(err: unknown, address: string, timeoutMs: number): string {
  if (err instanceof DOMException && err.name === "TimeoutError") {
    return `connect ${address}: no connection within ${timeoutMs} ms`;
  }
  if (err instanceof Deno.errors.ConnectionRefused) return `connect ECONNREFUSED ${address}`;
  return `connect ${address}: ${(err as Error).message}`;
}

/** `url` as text with any password shown as `***`. */
export function redactUrl(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password !== "") copy.password = "***";
  return copy.toString().replace(/\/$/, "");
}
