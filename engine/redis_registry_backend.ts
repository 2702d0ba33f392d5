/**
 * The `redis` registry backend: the document in one Redis hash (fields `version` and `text`),
 * reached over HTTP or TCP through the same transport as the Redis online store. Compare-and-set runs
 * server-side in one Lua script, so concurrent writers from any number of processes see exactly
 * one winner.
 */
import { LarderError, type RegistryBackend, type StoredText } from "../registry/mod.ts";
import {
  createRedisTransport,
  evalScriptCalls,
  RedisClusterTransport,
  redisFailure,
  redisScript,
  type RedisTransport,
} from "./online/mod.ts";

/** Options for {@linkcode RedisRegistryBackend}. */
export interface RedisRegistryBackendOptions {
  /** REST URL of Upstash or of a bridge (with `token`), or `redis(s)://…` for TCP. */
  readonly url?: string;
  /** The REST token; only for `http(s)://` URLs. */
  readonly token?: string | undefined;
  /** A Redis Cluster instead of `url`: `redis(s)://` URLs of some of its nodes. */
  readonly nodes?: readonly string[] | undefined;
  /** Use this transport instead of one made from `url` (the backend closes it). */
  readonly transport?: RedisTransport;
  /** The hash holding the document (`larder-registry:<project>` by default in `larder.yaml`). */
  readonly key: string;
  /**
   * Retries of a request that failed with a network error.
   * @default {2}
   */
  readonly retries?: number;
}

/**
 * KEYS[1]: the hash; ARGV: expected version, next version, next text. Returns -1 when written,
 * otherwise the stored version (0: none), changing nothing.
 */
const CAS_SCRIPT = `
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current ~= tonumber(ARGV[1]) then
  return current
end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'text', ARGV[3])
return -1
`;

const CAS = redisScript(CAS_SCRIPT);

/** The sources of every Lua script the backend sends (the Redis HTTP bridge registers them). */
export const REDIS_REGISTRY_SCRIPTS: readonly string[] = [CAS_SCRIPT];

/** The default key of a project's registry document. */
export function defaultRegistryKey(project: string): string {
  return `larder-registry:${project}`;
}

/**
 * Stores the registry document in Redis, over HTTP or TCP.
 *
 * @example
 * ```ts
 * import { RedisRegistryBackend } from "./redis_registry_backend.ts";
 * const backend = new RedisRegistryBackend({
 *   url: "http://127.0.0.1:8079",
 *   token: "secret",
 *   key: "larder-registry:demo",
 * });
 * console.log(await backend.read());
 * ```
 */
export class RedisRegistryBackend implements RegistryBackend {
  readonly location: string;
  readonly #redis: RedisTransport;
  readonly #key: string;

  constructor(options: RedisRegistryBackendOptions) {
    this.#key = options.key;
    this.#redis = options.transport ?? (options.nodes === undefined
      ? createRedisTransport({
        url: options.url ?? "",
        token: options.token,
        retries: options.retries,
      })
      : new RedisClusterTransport({ nodes: options.nodes }));
    this.location = `redis ${this.#redis.url} key "${options.key}"`;
  }

  async read(): Promise<StoredText | null> {
    let entries;
    try {
      entries = await this.#redis.pipeline([["HMGET", this.#key, "version", "text"]]);
    } catch (err) {
      throw redisFailure(err, `Cannot read the registry (${this.location})`);
    }
    const entry = entries[0];
    if (entry === undefined || entry.error !== undefined) {
      throw new LarderError(
        entry?.error?.startsWith("WRONGTYPE") ? "REGISTRY_CORRUPT" : "UNAVAILABLE",
        `Cannot read the registry (${this.location}): Redis answered "${entry?.error ?? ""}"`,
      );
    }
    const [version, text] = entry.result as [string | null, string | null];
    if (version === null && text === null) return null;
    const v = Number(version);
    if (text === null || !Number.isInteger(v) || v < 0) {
      throw new LarderError(
        "REGISTRY_CORRUPT",
        `Cannot read the registry (${this.location}): the hash has no valid "version" and "text"`,
      );
    }
    return { version: v, text };
  }

  async compareAndSet(expectedVersion: number, next: StoredText): Promise<void> {
    let entries;
    try {
      entries = await evalScriptCalls(this.#redis, {
        script: CAS,
        calls: [{
          keys: [this.#key],
          args: [String(expectedVersion), String(next.version), next.text],
        }],
      });
    } catch (err) {
      throw redisFailure(err, `Cannot write the registry (${this.location})`);
    }
    const entry = entries[0];
    if (entry === undefined || entry.error !== undefined) {
      throw new LarderError(
        "UNAVAILABLE",
        `Cannot write the registry (${this.location}): Redis answered "${entry?.error ?? ""}"`,
      );
    }
    const actual = Number(entry.result);
    if (actual !== -1) {
      throw new LarderError(
        "REGISTRY_CONFLICT",
        `The registry changed since it was read (read version ${expectedVersion}, now ${actual}): run the command again`,
        { details: { expectedVersion, actualVersion: actual } },
      );
    }
  }

  close(): Promise<void> {
    return this.#redis.close();
  }
}
