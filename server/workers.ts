/**
 * The entry for Cloudflare Workers (and `workerd`, their open-source runtime): the same app as
 * `main.ts` and `edge.ts`, with the registry read from the `redis` backend and online reads
 * from Redis over HTTP (the Upstash REST protocol).
 *
 * A Worker has no file system and no `Deno`: the settings `larder.yaml` would hold come as an
 * object, or from the `LARDER_CONFIG` binding (the text of `larder.yaml`, YAML or JSON), and are
 * validated by the same schema as the file. `${VAR}` in them, and the default credentials
 * `UPSTASH_REDIS_REST_URL` / `UPSTASH_REDIS_REST_TOKEN`, are read from the Worker's text
 * bindings. On-demand transforms come from the definition modules the entry imports statically.
 *
 * Online reads, online writes, pushes to the online store, the registry API and `/health`
 * work; materialization and anything offline (DuckDB, Parquet files) do not exist on Workers.
 * `deno task build-workers` bundles this entry with a repo's definitions (see
 * `docs/feature-server.md`).
 *
 * @example
 * ```ts ignore
 * import * as features from "./features.ts";
 * import { createWorkersHandler } from "@larder/larder/workers";
 * export default createWorkersHandler({ definitions: { "features.ts": features } });
 * ```
 *
 * @module
 */
import type { Assert, Equals } from "../registry/mod.ts";
import {
  configFromObject,
  FeatureStore,
  type LarderConfig,
  LarderError,
  parseConfig,
  requireHttpRedis,
} from "../engine/mod.ts";

export type {
  AuthConfig,
  FeatureServerConfig,
  LarderConfig,
  OfflineStoreConfig,
  OnlineStoreConfig,
  RegistryConfig,
} from "../engine/mod.ts";
import { z } from "zod";
import { createApp } from "./app.ts";
import { cannotStartResponse } from "./errors.ts";
import { depsFromFeatureStore, type WiredDeps } from "./feature_store_deps.ts";

/** The bindings of the Worker (`env`): text bindings are read, others are ignored. */
export type WorkersEnv = Readonly<Record<string, unknown>>;

/** What a Worker's `fetch` gets as its third argument (only `waitUntil` is used). */
export interface WorkersContext {
  /** Keeps the Worker alive until `promise` settles, after the response is sent. */
  waitUntil(promise: Promise<unknown>): void;
}

/** Options for {@linkcode createWorkersHandler}. */
export interface WorkersOptions {
  /**
   * The settings `larder.yaml` would hold, as an object (`${VAR}` in strings is read from the
   * Worker's text bindings). @default the `LARDER_CONFIG` binding, parsed as YAML or JSON
   */
  readonly config?: unknown;
  /**
   * The repo's definition modules by file name, imported statically by the Worker's entry, so
   * that on-demand transforms run in the Worker.
   */
  readonly definitions?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** A Worker: the object a module Worker exports as its default. */
export interface WorkersHandler {
  /** Answers one request; `env` holds the Worker's bindings, `ctx` its `waitUntil`. */
  fetch(req: Request, env?: WorkersEnv, ctx?: WorkersContext): Promise<Response>;
}

/** The binding that holds the settings when `config` is not given. */
const CONFIG_BINDING = "LARDER_CONFIG";

/** The binding that holds the {@linkcode BundledTransforms} of the build. */
const TRANSFORMS_BINDING = "LARDER_TRANSFORMS";

/**
 * On-demand transforms whose text the bundler rewrote, by view: the hash (and text) of the
 * transform as Deno loads the definition module, which is what `apply` recorded, and the hash of
 * the same transform in the bundle. `deno task build-workers` writes it, having loaded both.
 */
export type BundledTransforms = Record<string, {
  /** SHA-256 of the transform's text as Deno loads the definition module (what apply records). */
  hash: string;
  /** That text. */
  source: string;
  /** SHA-256 of the same transform's text in the bundle. */
  bundled: string;
}>;
const BundledTransformsSchema = z.record(
  z.string(),
  z.strictObject({ hash: z.string(), source: z.string(), bundled: z.string() }),
);
type _BundledTransforms = Assert<
  Equals<z.output<typeof BundledTransformsSchema>, BundledTransforms>
>;

type Modules = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

/** The definitions, with each bundled transform named by its source's hash and text. */
function withSourceHashes(modules: Modules, transforms: BundledTransforms): Modules {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [file, mod] of Object.entries(modules)) {
    out[file] = {};
    for (const [name, value] of Object.entries(mod)) {
      const spec = (value as { spec?: { name?: unknown; transformHash?: unknown } } | null)?.spec;
      const known = typeof spec?.name === "string" && Object.hasOwn(transforms, spec.name)
        ? transforms[spec.name]
        : undefined;
      // Only the transform the build saw: an edited one keeps its own hash, and drifts.
      out[file][name] = known && spec?.transformHash === known.bundled
        ? Object.freeze(
          Object.create(Object.getPrototypeOf(value), {
            ...Object.getOwnPropertyDescriptors(value),
            spec: {
              value: { ...spec, transformHash: known.hash, transformSource: known.source },
              enumerable: true,
            },
          }),
        )
        : value;
    }
  }
  return out;
}

function bundledTransforms(env: WorkersEnv): BundledTransforms {
  const text = lookup(env)(TRANSFORMS_BINDING);
  if (text === undefined) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new LarderError("CONFIG_INVALID", `${TRANSFORMS_BINDING}: expected JSON`);
  }
  const parsed = BundledTransformsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new LarderError(
      "CONFIG_INVALID",
      `${TRANSFORMS_BINDING}: expected what build-workers writes: ${parsed.error.message}`,
    );
  }
  return parsed.data;
}

function lookup(env: WorkersEnv): (name: string) => string | undefined {
  return (name) => {
    const value = Object.hasOwn(env, name) ? env[name] : undefined;
    return typeof value === "string" ? value : undefined;
  };
}

/**
 * The settings, validated as `larder.yaml` is: `options.config`, else the `LARDER_CONFIG`
 * binding. Every error names where they came from (`options.file`, default `"config"` or
 * `"LARDER_CONFIG"`).
 */
export function workersConfig(
  env: WorkersEnv,
  options: { readonly config?: unknown; readonly file?: string } = {},
): LarderConfig {
  const vars = lookup(env);
  const where = options.file ?? (options.config !== undefined ? "config" : CONFIG_BINDING);
  let config: LarderConfig;
  if (options.config !== undefined) {
    config = configFromObject(options.config, { file: where, env: vars });
  } else {
    const text = vars(CONFIG_BINDING);
    if (text === undefined) {
      throw new LarderError(
        "CONFIG_INVALID",
        `Cannot find the settings: set the "${CONFIG_BINDING}" binding to the text of larder.yaml (YAML or JSON), or pass config to createWorkersHandler()`,
      );
    }
    config = parseConfig(text, { file: where, env: vars });
  }
  if (config.registry.type !== "redis") {
    throw new LarderError(
      "CONFIG_INVALID",
      `${where}: registry.type: expected "redis" on Cloudflare Workers (no file system), got "${config.registry.type}"`,
    );
  }
  if (config.online_store.type !== "redis") {
    throw new LarderError(
      "CONFIG_INVALID",
      `${where}: online_store.type: expected "redis" on Cloudflare Workers (Deno KV is Deno's), got "${config.online_store.type}"`,
    );
  }
  requireHttpRedis(config, { env: vars, where, platform: "Cloudflare Workers" });
  return config;
}

/**
 * A module Worker that opens the feature store on the first request (with the bindings of that
 * request) and serves every later request from memory. When opening fails, requests answer 503
 * (the reason goes to the log, not to callers) and the next one tries again.
 *
 * Workers run no timers between requests, so the registry is re-read by requests: one that
 * finds it older than `registry.cache_ttl_seconds` starts a read in the background
 * (`ctx.waitUntil`) and is served the document in memory.
 */
export function createWorkersHandler(options: WorkersOptions = {}): WorkersHandler {
  let ready:
    | Promise<
      { wired: WiredDeps; ttl: number; fetch: (req: Request) => Response | Promise<Response> }
    >
    | undefined;
  const open = async (env: WorkersEnv) => {
    const config = workersConfig(
      env,
      options.config !== undefined ? { config: options.config } : {},
    );
    const store = await FeatureStore.open({
      repo: "/",
      config,
      env: lookup(env),
      ...(options.definitions
        ? { definitions: withSourceHashes(options.definitions, bundledTransforms(env)) }
        : {}),
    });
    // One request's read never waits for another's: a Worker may not settle one request's
    // promises with another request's I/O.
    // No file system to write logged features to.
    const wired = await depsFromFeatureStore(store, { readBatching: false, featureLogging: false });
    return {
      wired,
      ttl: config.registry.cache_ttl_seconds,
      fetch: createApp(wired.deps).fetch,
    };
  };
  return {
    async fetch(req, env = {}, ctx) {
      ready ??= open(env);
      let served: Awaited<typeof ready>;
      try {
        served = await ready;
      } catch (err) {
        ready = undefined;
        return cannotStartResponse(err, "larder workers");
      }
      const age = served.wired.registry.ageSeconds();
      if (ctx && age !== undefined && age >= Math.max(served.ttl, 1)) {
        ctx.waitUntil(
          served.wired.registry.check().catch((err) => console.error("larder workers:", err)),
        );
      }
      return await served.fetch(req);
    },
  };
}
