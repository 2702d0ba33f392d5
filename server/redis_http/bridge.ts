/**
 * A Redis HTTP bridge: serves the Upstash REST protocol (`POST /`, `/pipeline`,
 * `/multi-exec`, the path form `/<command>/<arg>…`) in front of a TCP `redis-server`,
 * so that the real `@upstash/redis` client works against a local Redis.
 *
 * Replies are read as RESP2 with bulk strings as bytes, so that
 * `Upstash-Encoding: base64` round-trips binary values exactly.
 *
 * @example
 * ```ts
 * import { startBridge } from "./bridge.ts";
 * const bridge = await startBridge({ redisUrl: "redis://127.0.0.1:6379", token: "secret" });
 * console.log(bridge.url); // http://127.0.0.1:<free port>
 * await bridge.close();
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { timingSafeEqual } from "node:crypto";
import { Hono } from "hono";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { createClient, ErrorReply, RESP_TYPES } from "redis";
import { z } from "zod";
import { isLarderError, LarderError, type LarderErrorCode } from "../../engine/mod.ts";
import { sha256Bytes } from "../_sha256.ts";

/** Options the bridge passes with every command. */
export interface BridgeCommandOptions {
  /** Maps RESP types to JavaScript types (the bridge reads bulk strings as Buffers). */
  readonly typeMapping: Record<number, unknown>;
  /** Keeps a MULTI … EXEC block together on the shared connection. */
  readonly chainId?: symbol;
}

/**
 * The part of a node-redis client the bridge uses. Create one with
 * {@linkcode createBridgeRedisClient}; any node-redis v5+ client connected with `RESP: 2` fits.
 */
export interface BridgeRedisClient {
  readonly isReady: boolean;
  readonly options?: { readonly url?: string | undefined; readonly RESP?: number | undefined };
  sendCommand(args: ReadonlyArray<string>, options?: BridgeCommandOptions): Promise<unknown>;
  on(event: "error", listener: (err: Error) => void): unknown;
}

/** Options for {@linkcode createBridgeApp}. */
export interface BridgeAppOptions {
  /** A connected (or reconnecting) client speaking RESP2. */
  readonly redis: BridgeRedisClient;
  /** The bearer token every request must carry. */
  readonly token: string;
  /**
   * Largest accepted request body, in bytes.
   * @default {10485760}
   */
  readonly maxBodyBytes?: number;
  /**
   * How long a request may wait without any reply from Redis before it fails with 503
   * (a long pipeline that keeps receiving replies is not cut off).
   * @default {2000}
   */
  readonly commandTimeoutMs?: number;
}

const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;
const DEFAULT_COMMAND_TIMEOUT_MS = 2000;
const DEFAULT_CONNECT_TIMEOUT_MS = 1000;

/** Commands that would change the shared connection's state or block it for everyone. */
const REFUSED_COMMANDS: ReadonlySet<string> = new Set([
  "AUTH",
  "BLMOVE",
  "BLMPOP",
  "BLPOP",
  "BRPOP",
  "BRPOPLPUSH",
  "BZMPOP",
  "BZPOPMAX",
  "BZPOPMIN",
  "DISCARD",
  "EXEC",
  "HELLO",
  "MONITOR",
  "MULTI",
  "PSUBSCRIBE",
  "PSYNC",
  "PUNSUBSCRIBE",
  "QUIT",
  "RESET",
  "SELECT",
  "SSUBSCRIBE",
  "SUBSCRIBE",
  "SUNSUBSCRIBE",
  "SYNC",
  "UNSUBSCRIBE",
  "UNWATCH",
  "WAIT",
  "WAITAOF",
  "WATCH",
]);

const STATUS_BY_CODE: Partial<Record<LarderErrorCode, ContentfulStatusCode>> = {
  INPUT_INVALID: 400,
  UNAUTHENTICATED: 401,
  NOT_FOUND: 404,
  TOO_LARGE: 413,
  UNAVAILABLE: 503,
};

const argumentSchema = z.union([z.string(), z.number(), z.boolean()], {
  error: "expected a string, number or boolean",
}).transform(String);
const commandSchema = z.array(argumentSchema, {
  error: 'expected a JSON array such as ["GET","key"]',
}).min(1, { error: "expected a command name" });
const commandListSchema = z.array(commandSchema, {
  error: 'expected a JSON array of commands such as [["GET","key"]]',
}).min(1, { error: "expected at least one command" });

type Command = z.output<typeof commandSchema>;
type Json = string | number | null | Json[];
type Outcome = { reply: unknown } | { error: string };
type Entry = { result: Json } | { error: string };

/**
 * Creates a node-redis client set up for the bridge: RESP2, no offline queue (requests fail
 * fast while Redis is down), a bounded connect timeout and reconnection every ≤500 ms.
 * Call `connect()` on it; it keeps reconnecting until `close()`.
 */
export function createBridgeRedisClient(
  redisUrl: string,
  options: { readonly connectTimeoutMs?: number } = {},
): ReturnType<typeof createRedisClient> {
  const client = createRedisClient(
    redisUrl,
    options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
  );
  // node-redis throws on an "error" event without a listener; the app records them instead.
  client.on("error", () => {});
  return client;
}

function createRedisClient(redisUrl: string, connectTimeoutMs: number) {
  return createClient({
    url: redisUrl,
    RESP: 2,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: connectTimeoutMs,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 500),
    },
  });
}

/**
 * Creates the Hono app that answers the Upstash REST protocol with `redis`.
 *
 * Answers `{"result": …}` (or an array of those for `/pipeline` and `/multi-exec`);
 * 400 for a bad body or a failed single command, 401 without the bearer token, 413 over
 * `maxBodyBytes`, 503 while Redis is unreachable.
 *
 * @example
 * ```ts
 * import { createBridgeApp, createBridgeRedisClient } from "./bridge.ts";
 * const redis = createBridgeRedisClient("redis://127.0.0.1:6379");
 * await redis.connect();
 * const app = createBridgeApp({ redis, token: "secret" });
 * const res = await app.request("/", {
 *   method: "POST",
 *   headers: { authorization: "Bearer secret" },
 *   body: JSON.stringify(["PING"]),
 * });
 * console.log(await res.json()); // { result: "PONG" }
 * ```
 */
export function createBridgeApp(options: BridgeAppOptions): Hono {
  const { redis, token } = options;
  if (token === "") {
    throw new LarderError(
      "INPUT_INVALID",
      "Cannot create the Redis HTTP bridge: the token is empty",
    );
  }
  if (redis.options?.RESP !== undefined && redis.options.RESP !== 2) {
    throw new LarderError(
      "INPUT_INVALID",
      `Cannot create the Redis HTTP bridge: the Redis client speaks RESP${redis.options.RESP}, create it with "RESP: 2"`,
    );
  }
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const timeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const commandOptions: BridgeCommandOptions = {
    typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer },
  };
  const redisUrl = redactUrl(redis.options?.url ?? "redis://127.0.0.1:6379");
  let lastConnectionError: string | undefined;
  redis.on("error", (err) => {
    lastConnectionError = err.message;
  });
  const expectedDigest = sha256Bytes(token);
  const replies = new ReplyWatch(timeoutMs, () => unreachable(`no reply within ${timeoutMs} ms`));

  function unreachable(reason: string | undefined, cause?: unknown): LarderError {
    return new LarderError(
      "UNAVAILABLE",
      `Redis is unreachable at ${redisUrl}: ${reason ?? lastConnectionError ?? "not connected"}`,
      { cause },
    );
  }

  function connectionFailure(cause: unknown): LarderError {
    // While the client is down, its own errors ("The client is offline") say less than the
    // socket error that took it down ("connect ECONNREFUSED …").
    const own = cause instanceof Error ? cause.message : String(cause);
    return unreachable(redis.isReady ? own : lastConnectionError ?? own, cause);
  }

  /** Sends `commands` in order on the shared connection; 503 when Redis goes quiet. */
  function send(
    commands: readonly Command[],
    sendOptions: BridgeCommandOptions,
  ): Promise<PromiseSettledResult<unknown>[]> {
    if (!redis.isReady) throw unreachable(undefined);
    return replies.settle(commands.map((command) => redis.sendCommand(command, sendOptions)));
  }

  async function run(commands: readonly Command[]): Promise<Outcome[]> {
    const refusals = commands.map(refusalOf);
    const allowed = commands.filter((_, i) => refusals[i] === undefined);
    const settled = allowed.length === 0 ? [] : await send(allowed, commandOptions);
    let next = 0;
    return refusals.map((refusal) => {
      if (refusal !== undefined) return { error: refusal };
      const outcome = settled[next++];
      if (outcome?.status === "fulfilled") return { reply: outcome.value };
      if (outcome?.reason instanceof ErrorReply) return { error: outcome.reason.message };
      throw connectionFailure(outcome?.reason);
    });
  }

  async function transaction(commands: readonly Command[]): Promise<Outcome[]> {
    for (const command of commands) {
      const refusal = refusalOf(command);
      if (refusal !== undefined) throw new LarderError("INPUT_INVALID", refusal);
    }
    const settled = await send([["MULTI"], ...commands, ["EXEC"]], {
      ...commandOptions,
      chainId: Symbol("MULTI"),
    });
    const failure = settled.find((outcome) => outcome.status === "rejected");
    if (failure !== undefined) {
      const queued = settled.slice(1, -1).find((outcome) =>
        outcome.status === "rejected" && outcome.reason instanceof ErrorReply
      );
      if (queued?.status === "rejected") {
        throw new LarderError(
          "INPUT_INVALID",
          `EXECABORT Transaction discarded because of previous errors: ${
            (queued.reason as ErrorReply).message
          }`,
        );
      }
      if (failure.reason instanceof ErrorReply) {
        throw new LarderError("INPUT_INVALID", failure.reason.message);
      }
      throw connectionFailure(failure.reason);
    }
    const exec = settled.at(-1);
    const replies = exec?.status === "fulfilled" ? exec.value : undefined;
    if (!Array.isArray(replies)) {
      throw new LarderError("INTERNAL", "The transaction returned no reply array");
    }
    return replies.map((reply) =>
      reply instanceof ErrorReply ? { error: reply.message } : { reply }
    );
  }

  async function single(c: Context, command: Command): Promise<Response> {
    const [entry] = await run([command]);
    if (entry === undefined || "error" in entry) {
      throw new LarderError("INPUT_INVALID", entry?.error ?? "The command returned no reply");
    }
    return c.json(toEntry(entry, wantsBase64(c)));
  }

  const app = new Hono();

  app.onError((err, c) => {
    if (isLarderError(err)) {
      return c.json({ error: err.message }, STATUS_BY_CODE[err.code] ?? 500);
    }
    // A bug: the operator sees the stack, the caller never does.
    console.error("Redis HTTP bridge: unexpected error:", err);
    return c.json({ error: "Internal error in the Redis HTTP bridge" }, 500);
  });
  app.notFound((c) => c.json({ error: `Cannot find route "${c.req.path}"` }, 404));

  app.use("*", async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^bearer\s+(.+)$/i.exec(header.trim());
    const given = match?.[1] ?? "";
    if (!timingSafeEqual(sha256Bytes(given), expectedDigest)) {
      return c.json({ error: "Unauthorized" }, 401);
    }
    await next();
  });
  app.use(
    "*",
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) =>
        c.json({ error: `Request body too large: the limit is ${maxBodyBytes} bytes` }, 413),
    }),
  );

  app.post(
    "/",
    async (c) => single(c, parseBody(commandSchema, asCommand, await c.req.text())),
  );

  app.post("/pipeline", async (c) => {
    const entries = await run(parseBody(commandListSchema, asCommandList, await c.req.text()));
    const base64 = wantsBase64(c);
    return c.json(entries.map((entry) => toEntry(entry, base64)));
  });

  app.post("/multi-exec", async (c) => {
    const entries = await transaction(
      parseBody(commandListSchema, asCommandList, await c.req.text()),
    );
    const base64 = wantsBase64(c);
    return c.json(entries.map((entry) => toEntry(entry, base64)));
  });

  app.on(["GET", "POST"], "/*", async (c) => {
    const command = new URL(c.req.url).pathname.split("/").filter((part) => part !== "").map(
      decodeSegment,
    );
    if (c.req.method === "POST") {
      const body = await c.req.text();
      if (body !== "") command.push(body);
    }
    if (command.length === 0) {
      throw new LarderError(
        "INPUT_INVALID",
        'Invalid command: expected a JSON array such as ["GET","key"]',
      );
    }
    return single(c, command);
  });

  return app;
}

/** Options for {@linkcode startBridge}. */
export interface StartBridgeOptions {
  /** The `redis://` or `rediss://` URL of the server. */
  readonly redisUrl: string;
  /** The bearer token every request must carry. */
  readonly token: string;
  /**
   * Port to listen on; 0 picks a free one.
   * @default {0}
   */
  readonly port?: number;
  /**
   * Interface to listen on.
   * @default {"127.0.0.1"}
   */
  readonly hostname?: string;
  /** Closes the bridge when aborted. */
  readonly signal?: AbortSignal;
  /** See {@linkcode BridgeAppOptions.maxBodyBytes}. */
  readonly maxBodyBytes?: number;
  /** See {@linkcode BridgeAppOptions.commandTimeoutMs}. */
  readonly commandTimeoutMs?: number;
  /**
   * How long one connection attempt to Redis may take.
   * @default {1000}
   */
  readonly connectTimeoutMs?: number;
}

/** A bridge started by {@linkcode startBridge}. */
export interface RunningBridge {
  /** Base URL to give `@upstash/redis`, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** The port actually listened on. */
  readonly port: number;
  /** Stops serving and disconnects from Redis; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Starts the bridge in process: connects to Redis (waiting up to `connectTimeoutMs` for the
 * first connection, then serving 503 until Redis answers) and serves HTTP.
 *
 * @example
 * ```ts
 * import { startBridge } from "./bridge.ts";
 * const bridge = await startBridge({ port: 0, redisUrl: "redis://127.0.0.1:6379", token: "t" });
 * await bridge.close();
 * ```
 */
export async function startBridge(options: StartBridgeOptions): Promise<RunningBridge> {
  const hostname = options.hostname ?? "127.0.0.1";
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const redis = createBridgeRedisClient(options.redisUrl, { connectTimeoutMs });
  const app = createBridgeApp({
    redis,
    token: options.token,
    ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
    ...(options.commandTimeoutMs === undefined
      ? {}
      : { commandTimeoutMs: options.commandTimeoutMs }),
  });
  // Resolves once connected, rejects only when closed before ever connecting.
  const connecting = redis.connect().then(() => {}, () => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    connecting,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, connectTimeoutMs);
    }),
  ]);
  clearTimeout(timer);

  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ port: options.port ?? 0, hostname, onListen: () => {} }, app.fetch);
  } catch (err) {
    redis.destroy();
    await connecting;
    throw new LarderError(
      "UNAVAILABLE",
      `Cannot listen on ${hostname}:${options.port ?? 0}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const port = server.addr.port;
  let closing: Promise<void> | undefined;
  const onAbort = (): void => void close();
  function close(): Promise<void> {
    closing ??= (async () => {
      options.signal?.removeEventListener("abort", onAbort);
      await server.shutdown();
      redis.destroy();
      await connecting;
    })();
    return closing;
  }
  if (options.signal?.aborted) await close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return { url: `http://${host}:${port}`, port, close };
}

/**
 * The watchdog of the bridge's one Redis connection: while requests wait for replies and Redis
 * has sent none for `quietMs`, every waiting request fails with `onQuiet()` (the replies still
 * arrive later and are dropped, so the connection stays in step).
 *
 * Replies come back in order on the one connection, so "no reply for `quietMs`" is a property
 * of the connection, not of a request: a request queued behind a long pipeline that keeps being
 * answered is not cut off. One timer serves all the requests waiting at a time and stops when
 * none waits: with a timer per request the bridge served 14% fewer requests/s (`wrk -t1 -c20`
 * of 10-key `MGET` pipelines: 14.9–17.2k before, 17.0–19.5k after; docs/benchmarks.md).
 */
class ReplyWatch {
  readonly #quietMs: number;
  readonly #onQuiet: () => Error;
  /** How to fail each waiting request. */
  readonly #waiting = new Set<(err: Error) => void>();
  #lastReply = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(quietMs: number, onQuiet: () => Error) {
    this.#quietMs = quietMs;
    this.#onQuiet = onQuiet;
  }

  readonly #replied = (): void => {
    this.#lastReply = performance.now();
  };

  /** Settles one request's `promises` (its replies, in order), or fails it if Redis goes quiet. */
  settle<T>(promises: readonly Promise<T>[]): Promise<PromiseSettledResult<T>[]> {
    // Quiet time counts from the first request waiting, not from the last reply before it.
    if (this.#waiting.size === 0) this.#lastReply = performance.now();
    for (const promise of promises) promise.then(this.#replied, this.#replied);
    let fail!: (err: Error) => void;
    const quiet = new Promise<never>((_, reject) => (fail = reject));
    this.#waiting.add(fail);
    this.#timer ??= setTimeout(this.#check, this.#quietMs);
    return Promise.race([Promise.allSettled(promises), quiet]).finally(() => {
      this.#waiting.delete(fail);
      if (this.#waiting.size === 0) this.close();
    });
  }

  readonly #check = (): void => {
    this.#timer = undefined;
    if (this.#waiting.size === 0) return;
    const idle = performance.now() - this.#lastReply;
    if (idle < this.#quietMs) {
      this.#timer = setTimeout(this.#check, this.#quietMs - idle);
      return;
    }
    const err = this.#onQuiet();
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const fail of waiting) fail(err);
  };

  /** Stops the timer (nothing waits). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * `value` as a command when it is one (what `commandSchema` accepts, arguments as strings),
 * else `undefined`: the hot path, with no zod work for well-formed bodies.
 */
function asCommand(value: unknown): Command | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const command = new Array<string>(value.length);
  for (let i = 0; i < value.length; i++) {
    const arg: unknown = value[i];
    if (typeof arg === "string") command[i] = arg;
    else if (typeof arg === "number" || typeof arg === "boolean") command[i] = String(arg);
    else return undefined;
  }
  return command as Command;
}

/** `value` as a list of commands when it is one (see {@linkcode asCommand}), else `undefined`. */
function asCommandList(value: unknown): Command[] | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const commands = new Array<Command>(value.length);
  for (let i = 0; i < value.length; i++) {
    const command = asCommand(value[i]);
    if (command === undefined) return undefined;
    commands[i] = command;
  }
  return commands;
}

/**
 * The body parsed as JSON and checked by `fast`; when `fast` refuses it, `schema` decides and
 * names the first problem (the two accept exactly the same bodies).
 */
function parseBody<T extends z.ZodType>(
  schema: T,
  fast: (value: unknown) => z.output<T> | undefined,
  text: string,
): z.output<T> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new LarderError(
      "INPUT_INVALID",
      `Cannot parse the request body as JSON: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const checked = fast(value);
  if (checked !== undefined) return checked;
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue === undefined || issue.path.length === 0
    ? ""
    : ` at ${issue.path.map((key) => `[${String(key)}]`).join("")}`;
  throw new LarderError("INPUT_INVALID", `Invalid command${where}: ${issue?.message ?? "unknown"}`);
}

function refusalOf(command: Command): string | undefined {
  const name = (command[0] ?? "").toUpperCase();
  const blocking = (name === "XREAD" || name === "XREADGROUP") &&
    command.some((arg) => arg.toUpperCase() === "BLOCK");
  const clientReply = name === "CLIENT" && command[1]?.toUpperCase() === "REPLY";
  if (REFUSED_COMMANDS.has(name) || blocking || clientReply) {
    return `ERR command "${name}" is not supported by the Redis HTTP bridge: it would block or change the shared connection`;
  }
  return undefined;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new LarderError("INPUT_INVALID", `Cannot decode the path segment "${segment}"`);
  }
}

function wantsBase64(c: Context): boolean {
  return c.req.header("upstash-encoding")?.toLowerCase() === "base64";
}

function toEntry(outcome: Outcome, base64: boolean): Entry {
  return "error" in outcome ? outcome : { result: toJson(outcome.reply, base64) };
}

/**
 * RESP2 reply (bulk strings as Buffers) → JSON. With `base64`, every string becomes the base64
 * of its bytes (the real bytes for bulk strings); numbers and null stay as they are.
 */
function toJson(reply: unknown, base64: boolean): Json {
  if (reply === null || reply === undefined) return null;
  if (typeof reply === "number") return reply;
  if (typeof reply === "bigint" || typeof reply === "boolean") return Number(reply);
  if (reply instanceof Uint8Array) {
    const bytes = Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength);
    return bytes.toString(base64 ? "base64" : "utf8");
  }
  if (typeof reply === "string" || reply instanceof ErrorReply) {
    const text = typeof reply === "string" ? reply : reply.message;
    return base64 ? Buffer.from(text, "utf8").toString("base64") : text;
  }
  if (Array.isArray(reply)) return reply.map((item) => toJson(item, base64));
  throw new LarderError("INTERNAL", `Cannot encode a Redis reply of type ${typeof reply}`);
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.toString().replace(/\/$/, "");
  } catch {
    return url;
  }
}
