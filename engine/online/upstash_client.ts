/**
 * The one module that imports `@upstash/redis`: creates the client the Redis online store and
 * the Redis registry backend share, and turns its failures into `LarderError`s.
 *
 * Settings, each on purpose:
 * - `enableTelemetry: false`: no telemetry headers leave the process.
 * - `automaticDeserialization: false`: replies stay as Redis sent them; callers decode.
 * - `responseEncoding: false`: Larder stores only UTF-8 text, so replies need no base64 round.
 * - `enableAutoPipelining: false`: callers build their pipelines explicitly.
 * - `retry`: network errors only, {@linkcode UpstashClientOptions.retries} times with a short
 *   exponential backoff (the client's default of 5 takes ~4 s to give up).
 */
import { createHash } from "node:crypto";
import { Redis } from "@upstash/redis";
import { LarderError } from "../../registry/mod.ts";

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
 * `UPSTASH_REDIS_REST_TOKEN`. Throws `CONFIG_INVALID` naming what is missing; `field` is the
 * configuration section for the message (`online_store`, `registry`).
 */
export function upstashCredentials(
  config: { readonly url?: string | undefined; readonly token?: string | undefined },
  options: { readonly env: (name: string) => string | undefined; readonly field: string },
): { url: string; token: string } {
  const { env, field } = options;
  const url = config.url ?? env("UPSTASH_REDIS_REST_URL");
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
 * A `LarderError` for a failed request: `UNAUTHENTICATED` when the token is refused,
 * otherwise `UNAVAILABLE`. `what` opens the message (`Cannot write to the online store
 * (redis http://…)`); the client's echo of the request body is dropped.
 */
export function upstashFailure(err: unknown, what: string): LarderError {
  const raw = err instanceof Error ? err.message : String(err);
  const reason = raw.split(", command was:")[0]!.trim().replace(/\.$/, "") || "no reason given";
  return new LarderError(
    AUTH_FAILURE.test(reason) ? "UNAUTHENTICATED" : "UNAVAILABLE",
    `${what}: ${reason}`,
    { cause: err },
  );
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

/** One entry of a pipeline's answer. */
export interface PipelineEntry {
  readonly result: unknown;
  readonly error: string | undefined;
}

/**
 * Runs script calls with `EVALSHA` in one pipeline (one HTTP request); calls that fail with
 * `NOSCRIPT` (the server had not cached the script) are sent again with `EVAL`, which caches
 * it. Returns one entry per call; transport failures throw (the client's errors).
 */
export async function evalScriptCalls(
  redis: UpstashRedis,
  options: { readonly script: RedisScript; readonly calls: readonly ScriptCall[] },
): Promise<PipelineEntry[]> {
  const { script, calls } = options;
  if (calls.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const call of calls) pipeline.evalsha(script.sha1, [...call.keys], [...call.args]);
  const entries = await pipeline.exec({ keepErrors: true }) as PipelineEntry[];
  const missing = entries.flatMap((e, i) => e.error?.startsWith("NOSCRIPT") ? [i] : []);
  if (missing.length === 0) return entries;
  const retry = redis.pipeline();
  for (const i of missing) retry.eval(script.source, [...calls[i]!.keys], [...calls[i]!.args]);
  const again = await retry.exec({ keepErrors: true }) as PipelineEntry[];
  missing.forEach((callIndex, j) => {
    entries[callIndex] = again[j]!;
  });
  return entries;
}

/** Runs a pipeline built by `build` and returns its entries (errors kept). */
export async function runPipeline(
  redis: UpstashRedis,
  build: (pipeline: ReturnType<UpstashRedis["pipeline"]>) => void,
): Promise<PipelineEntry[]> {
  const pipeline = redis.pipeline();
  build(pipeline);
  return await pipeline.exec({ keepErrors: true }) as PipelineEntry[];
}
