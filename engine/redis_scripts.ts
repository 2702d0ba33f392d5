/**
 * The sources of every Lua script Larder's own Redis code sends (`EVALSHA`, `EVAL` on
 * `NOSCRIPT`, `SCRIPT LOAD`): the online store's write and lock scripts and the registry
 * backend's compare-and-set. The Redis HTTP bridge lets these through by default, and names
 * them by `scriptSha1`, the SHA-1 the clients send.
 */
import { REDIS_STORE_SCRIPTS } from "./online/mod.ts";
import { REDIS_REGISTRY_SCRIPTS } from "./redis_registry_backend.ts";

export { scriptSha1 } from "./online/mod.ts";

/** Larder's Lua scripts, each exactly as sent. */
export const LARDER_REDIS_SCRIPTS: readonly string[] = [
  ...REDIS_STORE_SCRIPTS,
  ...REDIS_REGISTRY_SCRIPTS,
];
