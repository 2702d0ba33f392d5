/**
 * The one module that imports `@upstash/redis`: the HTTP {@linkcode RedisTransport} of the
 * Redis online store and the Redis registry backend, and its failures as `LarderError`s.
 *
 * Settings, each on purpose:
 * - `enableTelemetry: false`: no telemetry headers leave the process.
 * - `automaticDeserialization: false`: replies stay as Redis sent them; callers decode.
 * - `responseEncoding: false`: Larder stores only UTF-8 text, so replies need no base64 round.
 * - `enableAutoPipelining: false`: callers build their pipelines explicitly.
 * - `retry`: network errors only, {@linkcode UpstashClientOptions.retries} times with a short
 *   exponential backoff (the client's default of 5 takes ~4 s to give up).
 */
import { Redis } from "@upstash/redis";
import { LarderError } from "../../registry/mod.ts";
import type { PipelineEntry, RedisCommand, RedisTransport } from "./redis_transport.ts";

/** The configured client. */
export type UpstashRedis = Redis;

/** Options for {@linkcode createUpstashClient}. */
export interface UpstashClientOptions {
  /** REST URL (`https://…upstash.io`, or a bridge's `http://127.0.0.1:8079`). */
  readonly url: string;
  readonly token: string;
  /**
   * Retries of a request that failed with a network error (never of one Redis answered).
   * @default {2}
   */
  readonly retries?: number;
  /**
   * Wait before retry `n` (0-based), in milliseconds.
   * @default {(n) => 50 * 2 ** n}
   */
  readonly backoffMs?: (retry: number) => number;
}

/**
 * Creates an `@upstash/redis` client with Larder's settings.
 *
 * @example
 * ```ts
 * import { createUpstashClient } from "./upstash_client.ts";
 * const redis = createUpstashClient({ url: "http://127.0.0.1:8079", token: "secret" });
 * ```
 */
export function createUpstashClient(options: UpstashClientOptions): UpstashRedis {
  return new Redis({
    url: options.url,
    token: options.token,
    enableTelemetry: false,
    automaticDeserialization: false,
    responseEncoding: false,
    enableAutoPipelining: false,
    retry: {
      retries: options.retries ?? 2,
      backoff: options.backoffMs ?? ((n: number) => 50 * 2 ** n),
    },
  });
}

/**
 * The URL and token: from the configuration, else `UPSTASH_REDIS_REST_URL` /
 * `UPSTASH_REDIS_REST_TOKEN`. A `redis://` or `rediss://` URL (TCP) needs no token and takes
 * none (its password goes in the URL). Throws `CONFIG_INVALID` naming what is missing; `field`
 * is the configuration section for the message (`online_store`, `registry`).
 */
export function upstashCredentials(
  config: { readonly url?: string | undefined; readonly token?: string | undefined },
  options: { readonly env: (name: string) => string | undefined; readonly field: string },
): { url: string; token: string | undefined } {
  const { env, field } = options;
  const url = config.url ?? env("UPSTASH_REDIS_REST_URL");
  if (url !== undefined && /^rediss?:\/\//i.test(url)) {
    if (config.token !== undefined) {
      throw new LarderError(
        "CONFIG_INVALID",
        `larder.yaml: ${field}.token: a token is for http(s) URLs; a redis:// URL carries its password (redis://:password@host:6379)`,
        { details: { field: `${field}.token` } },
      );
    }
    return { url, token: undefined };
  }
  const token = config.token ?? env("UPSTASH_REDIS_REST_TOKEN");
  const missing = [
    ...(url ? [] : [`${field}.url (or UPSTASH_REDIS_REST_URL)`]),
    ...(token ? [] : [`${field}.token (or UPSTASH_REDIS_REST_TOKEN)`]),
  ];
  if (!url || !token) {
    throw new LarderError(
      "CONFIG_INVALID",
      `larder.yaml: ${field}: type "redis" needs ${missing.join(" and ")}`,
      { details: { missing } },
    );
  }
  return { url: url.replace(/\/+$/, ""), token };
}

const AUTH_FAILURE = /unauthori[sz]ed|WRONGPASS|NOAUTH|invalid .*token/i;

/**
 * A `LarderError` for a failed request, its message the reason alone: `UNAUTHENTICATED` when
 * the token is refused, otherwise `UNAVAILABLE`; the client's echo of the request body is
 * dropped.
 */
function upstashFailure(err: unknown): LarderError {
  const raw = err instanceof Error ? err.message : String(err);
  const reason = raw.split(", command was:")[0]!.trim().replace(/\.$/, "") || "no reason given";
  return new LarderError(
    AUTH_FAILURE.test(reason) ? "UNAUTHENTICATED" : "UNAVAILABLE",
    reason,
    { cause: err },
  );
}

/** Options of `SET` the stores send (`NX`, `PX ms`, `EX s`). */
function setOptions(rest: readonly string[]): { nx?: true; px?: number; ex?: number } {
  const options: { nx?: true; px?: number; ex?: number } = {};
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i]!.toUpperCase();
    if (word === "NX") options.nx = true;
    else if (word === "PX") options.px = Number(rest[++i]);
    else if (word === "EX") options.ex = Number(rest[++i]);
    else throw new Error(`UpstashTransport: unsupported SET option "${rest[i]}"`);
  }
  return options;
}

type UpstashPipeline = ReturnType<UpstashRedis["pipeline"]>;

/**
 * Adds one command to an `@upstash/redis` pipeline. The client has one method per command
 * (no raw commands), so this knows the commands Larder's stores send.
 */
function addCommand(p: UpstashPipeline, command: RedisCommand): void {
  const [name = "", ...args] = command;
  const keysThenArgs = () => {
    const n = Number(args[1]);
    return [args.slice(2, 2 + n), args.slice(2 + n)] as const;
  };
  switch (name.toUpperCase()) {
    case "GET":
      p.get(args[0]!);
      return;
    case "MGET":
      p.mget(args);
      return;
    case "SET":
      p.set(args[0]!, args[1]!, setOptions(args.slice(2)) as { nx: true; px: number });
      return;
    case "PTTL":
      p.pttl(args[0]!);
      return;
    case "UNLINK":
      p.unlink(...args);
      return;
    case "HMGET":
      p.hmget(args[0]!, ...args.slice(1));
      return;
    case "SCAN": {
      const options: { match?: string; count?: number } = {};
      for (let i = 1; i < args.length; i += 2) {
        if (args[i]!.toUpperCase() === "MATCH") options.match = args[i + 1]!;
        else if (args[i]!.toUpperCase() === "COUNT") options.count = Number(args[i + 1]);
      }
      p.scan(args[0]!, options);
      return;
    }
    case "EVALSHA": {
      const [keys, rest] = keysThenArgs();
      p.evalsha(args[0]!, [...keys], [...rest]);
      return;
    }
    case "EVAL": {
      const [keys, rest] = keysThenArgs();
      p.eval(args[0]!, [...keys], [...rest]);
      return;
    }
    default:
      throw new Error(`UpstashTransport: unsupported command "${name}"`);
  }
}

/** The HTTP transport: `@upstash/redis` with Larder's settings. */
export class UpstashTransport implements RedisTransport {
  readonly url: string;
  readonly #redis: UpstashRedis;

  constructor(options: UpstashClientOptions) {
    this.url = options.url;
    this.#redis = createUpstashClient(options);
  }

  async pipeline(commands: readonly RedisCommand[]): Promise<PipelineEntry[]> {
    if (commands.length === 0) return [];
    const pipeline = this.#redis.pipeline();
    for (const command of commands) addCommand(pipeline, command);
    try {
      return await pipeline.exec({ keepErrors: true }) as PipelineEntry[];
    } catch (err) {
      throw upstashFailure(err);
    }
  }

  async scriptLoad(source: string): Promise<void> {
    try {
      await this.#redis.scriptLoad(source);
    } catch (err) {
      throw upstashFailure(err);
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
