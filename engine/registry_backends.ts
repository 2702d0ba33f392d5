/** Maps `registry.type` to a backend: the only code that knows every registry backend. */
import { FileRegistryBackend, type RegistryBackend } from "../registry/mod.ts";
import type { LarderConfig } from "./config.ts";
import { inRepo } from "./_paths.ts";
import { upstashCredentials } from "./online/mod.ts";
import { defaultRegistryKey, RedisRegistryBackend } from "./redis_registry_backend.ts";
import { S3RegistryBackend } from "./s3_registry_backend.ts";

/** Creates the registry backend that `larder.yaml` asks for. A bad configuration rejects. */
export function createRegistryBackend(
  config: LarderConfig,
  repoDir: string,
  env: (name: string) => string | undefined,
): Promise<RegistryBackend> {
  const registry = config.registry;
  // Inside then(): a bad configuration rejects rather than throws.
  return Promise.resolve().then((): RegistryBackend => {
    switch (registry.type) {
      case "file":
        return new FileRegistryBackend(inRepo(repoDir, registry.path));
      case "redis": {
        if (registry.nodes !== undefined) {
          return new RedisRegistryBackend({
            nodes: registry.nodes,
            key: registry.key ?? defaultRegistryKey(config.project),
          });
        }
        const { url, token } = upstashCredentials(registry, { env, field: "registry" });
        return new RedisRegistryBackend({
          url,
          token,
          key: registry.key ?? defaultRegistryKey(config.project),
        });
      }
      case "s3":
        return new S3RegistryBackend({ url: registry.path });
    }
  });
}
