/**
 * One RESP2 connection of the bridge's pool to `redis-server`, and the requests waiting on it
 * ({@linkcode Batch}): it reconnects on its own until closed, and the pool's watchdog closes
 * and redials it when Redis stops answering on it.
 *
 * @module
 */
import { LarderError } from "../../engine/mod.ts";
import { DROPPED, encodeCommands, RespError, RespReader, type RespValue } from "./_resp.ts";

/** Options of one request, as {@linkcode RedisPool.send} takes them. */
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

const READ_BUFFER_BYTES = 256 * 1024;
/** What an error Redis sends unasked (`-ERR max number of clients reached`) may take. */
const UNSOLICITED_BYTES = 4096;

/** A request on a connection, waiting for its replies in order. */
export class Batch {
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
  /**
   * The script kill sent while this request's command `command` (a reply index) ran, and
   * whether Redis answered that it cannot kill it.
   */
  kill: { readonly command: number; unkillable: boolean } | undefined;
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

  /** Whether Redis answered that the script now running for this request cannot be killed. */
  get unkillable(): boolean {
    return this.kill?.unkillable === true && this.kill.command === this.replies.length;
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
export interface ConnectionHost {
  readonly url: URL;
  readonly connectTimeoutMs: number;
  closed(): boolean;
  failure(message: string): void;
  ready(): void;
}

/** One RESP2 connection that reconnects on its own until closed. */
export class Connection {
  readonly #host: ConnectionHost;
  #conn: Deno.Conn | undefined;
  #ready = false;
  /** Requests written, oldest first; replies come back in this order. */
  readonly #batches: Batch[] = [];
  #writing: Promise<void> = Promise.resolve();
  #retries = 0;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  /** Why the pool closed the socket ({@linkcode Connection.redial}), for the failed requests. */
  #closeReason: string | undefined;
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

  /**
   * Closes the socket and connects again: for a link that has gone silent (a peer or a network
   * that vanished without closing it). Every request on it fails with `reason`, saying that its
   * commands may have run.
   */
  redial(reason: string): void {
    if (this.#conn === undefined || this.#host.closed()) return;
    this.#closeReason = reason;
    closeQuietly(this.#conn);
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
        this.#closeReason = undefined;
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

  /**
   * A TCP connection with keep-alive (TLS over it for `rediss:`); throws with the reason on
   * failure.
   */
  async #dial(): Promise<Deno.Conn> {
    const url = this.#host.url;
    const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = url.port === "" ? 6379 : Number(url.port);
    const timeoutMs = this.#host.connectTimeoutMs;
    let conn: Deno.Conn;
    try {
      const tcp = await Deno.connect({ hostname, port, signal: AbortSignal.timeout(timeoutMs) });
      tcp.setNoDelay(true);
      // The kernel then notices a peer that vanished, even on a connection left idle.
      tcp.setKeepAlive(true);
      conn = url.protocol === "rediss:"
        ? await withTimeout(Deno.startTls(tcp, { hostname }), timeoutMs, () => tcp.close())
        : tcp;
    } catch (err) {
      throw new Error(connectError(err, `${hostname}:${port}`, timeoutMs));
    }
    if (this.#host.closed()) {
      closeQuietly(conn);
      throw new Error("the bridge is closing");
    }
    return conn;
  }

  /**
   * `AUTH` and `SELECT` as the URL asks, else `PING`: the connection is ready only once Redis
   * has answered on it (not, say, `-ERR max number of clients reached`). Throws with the reason
   * on failure.
   */
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
    if (setup.length === 0) setup.push(["PING"]);
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
        if (batch === undefined) return UNSOLICITED_BYTES;
        if (batch.settled || batch.overflow) return 0;
        return Math.max(0, batch.maxBytes - batch.bytes);
      },
      reply: (value, bytes) => {
        const batch = this.#batches[0];
        if (batch === undefined) throw new Error(unsolicited(value));
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
    // One buffer for every read: the reader keeps no view of it.
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    try {
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) return this.#closeReason ?? "the connection was closed";
        this.lastActivity = performance.now();
        reader.feed(buffer.subarray(0, n));
      }
    } catch (err) {
      if (this.#closeReason !== undefined) return this.#closeReason;
      return err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted
        ? "the connection was closed"
        : (err as Error).message;
    } finally {
      closeQuietly(conn);
    }
  }
}

/** Why a reply that no request waits for ends the connection, with what Redis said. */
function unsolicited(value: RespValue | typeof DROPPED): string {
  if (value instanceof RespError) return `Redis sent an error nobody asked for: ${value.message}`;
  return "Redis sent a reply nobody asked for";
}

export function closeQuietly(conn: Deno.Conn | undefined): void {
  try {
    conn?.close();
  } catch {
    // Already closed.
  }
}

/** `UNAVAILABLE`: `Redis is unreachable at <url>: <reason>`. */
export function unreachable(url: URL, reason: string): LarderError {
  return new LarderError("UNAVAILABLE", `Redis is unreachable at ${redactUrl(url)}: ${reason}`);
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/** `promise`, or a rejection after `ms` (then `abandon` is called, and a late result closed). */
function withTimeout<T extends Deno.Conn>(
  promise: Promise<T>,
  ms: number,
  abandon: () => void,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = promise.then((conn) => {
    // Connected after the timeout: nobody uses this socket.
    if (timer === undefined) conn.close();
    return conn;
  });
  // A failure after the timeout has no one to tell.
  late.catch(() => {});
  return Promise.race([
    late,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timer = undefined;
        try {
          abandon();
        } catch {
          // Already closed.
        }
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
