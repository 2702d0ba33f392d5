/**
 * @module
 * The entry for Deno Deploy (`deployctl deploy --entrypoint server/edge.ts`): the same app,
 * with the registry read from the `redis` or `s3` backend (both over fetch) and online reads
 * from Redis over HTTP (a `redis://` URL is a configuration error here) or Deno KV, as
 * `larder.yaml` (in `LARDER_REPO`, default the working folder) configures them.
 *
 * Nothing on the serving path loads DuckDB or parquet-wasm: materialization and
 * push-to-offline import them on first use only.
 *
 * @example
 * ```ts ignore
 * // main.ts of a deployment: the repo's definitions imported statically, so that on-demand
 * // transforms run at the edge.
 * import * as features from "./features.ts";
 * import { createEdgeHandler } from "@larder/larder/edge";
 * export default { fetch: createEdgeHandler({ definitions: { "features.ts": features } }) };
 * ```
 */
import { FeatureStore, loadConfig, requireHttpRedis } from "../engine/mod.ts";
import { createApp } from "./app.ts";
import { cannotStartResponse } from "./errors.ts";
import { depsFromFeatureStore } from "./feature_store_deps.ts";

/** Options for {@linkcode createEdgeHandler}. */
export interface EdgeOptions {
  /** The feature repo folder. @default Deno.env.get("LARDER_REPO") ?? "." */
  readonly repo?: string;
  /** Environment lookup for `${VAR}` in `larder.yaml`. @default Deno.env.get */
  readonly env?: (name: string) => string | undefined;
  /**
   * The repo's definition modules, imported statically by the deployment's entry so that
   * on-demand transforms run at the edge (Deno Deploy allows no computed dynamic imports):
   *
   * ```ts ignore
   * import * as features from "./features.ts";
   * import { createEdgeHandler } from "larder/server/edge.ts";
   * export default { fetch: createEdgeHandler({ definitions: { "features.ts": features } }) };
   * ```
   */
  readonly definitions?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/**
 * A fetch handler that opens the feature store on the first request (Deploy isolates start
 * on demand) and serves every later request from memory. When opening fails, requests answer
 * 503 (the reason goes to the log, not to callers) and the next one tries again.
 */
export function createEdgeHandler(options: EdgeOptions = {}): (req: Request) => Promise<Response> {
  let ready: Promise<(req: Request) => Response | Promise<Response>> | undefined;
  const open = async () => {
    const env = options.env ?? ((name: string) => Deno.env.get(name));
    const repo = options.repo ?? env("LARDER_REPO") ?? ".";
    const config = await loadConfig(repo, { env });
    requireHttpRedis(config, { env, where: "larder.yaml", platform: "The edge entry" });
    const store = await FeatureStore.open({
      repo,
      config,
      env,
      ...(options.definitions ? { definitions: options.definitions } : {}),
    });
    if (store.config.registry.type === "file") {
      console.warn(
        `larder edge: registry.type is "file"; on Deno Deploy use "redis" or "s3" so that applies reach running isolates`,
      );
    }
    // No file system to write logged features to.
    const wired = await depsFromFeatureStore(store, { featureLogging: false });
    return createApp(wired.deps).fetch;
  };
  return async (req) => {
    ready ??= open();
    let fetch: (req: Request) => Response | Promise<Response>;
    try {
      fetch = await ready;
    } catch (err) {
      ready = undefined;
      return cannotStartResponse(err, "larder edge");
    }
    return await fetch(req);
  };
}

const handler: (req: Request) => Promise<Response> = createEdgeHandler();

/** Deno Deploy's entry (a default export is what the platform requires). */
export default { fetch: handler };
