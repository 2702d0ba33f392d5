/** Maps `registry.type` to a backend: the only code that knows every registry backend. */
import { FileRegistryBackend, type RegistryBackend } from "../registry/mod.ts";
import type { LarderConfig } from "./config.ts";
import { inRepo } from "./_paths.ts";
import { upstashCredentials } from "./online/mod.ts";
import { defaultRegistryKey, RedisRegistryBackend } from "./redis_registry_backend.ts";

type Factory<T extends LarderConfig["registry"]["type"]> = (
  config: Extract<LarderConfig["registry"], { type: T }>,
  repoDir: string,
  project: string,
  env: (name: string) => string | undefined,
) => Promise<RegistryBackend>;

const FACTORIES: { [T in LarderConfig["registry"]["type"]]: Factory<T> } = {
  file: (config, repoDir) => Promise.resolve(new FileRegistryBackend(inRepo(repoDir, config.path))),
  redis: (config, _repoDir, project, env) =>
    new Promise((resolve) => {
      const { url, token } = upstashCredentials(config, { env, field: "registry" });
      resolve(
        new RedisRegistryBackend({ url, token, key: config.key ?? defaultRegistryKey(project) }),
      );
    }),
};

/** Creates the registry backend that `larder.yaml` asks for. */
export function createRegistryBackend(
  config: LarderConfig,
  repoDir: string,
  env: (name: string) => string | undefined,
): Promise<RegistryBackend> {
  const registry = config.registry;
  switch (registry.type) {
    case "file":
      return FACTORIES.file(registry, repoDir, config.project, env);
    case "redis":
      return FACTORIES.redis(registry, repoDir, config.project, env);
  }
}
