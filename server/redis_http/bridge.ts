/**
 * A Redis HTTP bridge: serves the Upstash REST protocol (`POST /`, `/pipeline`,
 * `/multi-exec`, the path form `/<command>/<arg>…`) in front of a TCP `redis-server`,
 * so that the real `@upstash/redis` client works against a local Redis.
 *
 * Replies are read as RESP2 with bulk strings as bytes, so that
 * `Upstash-Encoding: base64` round-trips binary values exactly. What a token may run and the
 * limits on a request: `docs/redis-http-bridge.md`.
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
import { z } from "zod";
import { isLarderError, LarderError, type LarderErrorCode } from "../../engine/mod.ts";
import { sha256Bytes } from "../_sha256.ts";
import {
  type ConnectionLimits,
  type LimitedServer,
  serveWithLimits,
} from "../serve_with_limits.ts";
import { RespError, type RespValue } from "./_resp.ts";
import { CommandPolicy, type CommandPolicyOptions } from "./command_policy.ts";
import {
  type BridgeRedis,
  RedisPool,
  type RedisPoolOptions,
  type RequestShape,
} from "./redis_pool.ts";
import { RedisClusterPool } from "./redis_cluster_pool.ts";

export {
  type BridgeRedis,
  CommandPolicy,
  type CommandPolicyOptions,
  RedisClusterPool,
  RedisPool,
  type RedisPoolOptions,
};

/** Options for {@linkcode createBridgeApp}. */
export interface BridgeAppOptions extends CommandPolicyOptions {
  /** The connections to Redis or a Redis Cluster (the app does not close them). */
  readonly redis: BridgeRedis;
  /** The bearer token every request must carry. */
  readonly token: string;
  /**
   * Largest accepted request body, in bytes.
   * @default {10485760}
   */
  readonly maxBodyBytes?: number;
  /**
   * Most commands in one request (a pipeline or a transaction), checked before any is sent.
   * @default {10000}
   */
  readonly maxCommands?: number;
  /**
   * Most bytes the replies of one request may take, as Redis sends them (the JSON answer can
   * be larger: escapes, base64), counted as they arrive; over it, 413 and the replies dropped.
   * @default {67108864}
   */
  readonly maxReplyBytes?: number;
}

/** The defaults of the bridge's limits. */
export const BRIDGE_DEFAULTS = {
  maxBodyBytes: 10 * 1024 * 1024,
  maxCommands: 10_000,
  maxReplyBytes: 64 * 1024 * 1024,
} as const;

const STATUS_BY_CODE: Partial<Record<LarderErrorCode, ContentfulStatusCode>> = {
  INPUT_INVALID: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
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
/** What `JSON.rawJSON` returns: `JSON.stringify` writes its text as it is. */
interface RawJson {
  readonly rawJSON: string;
}
/** `JSON.rawJSON` (in V8, not yet in TypeScript's lib). */
const rawJson = (JSON as unknown as { rawJSON(text: string): RawJson }).rawJSON;
type Json = string | number | null | RawJson | Json[];
type Entry = { result: Json } | { error: string };

/**
 * Creates the Hono app that answers the Upstash REST protocol with `redis`.
 *
 * Answers `{"result": …}` (or an array of those for `/pipeline` and `/multi-exec`);
 * 400 for a bad body, a failed single command or a command the bridge never runs, 401
 * without the bearer token, 403 for a command the options do not allow (see
 * {@linkcode CommandPolicy}), 413 over a limit, 503 while Redis is unreachable. Every command
 * of a request is checked before any is sent: a refused one refuses the whole request.
 *
 * @example
 * ```ts
 * import { createBridgeApp, RedisPool } from "./bridge.ts";
 * const redis = new RedisPool("redis://127.0.0.1:6379");
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
  return bridgeApp(options, new CommandPolicy(options));
}

function bridgeApp(options: BridgeAppOptions, policy: CommandPolicy): Hono {
  const { redis, token } = options;
  if (token === "") {
    throw new LarderError(
      "INPUT_INVALID",
      "Cannot create the Redis HTTP bridge: the token is empty",
    );
  }
  const maxBodyBytes = options.maxBodyBytes ?? BRIDGE_DEFAULTS.maxBodyBytes;
  const maxCommands = options.maxCommands ?? BRIDGE_DEFAULTS.maxCommands;
  const maxReplyBytes = options.maxReplyBytes ?? BRIDGE_DEFAULTS.maxReplyBytes;
  const expectedDigest = sha256Bytes(token);

  /**
   * Checks every command before any is sent: the count, then each against the policy. A
   * refusal refuses the whole request.
   */
  function check(commands: readonly Command[], what: "pipeline" | "transaction" | "command") {
    if (commands.length > maxCommands) {
      throw new LarderError(
        "TOO_LARGE",
        `Too many commands: ${commands.length} in one ${what}, the limit is ${maxCommands} (--max-commands); nothing was sent`,
      );
    }
    let scripts: boolean[] | undefined;
    for (let i = 0; i < commands.length; i++) {
      const verdict = policy.check(commands[i]!);
      if (!verdict.allowed) {
        const { refusal } = verdict;
        const where = what === "command"
          ? `"${refusal.name}"`
          : `the ${what} (nothing was sent): command ${
            i + 1
          } of ${commands.length} is "${refusal.name}"`;
        throw new LarderError(refusal.code, `Cannot run ${where}: ${refusal.reason}`);
      }
      if (verdict.runsScript) (scripts ??= [])[i] = true;
    }
    return scripts;
  }

  async function run(commands: readonly Command[], shape: RequestShape): Promise<RespValue[]> {
    const scripts = check(commands, shape.what);
    return await redis.send(commands, {
      maxReplyBytes,
      shape,
      ...(scripts === undefined ? {} : { scripts }),
    });
  }

  async function transaction(commands: readonly Command[]): Promise<RespValue[]> {
    const scripts = check(commands, "transaction");
    const replies = await redis.send([["MULTI"], ...commands, ["EXEC"]], {
      maxReplyBytes,
      shape: { what: "transaction" },
      ...(scripts === undefined
        ? {}
        : { scripts: [...Array(commands.length + 1).fill(false), true] }),
    });
    const exec = replies.at(-1);
    if (exec instanceof RespError) {
      // EXECABORT: Redis refused to queue a command and discarded the transaction.
      const queued = replies.slice(1, -1).find((reply) => reply instanceof RespError);
      throw new LarderError(
        "INPUT_INVALID",
        queued instanceof RespError
          ? `EXECABORT Transaction discarded because of previous errors: ${queued.message}`
          : exec.message,
      );
    }
    if (!Array.isArray(exec)) {
      throw new LarderError("INTERNAL", "The transaction returned no reply array");
    }
    return exec;
  }

  async function single(c: Context, command: Command): Promise<Response> {
    const [reply] = await run([command], { what: "command" });
    if (reply === undefined) throw new LarderError("INTERNAL", "The command returned no reply");
    if (reply instanceof RespError) throw new LarderError("INPUT_INVALID", reply.message);
    return answer(c, () => ({ result: toJson(reply, wantsBase64(c)) }));
  }

  function entries(c: Context, replies: readonly RespValue[]): Response {
    const base64 = wantsBase64(c);
    return answer(c, () => replies.map((reply) => toEntry(reply, base64)));
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
        c.json(
          {
            error: `Request body too large: the limit is ${maxBodyBytes} bytes (--max-body-bytes)`,
          },
          413,
        ),
    }),
  );

  app.post(
    "/",
    async (c) => single(c, parseBody(commandSchema, asCommand, await c.req.text())),
  );

  /** The commands of a pipeline or transaction body; a body over the limit is not parsed. */
  function commandList(text: string, what: "pipeline" | "transaction"): Command[] {
    // Parsing 10 MB of tiny commands takes the bridge seconds, time no other caller is served.
    if (exceeds(text, maxCommands)) {
      throw new LarderError(
        "TOO_LARGE",
        `Too many commands: more than ${maxCommands} in one ${what}, the limit is ${maxCommands} (--max-commands); nothing was sent`,
      );
    }
    return parseBody(commandListSchema, asCommandList, text);
  }

  app.post("/pipeline", async (c) => {
    const commands = commandList(await c.req.text(), "pipeline");
    return entries(c, await run(commands, { what: "pipeline", commands: commands.length }));
  });

  app.post("/multi-exec", async (c) => {
    const commands = commandList(await c.req.text(), "transaction");
    return entries(c, await transaction(commands));
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
export interface StartBridgeOptions extends Omit<BridgeAppOptions, "redis">, RedisPoolOptions {
  /** The `redis://` or `rediss://` URL of the server (or give `redisCluster`). */
  readonly redisUrl?: string;
  /**
   * A Redis Cluster instead of `redisUrl`: `redis://` or `rediss://` URLs of some of its
   * nodes (the others are found from them).
   */
  readonly redisCluster?: readonly string[];
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
  /**
   * Limits on the bridge's own HTTP connections (the feature server's defaults: 512
   * connections, 10 s for a request's headers, 75 s idle).
   */
  readonly limits?: Partial<ConnectionLimits>;
}

/** The bridge's connection limits unless told otherwise. */
export const BRIDGE_CONNECTION_LIMITS: ConnectionLimits = {
  maxConnections: 512,
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 75_000,
};

/** A bridge started by {@linkcode startBridge}. */
export interface RunningBridge {
  /** Base URL to give `@upstash/redis`, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** The port actually listened on. */
  readonly port: number;
  /** The Redis server's URL (a cluster's: its nodes'), with any password shown as `***`. */
  readonly redisUrl: string;
  /** The SHA-1 of every registered script (Larder's own, then `scripts`), as clients send it. */
  readonly scriptSha1s: readonly string[];
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
  const {
    redisUrl,
    redisCluster,
    port: wantedPort,
    hostname: wantedHost,
    signal,
    limits,
    ...rest
  } = options;
  const hostname = wantedHost ?? "127.0.0.1";
  if ((redisUrl === undefined) === (redisCluster === undefined)) {
    throw new LarderError(
      "INPUT_INVALID",
      "Cannot start the Redis HTTP bridge: give either a Redis URL or the nodes of a Redis Cluster",
    );
  }
  const redis: BridgeRedis = redisCluster === undefined
    ? new RedisPool(redisUrl!, rest)
    : new RedisClusterPool(redisCluster, rest);
  const policy = new CommandPolicy(rest);
  const app = bridgeApp({ ...rest, redis }, policy);
  const connecting = redis.connect();
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    connecting,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, options.connectTimeoutMs ?? 1000);
    }),
  ]);
  clearTimeout(timer);

  let server: LimitedServer;
  try {
    // Accepting with limits and timeouts: a flood of idle connections neither exits the
    // process (out of file descriptors) nor keeps connections open forever.
    server = serveWithLimits(app.fetch, {
      hostname,
      port: wantedPort ?? 0,
      limits: { ...BRIDGE_CONNECTION_LIMITS, ...limits },
      busyBody: JSON.stringify({ error: "The bridge has too many open connections: try again" }),
      warn: (text) => console.warn(`redis-http: ${text}`),
    });
  } catch (err) {
    await redis.close();
    throw new LarderError(
      "UNAVAILABLE",
      `Cannot listen on ${hostname}:${wantedPort ?? 0}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const port = server.addr.port;
  let closing: Promise<void> | undefined;
  const onAbort = (): void => void close();
  function close(): Promise<void> {
    closing ??= (async () => {
      signal?.removeEventListener("abort", onAbort);
      await server.shutdown();
      await redis.close();
    })();
    return closing;
  }
  if (signal?.aborted) await close();
  signal?.addEventListener("abort", onAbort, { once: true });
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return {
    url: `http://${host}:${port}`,
    port,
    redisUrl: redis.url,
    scriptSha1s: [...policy.scripts.keys()],
    close,
  };
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

/**
 * Whether the JSON array `text` has more than `limit` arrays as elements, found by a scan that
 * stops at the first one over (a few ms where `JSON.parse` of a 10 MB body takes a second or
 * more). Only a body of more than 6 characters a command can be over (`["x"],`). Invalid JSON
 * is left for the parser to name.
 */
function exceeds(text: string, limit: number): boolean {
  if (text.length <= 6 * limit) return false;
  let depth = 0;
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: skip to its closing quote, past escapes.
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b) {
      if (depth === 1 && ++count > limit) return true;
      depth++;
    } else if (c === 0x5d) {
      depth--;
    }
  }
  return false;
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

function toEntry(reply: RespValue, base64: boolean): Entry {
  return reply instanceof RespError ? { error: reply.message } : { result: toJson(reply, base64) };
}

/**
 * A RESP2 reply → JSON. With `base64`, every string becomes the base64 of its bytes (the real
 * bytes for bulk strings); numbers and null stay as they are. An integer beyond 2^53 is written
 * with its exact digits, as Upstash does.
 */
function toJson(reply: RespValue, base64: boolean): Json {
  if (reply === null || typeof reply === "number") return reply;
  if (typeof reply === "bigint") return rawJson(String(reply));
  if (reply instanceof Uint8Array) {
    const bytes = Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength);
    return bytes.toString(base64 ? "base64" : "utf8");
  }
  if (typeof reply === "string" || reply instanceof RespError) {
    const text = typeof reply === "string" ? reply : reply.message;
    return base64 ? Buffer.from(text, "utf8").toString("base64") : text;
  }
  return reply.map((item) => toJson(item, base64));
}

/**
 * The JSON answer `build` makes. A reply within `maxReplyBytes` can still make a string longer
 * than JavaScript allows (escapes, base64): that is a clear 413, not a crash.
 */
function answer(c: Context, build: () => Entry | Entry[]): Response {
  let text: string;
  try {
    text = JSON.stringify(build());
  } catch (err) {
    // JSON.stringify throws RangeError; Buffer#toString an Error with code ERR_STRING_TOO_LONG.
    const tooLong = err instanceof RangeError ||
      (err as { code?: unknown } | null)?.code === "ERR_STRING_TOO_LONG";
    if (!tooLong) throw err;
    throw new LarderError(
      "TOO_LARGE",
      "Reply too large to answer as JSON: lower --max-reply-bytes; the commands ran, the replies were dropped",
    );
  }
  return c.body(text, 200, { "content-type": "application/json" });
}
