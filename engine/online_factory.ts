/** Maps `online_store.type` to a backend: the only code that knows every online store. */
import type { LarderConfig } from "./config.ts";
import { inRepo } from "./_paths.ts";
import { LarderError } from "../registry/mod.ts";
import {
  DenoKvOnlineStore,
  isTcpRedisUrl,
  redactRedisUrl,
  RedisOnlineStore,
  SqliteOnlineStore,
  upstashCredentials,
} from "./online/mod.ts";
import type { OnlineStore } from "./online/online_store.ts";

/**
 * Creates the online store that `larder.yaml` asks for: `sqlite` (default, `data/online.sqlite`
 * in the repo), `deno_kv` (`data/online.kv`; `platform` on Deno Deploy) or `redis` (over HTTP, url and token from the file
 * or `UPSTASH_REDIS_REST_URL` / `UPSTASH_REDIS_REST_TOKEN`; or over TCP for a `redis://` or
 * `rediss://` url; or a Redis Cluster for `nodes`). A bad configuration rejects.
 */
export async function createOnlineStore(
  config: LarderConfig,
  repoDir: string,
  options: {
    /** Environment lookup for `UPSTASH_REDIS_REST_*`. @default Deno.env.get */
    readonly env?: (name: string) => string | undefined;
  } = {},
): Promise<OnlineStore> {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const online = config.online_store;
  switch (online.type) {
    case "deno_kv":
      return await DenoKvOnlineStore.open({
        project: config.project,
        path: online.path === "platform" || online.path === ":memory:"
          ? online.path
          : inRepo(repoDir, online.path),
        consistency: online.consistency,
      });
    case "sqlite":
      return await SqliteOnlineStore.open({
        project: config.project,
        path: online.path === ":memory:" ? online.path : inRepo(repoDir, online.path),
      });
    case "redis": {
      if (online.nodes !== undefined) {
        return new RedisOnlineStore({
          project: config.project,
          nodes: online.nodes,
          keyPrefix: online.key_prefix,
          keyTtlSeconds: online.key_ttl_seconds,
        });
      }
      const { url, token } = upstashCredentials(online, { env, field: "online_store" });
      return new RedisOnlineStore({
        project: config.project,
        url,
        token,
        cluster: online.cluster,
        keyPrefix: online.key_prefix,
        keyTtlSeconds: online.key_ttl_seconds,
      });
    }
  }
}

/**
 * Throws `CONFIG_INVALID` when `registry` or `online_store` reaches Redis over TCP (a
 * `redis://` or `rediss://` url, from the file or `UPSTASH_REDIS_REST_URL`): edge platforms
 * reach Redis over HTTP only. `where` opens the message (`larder.yaml`, `LARDER_CONFIG`).
 */
export function requireHttpRedis(
  config: LarderConfig,
  options: {
    readonly env: (name: string) => string | undefined;
    readonly where: string;
    readonly platform: string;
  },
): void {
  for (const field of ["registry", "online_store"] as const) {
    const section = config[field];
    if (section.type !== "redis") continue;
    if (section.nodes !== undefined) {
      throw new LarderError(
        "CONFIG_INVALID",
        `${options.where}: ${field}.nodes: ${options.platform} reaches Redis over HTTP only (the Upstash REST protocol): a Redis Cluster needs a bridge in front of it (redis-http --redis-cluster) and its https:// URL and token`,
        { details: { field: `${field}.nodes` } },
      );
    }
    const url = section.url ?? options.env("UPSTASH_REDIS_REST_URL");
    if (url !== undefined && isTcpRedisUrl(url)) {
      throw new LarderError(
        "CONFIG_INVALID",
        `${options.where}: ${field}.url: ${options.platform} reaches Redis over HTTP only (the Upstash REST protocol): use an https:// REST URL and token, got "${
          redactRedisUrl(url)
        }"`,
        { details: { field: `${field}.url` } },
      );
    }
  }
}
