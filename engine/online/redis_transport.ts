/**
 * How the Redis online store, the Redis registry backend and their locks reach Redis: a small
 * interface with two implementations, HTTP (the Upstash REST protocol, `upstash_client.ts`)
 * and TCP (RESP2 through npm `redis`, `node_redis_transport.ts`, loaded only when a
 * `redis://` or `rediss://` URL asks for it). Both answer in the same shapes, so the stores
 * above them, their key layout and their Lua scripts are the same whichever carries them.
 */
import { createHash } from "node:crypto";
import { LarderError } from "../../registry/mod.ts";
import { UpstashTransport } from "./upstash_client.ts";

/** One Redis command: its name and arguments, as Redis reads them (`["MGET", "a", "b"]`). */
export type RedisCommand = readonly string[];

/**
 * One entry of a pipeline's answer: Redis's reply in its RESP2 shape (bulk strings as
 * strings, nil as `null`, integers as numbers, arrays as arrays), or the text of an error
 * reply.
 */
export interface PipelineEntry {
  readonly result: unknown;
  readonly error: string | undefined;
}

/** A connection to one Redis, whichever protocol carries it. */
export interface RedisTransport {
  /** The URL, with any password shown as `***`. */
  readonly url: string;
  /**
   * Sends the commands together (one HTTP request, or one write on the TCP connection) and
   * returns one entry per command; error replies are entries, not failures. A transport
   * failure (unreachable, refused credentials, no answer in time) rejects with a
   * `LarderError` (`UNAVAILABLE` or `UNAUTHENTICATED`) whose message is the reason alone; its
   * `details.sent` is `false` when no command was sent (no connection).
   */
  pipeline(commands: readonly RedisCommand[]): Promise<PipelineEntry[]>;
  /** `SCRIPT LOAD`: caches a script on the server. Fails as {@linkcode pipeline} does. */
  scriptLoad(source: string): Promise<void>;
  /** Closes the connection (if any); later calls fail with `UNAVAILABLE`. */
  close(): Promise<void>;
  /**
   * Present when the transport reaches a Redis Cluster: {@linkcode pipeline} then routes each
   * command by its first key, so multi-key commands must keep their keys in one slot.
   */
  readonly cluster?: RedisClusterView | undefined;
}

/** What a cluster transport offers besides routing by key. */
export interface RedisClusterView {
  /** A transport to each master as the cluster stands now, for per-node commands (`SCAN`). */
  masters(): Promise<readonly RedisTransport[]>;
}

/** Options for {@linkcode createRedisTransport}. */
export interface RedisTransportOptions {
  /** `http(s)://…` (Upstash, a bridge) or `redis(s)://[[user]:password@]host[:port][/db]`. */
  readonly url: string;
  /** The REST token; only for `http(s)://`. */
  readonly token?: string | undefined;
  /**
   * HTTP only: retries of a request that failed with a network error.
   * @default {2}
   */
  readonly retries?: number | undefined;
  /**
   * TCP only: how long a pipeline may wait while Redis sends nothing before it fails with
   * `UNAVAILABLE` (the connection is then dialled again).
   * @default {2000}
   */
  readonly commandTimeoutMs?: number | undefined;
  /**
   * TCP only: how long one connection attempt (TCP, TLS, `HELLO`/`AUTH`) may take.
   * @default {1000}
   */
  readonly connectTimeoutMs?: number | undefined;
}

/** Whether `url` is reached over TCP (`redis://`, `rediss://`) rather than HTTP. */
export function isTcpRedisUrl(url: string): boolean {
  return /^rediss?:\/\//i.test(url);
}

/** The URL with any password replaced by `***`. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return isTcpRedisUrl(url) ? parsed.href.replace(/\/$/, "") : url;
  } catch {
    return url.replace(/\/\/[^@/]*@/, "//***@");
  }
}

/**
 * The transport for a URL: HTTP for `http(s)://` (a token is needed), TCP for `redis(s)://`.
 * Nothing connects until the first command; the TCP client module is imported then, so that
 * HTTP-only platforms never load it.
 *
 * @example
 * ```ts ignore
 * import { createRedisTransport } from "./redis_transport.ts";
 * const redis = createRedisTransport({ url: "redis://127.0.0.1:6379" });
 * const [entry] = await redis.pipeline([["GET", "k"]]);
 * await redis.close();
 * ```
 */
export function createRedisTransport(options: RedisTransportOptions): RedisTransport {
  if (options.url === "") {
    throw new LarderError("CONFIG_INVALID", "Cannot reach Redis: no URL given");
  }
  if (!isTcpRedisUrl(options.url)) {
    if (options.token === undefined) {
      throw new LarderError(
        "CONFIG_INVALID",
        `Cannot reach Redis at ${options.url}: an http(s) URL needs a REST token`,
      );
    }
    return new UpstashTransport({
      url: options.url,
      token: options.token,
      ...(options.retries === undefined ? {} : { retries: options.retries }),
    });
  }
  return new LazyTcpTransport(options);
}

/** The TCP transport, its module imported on first use. */
class LazyTcpTransport implements RedisTransport {
  readonly url: string;
  readonly #options: RedisTransportOptions;
  #inner: Promise<RedisTransport> | undefined;
  #closed = false;

  constructor(options: RedisTransportOptions) {
    this.url = redactRedisUrl(options.url);
    this.#options = options;
  }

  #transport(): Promise<RedisTransport> {
    if (this.#closed) return Promise.reject(closedError());
    this.#inner ??= import("./node_redis_transport.ts").then((m) =>
      new m.NodeRedisTransport(this.#options)
    );
    return this.#inner;
  }

  async pipeline(commands: readonly RedisCommand[]): Promise<PipelineEntry[]> {
    return await (await this.#transport()).pipeline(commands);
  }

  async scriptLoad(source: string): Promise<void> {
    await (await this.#transport()).scriptLoad(source);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const inner = this.#inner;
    this.#inner = undefined;
    if (inner) await (await inner).close();
  }
}

/** `UNAVAILABLE`: the transport was closed. */
export function closedError(): LarderError {
  return new LarderError("UNAVAILABLE", "the connection to Redis was closed");
}

/**
 * A transport failure with `what` in front (`Cannot write to the online store (redis …)`):
 * the transport's own code and reason, anything else as `UNAVAILABLE`.
 */
export function redisFailure(err: unknown, what: string): LarderError {
  if (err instanceof LarderError) {
    return new LarderError(err.code, `${what}: ${err.message}`, { cause: err.cause ?? err });
  }
  const reason = err instanceof Error ? err.message : String(err);
  return new LarderError("UNAVAILABLE", `${what}: ${reason}`, { cause: err });
}

/** A Lua script known by its source and SHA-1. */
export interface RedisScript {
  readonly source: string;
  readonly sha1: string;
}

/** The hex SHA-1 of a script's source (its UTF-8 bytes), as Redis names it. */
export function scriptSha1(source: string): string {
  return createHash("sha1").update(source, "utf8").digest("hex");
}

/** Makes a {@linkcode RedisScript}. */
export function redisScript(source: string): RedisScript {
  return { source, sha1: scriptSha1(source) };
}

/** One script call: its keys and its other arguments. */
export interface ScriptCall {
  readonly keys: readonly string[];
  readonly args: readonly string[];
}

function scriptCommand(
  name: "EVALSHA" | "EVAL",
  script: string,
  call: ScriptCall,
): RedisCommand {
  return [name, script, String(call.keys.length), ...call.keys, ...call.args];
}

/**
 * Runs script calls with `EVALSHA` in one pipeline; calls that fail with `NOSCRIPT` (the
 * server had not cached the script) are sent again with `EVAL`, which caches it. Returns one
 * entry per call; transport failures reject.
 */
export async function evalScriptCalls(
  redis: RedisTransport,
  options: { readonly script: RedisScript; readonly calls: readonly ScriptCall[] },
): Promise<PipelineEntry[]> {
  const { script, calls } = options;
  if (calls.length === 0) return [];
  const entries = await redis.pipeline(
    calls.map((call) => scriptCommand("EVALSHA", script.sha1, call)),
  );
  const missing = entries.flatMap((e, i) => e.error?.startsWith("NOSCRIPT") ? [i] : []);
  if (missing.length === 0) return entries;
  const again = await redis.pipeline(
    missing.map((i) => scriptCommand("EVAL", script.source, calls[i]!)),
  );
  missing.forEach((callIndex, j) => {
    entries[callIndex] = again[j]!;
  });
  return entries;
}
