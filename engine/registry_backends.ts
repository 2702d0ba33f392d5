/** Maps `registry.type` to a backend: the only code that knows every registry backend. */
import { FileRegistryBackend, LarderError, type RegistryBackend } from "../registry/mod.ts";
import type { LarderConfig } from "./config.ts";
import { inRepo } from "./_paths.ts";

type Factory<T extends LarderConfig["registry"]["type"]> = (
  config: Extract<LarderConfig["registry"], { type: T }>,
  repoDir: string,
  project: string,
  env: (name: string) => string | undefined,
) => Promise<RegistryBackend>;

const FACTORIES: { [T in LarderConfig["registry"]["type"]]: Factory<T> } = {
  file: (config, repoDir) => Promise.resolve(new FileRegistryBackend(inRepo(repoDir, config.path))),
  redis: () =>
    Promise.reject(
      new LarderError("CONFIG_INVALID", 'larder.yaml: registry.type: "redis" is not available yet'),
    ),
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
