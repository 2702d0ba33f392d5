/** Maps `online_store.type` to a backend: the only code that knows every online store. */
import type { LarderConfig, OnlineStoreConfig } from "./config.ts";
import { inRepo } from "./_paths.ts";
import { DenoKvOnlineStore, RedisOnlineStore, upstashCredentials } from "./online/mod.ts";
import type { OnlineStore } from "./online/online_store.ts";

type Factory<T extends OnlineStoreConfig["type"]> = (
  config: Extract<OnlineStoreConfig, { type: T }>,
  context: { project: string; repoDir: string; env: (name: string) => string | undefined },
) => Promise<OnlineStore>;

const FACTORIES = {
  deno_kv: (config, { project, repoDir }) =>
    DenoKvOnlineStore.open({
      project,
      path: config.path === "platform" || config.path === ":memory:"
        ? config.path
        : inRepo(repoDir, config.path),
    }),
  redis: (config, { project, env }) =>
    new Promise<OnlineStore>((resolve) => {
      const { url, token } = upstashCredentials(config, { env, field: "online_store" });
      resolve(
        new RedisOnlineStore({
          project,
          url,
          token,
          keyPrefix: config.key_prefix,
          keyTtlSeconds: config.key_ttl_seconds,
        }),
      );
    }),
} satisfies { [T in OnlineStoreConfig["type"]]: Factory<T> };

/**
 * Creates the online store that `larder.yaml` asks for: `deno_kv` (default, `data/online.kv`
 * in the repo; `platform` on Deno Deploy) or `redis` (over HTTP; url and token from the file
 * or `UPSTASH_REDIS_REST_URL` / `UPSTASH_REDIS_REST_TOKEN`).
 */
export function createOnlineStore(
  config: LarderConfig,
  repoDir: string,
  options: {
    /** Environment lookup for `UPSTASH_REDIS_REST_*`. @default Deno.env.get */
    readonly env?: (name: string) => string | undefined;
  } = {},
): Promise<OnlineStore> {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const online = config.online_store;
  const context = { project: config.project, repoDir, env };
  switch (online.type) {
    case "deno_kv":
      return FACTORIES.deno_kv(online, context);
    case "redis":
      return FACTORIES.redis(online, context);
  }
}
