/** `larder.yaml`: the feature repository's configuration, validated by one schema. */
import { z } from "zod";
import { load } from "js-yaml";
import {
  type Assert,
  type Equals,
  formatIssues,
  formatPath,
  LarderError,
  NameSchema,
} from "../registry/mod.ts";
import { type ObjectStoreConfig, ObjectStoreConfigSchema } from "./object_store/settings.ts";

const MEMORY = /^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i;
const CacheTtl = z.number().nonnegative().default(60);
const RedisUrl = z.url({
  protocol: /^(https?|rediss?)$/,
  error: (iss) =>
    `expected an http(s):// (REST) or redis(s):// (TCP) URL, got ${JSON.stringify(iss.input)}`,
});

const RedisNodeUrl = z.url({
  protocol: /^rediss?$/,
  error: (iss) =>
    `expected a redis:// or rediss:// URL of a cluster node, got ${JSON.stringify(iss.input)}`,
});
/** `nodes:` of a Redis Cluster, which replaces `url` (and its token). */
const RedisNodes = z.array(RedisNodeUrl).min(1, { error: "expected at least one node URL" });

/** A Redis section gives `url` or `nodes`, not both; `nodes` take no token. */
function urlXorNodes(
  section: { url?: string | undefined; token?: string | undefined; nodes?: string[] | undefined },
  ctx: z.RefinementCtx,
): void {
  if (section.nodes === undefined) return;
  if (section.url !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["nodes"],
      message: "give either url (one Redis) or nodes (a Redis Cluster), not both",
    });
  }
  if (section.token !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["token"],
      message:
        "a token is for http(s) URLs; cluster node URLs carry their password (redis://:password@host:6379)",
    });
  }
}

/** `registry:` — where the registry document lives: a JSON file, a key in Redis, an object. */
export type RegistryConfig =
  | {
    /** A JSON file. */
    type: "file";
    /** The file, relative to the repo unless absolute. @default {"data/registry.json"} */
    path: string;
    /** Seconds a read of the document is reused before it is read again. @default {60} */
    cache_ttl_seconds: number;
  }
  | {
    /** A key in Redis: over HTTP (an Upstash-compatible REST endpoint) or TCP. */
    type: "redis";
    /**
     * The REST URL (`https://…`), or `redis://[[user]:password@]host[:port][/db]` /
     * `rediss://…` (TLS) for TCP. @default `$UPSTASH_REDIS_REST_URL`
     */
    url?: string | undefined;
    /** The REST token (http(s) URLs only). @default `$UPSTASH_REDIS_REST_TOKEN` */
    token?: string | undefined;
    /** A Redis Cluster instead of `url`: `redis(s)://` URLs of some of its nodes. */
    nodes?: string[] | undefined;
    /** The key holding the document. @default `"larder-registry:<project>"` */
    key?: string | undefined;
    /** Seconds a read of the document is reused before it is read again. @default {60} */
    cache_ttl_seconds: number;
  }
  | {
    /**
     * One object in S3 or S3-compatible storage (`object_store:` has the credentials), replaced
     * by conditional writes (`If-Match` / `If-None-Match: *`).
     */
    type: "s3";
    /** `s3://bucket/key` of the document. */
    path: string;
    /** Seconds a read of the document is reused before it is read again. @default {60} */
    cache_ttl_seconds: number;
  };
const registryConfig = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("file"),
    path: z.string().min(1).default("data/registry.json"),
    cache_ttl_seconds: CacheTtl,
  }),
  z.strictObject({
    type: z.literal("redis"),
    /** Default: `UPSTASH_REDIS_REST_URL`. */
    url: RedisUrl.optional(),
    /** Default: `UPSTASH_REDIS_REST_TOKEN`. */
    token: z.string().min(1).optional(),
    nodes: RedisNodes.optional(),
    key: z.string().min(1).optional(),
    cache_ttl_seconds: CacheTtl,
  }).superRefine(urlXorNodes),
  z.strictObject({
    type: z.literal("s3"),
    path: z.string().regex(/^s3:\/\/[^/]+\/.+/, "expected s3://bucket/key"),
    cache_ttl_seconds: CacheTtl,
  }),
]);
/** Schema of `registry:`. */
export const RegistryConfigSchema: z.ZodType<RegistryConfig> = registryConfig;
type _RegistryConfig = Assert<Equals<z.output<typeof registryConfig>, RegistryConfig>>;

/** `online_store:` — where materialized features are served from: SQLite, Deno KV or Redis. */
export type OnlineStoreConfig =
  | {
    /** Deno KV. */
    type: "deno_kv";
    /**
     * A local file, relative to the repo unless absolute; `platform` uses the KV that Deno
     * Deploy provides.
     * @default {"data/online.kv"}
     */
    path: string;
    /**
     * Reads' consistency: `eventual` reads may miss recent writes (on Deno Deploy they are
     * served by the nearest region); writes and locks are always strong.
     * @default {"strong"}
     */
    consistency: "strong" | "eventual";
  }
  | {
    /** A SQLite file (the default for local repos), shared by every process on the machine. */
    type: "sqlite";
    /**
     * The file, relative to the repo unless absolute; `:memory:` for a throwaway store.
     * @default {"data/online.sqlite"}
     */
    path: string;
  }
  | {
    /** Redis: over HTTP (an Upstash-compatible REST endpoint) or TCP. */
    type: "redis";
    /**
     * The REST URL (`https://…`), or `redis://[[user]:password@]host[:port][/db]` /
     * `rediss://…` (TLS) for TCP. @default `$UPSTASH_REDIS_REST_URL`
     */
    url?: string | undefined;
    /** The REST token (http(s) URLs only). @default `$UPSTASH_REDIS_REST_TOKEN` */
    token?: string | undefined;
    /**
     * A Redis Cluster instead of `url`: `redis(s)://` URLs of some of its nodes (the others
     * are found from them). Keys then carry a bucket of the entity key as hash tag.
     */
    nodes?: string[] | undefined;
    /**
     * The `url` is a Redis HTTP bridge in front of a Redis Cluster: keys carry hash tags as
     * with `nodes`. @default {false}
     */
    cluster: boolean;
    /** Prefix of every key written. @default {"larder"} */
    key_prefix: string;
    /** Expire online rows this many seconds after they are written; absent: never. */
    key_ttl_seconds?: number | undefined;
  };
const onlineStoreConfig = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("deno_kv"),
    /** A local file; `platform` uses the KV that Deno Deploy provides. */
    path: z.string().min(1).default("data/online.kv"),
    /** `eventual`: reads may miss recent writes (on Deno Deploy: served by the nearest region). */
    consistency: z.enum(["strong", "eventual"]).default("strong"),
  }),
  z.strictObject({
    type: z.literal("sqlite"),
    /** A local SQLite file; `:memory:` for a throwaway store. */
    path: z.string().min(1).default("data/online.sqlite"),
  }),
  z.strictObject({
    type: z.literal("redis"),
    url: RedisUrl.optional(),
    token: z.string().min(1).optional(),
    nodes: RedisNodes.optional(),
    cluster: z.boolean().default(false),
    key_prefix: z.string().min(1).default("larder"),
    /** Expire online rows this long after they are written. */
    key_ttl_seconds: z.number().int().positive().optional(),
  }).superRefine((section, ctx) => {
    urlXorNodes(section, ctx);
    if ((section.nodes !== undefined || section.cluster) && /[{}]/.test(section.key_prefix)) {
      ctx.addIssue({
        code: "custom",
        path: ["key_prefix"],
        message:
          "on a Redis Cluster the prefix may not contain { or }: they would change the keys' hash tags",
      });
    }
  }),
]);
/** Schema of `online_store:`. */
export const OnlineStoreConfigSchema: z.ZodType<OnlineStoreConfig> = onlineStoreConfig;
type _OnlineStoreConfig = Assert<Equals<z.output<typeof onlineStoreConfig>, OnlineStoreConfig>>;

/**
 * `offline_store:` — the engine for historical retrieval and materialization reads: DuckDB
 * (in WebAssembly, over files; the default) or PostgreSQL (over Postgres sources, in the
 * database).
 */
export type OfflineStoreConfig = DuckDBOfflineStoreConfig | PostgresOfflineStoreConfig;

/** `offline_store: { type: duckdb }`: DuckDB (WebAssembly or native), reading file sources. */
export interface DuckDBOfflineStoreConfig {
  /** The engine: DuckDB. @default {"duckdb"} */
  type: "duckdb";
  /**
   * Which DuckDB: `wasm` (WebAssembly: runs wherever Deno runs, one thread, a heap of at most
   * about 4 GB) or `native` (`@duckdb/node-api`: every core, spills to disk, no ceiling).
   * @default {"wasm"}
   */
  engine: "wasm" | "native";
  /**
   * Most memory the engine may use, such as `"2GB"` or `"512MiB"`; beyond it WASM fails the
   * query and native spills to `temp_directory`. @default {"2GB"}
   */
  memory_limit: string;
  /** Native only: threads a query runs on. @default every core */
  threads?: number | undefined;
  /**
   * Native only: where DuckDB spills what does not fit under `memory_limit`, relative to the
   * repo unless absolute. @default a folder of its own under the system's temporary directory
   */
  temp_directory?: string | undefined;
}
const duckdbOfflineStoreConfig = z.strictObject({
  type: z.literal("duckdb").default("duckdb"),
  engine: z.enum(["wasm", "native"]).default("wasm"),
  memory_limit: z.string().regex(MEMORY, {
    error: (iss) => `expected a size such as "2GB" or "512MiB", got ${JSON.stringify(iss.input)}`,
  }).default("2GB"),
  threads: z.number().int().positive().optional(),
  temp_directory: z.string().min(1).optional(),
});
type _DuckDBOfflineStoreConfig = Assert<
  Equals<z.output<typeof duckdbOfflineStoreConfig>, DuckDBOfflineStoreConfig>
>;

/**
 * `offline_store: { type: postgres }`: PostgreSQL (or a Postgres-wire warehouse) runs the
 * point-in-time joins and materialization reads over Postgres sources. Connection settings
 * absent here come from libpq's environment variables (`PGHOST`, `PGPORT`, `PGDATABASE`,
 * `PGUSER`, `PGPASSWORD`); write `${VAR}` to take any value from another variable.
 */
export interface PostgresOfflineStoreConfig {
  /** The engine: PostgreSQL. */
  type: "postgres";
  /**
   * `postgres://user:password@host:port/database?sslmode=require`. Fields given beside it
   * override its parts.
   */
  url?: string | undefined;
  /** The server's host name. @default `$PGHOST`, else `localhost` */
  host?: string | undefined;
  /** The server's port. @default `$PGPORT`, else 5432 */
  port?: number | undefined;
  /** The database. @default `$PGDATABASE`, else the user name */
  database?: string | undefined;
  /** The user. @default `$PGUSER`, else the system user */
  user?: string | undefined;
  /** The password (write `${PGPASSWORD}` or leave it to `$PGPASSWORD`, not the secret itself). */
  password?: string | undefined;
  /** TLS: `disable`, `prefer`, `require` or `verify-full`. @default {"prefer"} or the URL's `sslmode` */
  ssl?: "disable" | "prefer" | "require" | "verify-full" | undefined;
  /** Most connections the store opens at once. @default {4} */
  max_connections: number;
  /** Seconds to wait for a connection before failing. @default {10} */
  connect_timeout_seconds: number;
  /** Seconds one statement may run before Postgres cancels it; 0: no limit. @default {0} */
  statement_timeout_seconds: number;
  /** Rows fetched per round trip from the result cursor (bounds memory). @default {10000} */
  fetch_rows: number;
  /**
   * Server settings for Larder's sessions, such as `work_mem: 256MB`; they replace the
   * defaults given (temporary tables hold each retrieval's staged rows).
   * @default {{ temp_buffers: "256MB", work_mem: "64MB", maintenance_work_mem: "256MB" }}
   */
  settings: Record<string, string>;
}
const postgresOfflineStoreConfig = z.strictObject({
  type: z.literal("postgres"),
  url: z.url({
    protocol: /^postgres(ql)?$/,
    error: (iss) => `expected a postgres:// or postgresql:// URL, got ${JSON.stringify(iss.input)}`,
  }).optional(),
  host: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  database: z.string().min(1).optional(),
  user: z.string().min(1).optional(),
  password: z.string().optional(),
  ssl: z.enum(["disable", "prefer", "require", "verify-full"]).optional(),
  max_connections: z.number().int().positive().default(4),
  connect_timeout_seconds: z.number().positive().default(10),
  statement_timeout_seconds: z.number().nonnegative().default(0),
  fetch_rows: z.number().int().positive().default(10_000),
  settings: z.record(
    z.string().regex(/^[a-z_][a-z0-9_.]*$/, { error: "expected a server setting's name" }),
    z.union([z.string(), z.number().transform(String)]),
  ).default({ temp_buffers: "256MB", work_mem: "64MB", maintenance_work_mem: "256MB" }),
});
type _PostgresOfflineStoreConfig = Assert<
  Equals<z.output<typeof postgresOfflineStoreConfig>, PostgresOfflineStoreConfig>
>;

const offlineStoreConfig = z.discriminatedUnion("type", [
  duckdbOfflineStoreConfig,
  postgresOfflineStoreConfig,
]);
/** Schema of `offline_store:`. */
export const OfflineStoreConfigSchema: z.ZodType<OfflineStoreConfig> = offlineStoreConfig;
type _OfflineStoreConfig = Assert<Equals<z.output<typeof offlineStoreConfig>, OfflineStoreConfig>>;

/** `auth:` — how the feature server identifies callers: nobody, bearer tokens, or OIDC. */
export type AuthConfig =
  | {
    /** No authentication: every caller is anonymous, with no roles. */
    type: "none";
  }
  | {
    /** Static bearer tokens, stored as SHA-256 hashes. */
    type: "token";
    /** The accepted tokens. */
    tokens: {
      /** Who the token belongs to, for logs and error messages. */
      name: string;
      /** SHA-256 hex of the token; the token itself is never stored. */
      sha256: string;
      /** The roles a caller with this token holds. @default {[]} */
      roles: string[];
    }[];
  }
  | {
    /** OpenID Connect: JWTs signed by the issuer's keys. */
    type: "oidc";
    /** The issuer URL (the JWT's `iss`). */
    issuer: string;
    /** The audience a token must name (the JWT's `aud`). */
    audience: string;
    /** Where the signing keys are. @default the discovery document's `jwks_uri` */
    jwks_url?: string | undefined;
    /** The claim listing the caller's roles. @default {"roles"} */
    roles_claim: string;
  };
const authConfig = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("none") }),
  z.strictObject({
    type: z.literal("token"),
    tokens: z.array(z.strictObject({
      name: z.string().min(1),
      /** SHA-256 hex of the token; the token itself is never stored. */
      sha256: z.string().regex(/^[0-9a-f]{64}$/, { error: "expected 64 lowercase hex digits" }),
      roles: z.array(z.string().min(1)).default([]),
    })).min(1),
  }),
  z.strictObject({
    type: z.literal("oidc"),
    issuer: z.url(),
    audience: z.string().min(1),
    /** Default: the issuer's discovery document's `jwks_uri`. */
    jwks_url: z.url().optional(),
    roles_claim: z.string().min(1).default("roles"),
  }),
]);
/** Schema of `auth:`. */
export const AuthConfigSchema: z.ZodType<AuthConfig> = authConfig;
type _AuthConfig = Assert<Equals<z.output<typeof authConfig>, AuthConfig>>;

const Seconds = z.number({
  error: (iss) =>
    iss.code === "invalid_type"
      ? `expected a number of seconds, got ${JSON.stringify(iss.input)}`
      : undefined,
}).positive();

/**
 * `feature_server.logging:` — how the feature server buffers and writes the rows it logs for
 * feature services with `logging` (which services, how often and where: their definitions).
 */
export interface FeatureLogConfig {
  /**
   * Most logged rows held in memory, waiting to be written; a request that does not fit is not
   * logged (counted in `/metrics` as dropped), and never waits. @default {100000}
   */
  queue_size: number;
  /**
   * A service's rows are written as one Parquet part once this many are waiting.
   * @default 10000, or `queue_size` when smaller
   */
  batch_size: number;
  /** Seconds between writes of whatever is waiting (and at shutdown). @default {10} */
  flush_interval_seconds: number;
}
const featureLogConfig = z.strictObject({
  queue_size: z.number().int().positive().default(100_000),
  batch_size: z.number().int().positive().optional(),
  flush_interval_seconds: Seconds.default(10),
}).transform((c) => ({
  queue_size: c.queue_size,
  batch_size: c.batch_size ?? Math.min(10_000, c.queue_size),
  flush_interval_seconds: c.flush_interval_seconds,
})).refine((c) => c.batch_size <= c.queue_size, {
  error: (iss) => {
    const c = iss.input as { batch_size: number; queue_size: number };
    return `batch_size (${c.batch_size}) must not exceed queue_size (${c.queue_size})`;
  },
  path: ["batch_size"],
});
/** Schema of `feature_server.logging:`. */
export const FeatureLogConfigSchema: z.ZodType<FeatureLogConfig> = featureLogConfig;
type _FeatureLogConfig = Assert<Equals<z.output<typeof featureLogConfig>, FeatureLogConfig>>;

/** `feature_server:` — what `serve` exposes, and the limits on its connections. */
export interface FeatureServerConfig {
  /** Serve only these feature services (and nothing else); absent: everything. */
  feature_services?: string[] | undefined;
  /**
   * Who may read `/metrics`: anyone, or (with `auth` on) any caller with valid credentials.
   * @default {"public"}
   */
  metrics: "public" | "authenticated";
  /** Most connections open at once; one more is answered 503 and closed. @default {512} */
  max_connections: number;
  /** Seconds a new connection has to send the headers of its first request. @default {10} */
  header_timeout_seconds: number;
  /** Seconds a connection stays open after a response without a next request. @default {75} */
  idle_timeout_seconds: number;
  /** Seconds a request has to send its body, once its headers are in. @default {30} */
  body_timeout_seconds: number;
  /**
   * Refuse unknown keys in request bodies (422) instead of ignoring them as Feast does.
   * @default {false}
   */
  strict_bodies: boolean;
  /** Buffering and writing of logged features. @default queue 100000 rows, batches of 10000, every 10 s */
  logging: FeatureLogConfig;
}
const featureServerConfig = z.strictObject({
  /** Serve only these feature services (and nothing else). */
  feature_services: z.array(NameSchema).optional(),
  /** Who may read `/metrics`: anyone, or (with `auth` on) any caller with valid credentials. */
  metrics: z.enum(["public", "authenticated"]).default("public"),
  /** Most connections open at once; one more is answered 503 and closed. */
  max_connections: z.number().int().positive().default(512),
  /** Seconds a new connection has to send the headers of its first request. */
  header_timeout_seconds: Seconds.default(10),
  /** Seconds a connection stays open after a response without a next request. */
  idle_timeout_seconds: Seconds.default(75),
  /** Seconds a request has to send its body, once its headers are in. */
  body_timeout_seconds: Seconds.default(30),
  /** Refuse unknown keys in request bodies (422) instead of ignoring them as Feast does. */
  strict_bodies: z.boolean().default(false),
  /** Buffering and writing of logged features. */
  logging: featureLogConfig.prefault({}),
});
/** Schema of `feature_server:`. */
export const FeatureServerConfigSchema: z.ZodType<FeatureServerConfig> = featureServerConfig;
type _FeatureServerConfig = Assert<
  Equals<z.output<typeof featureServerConfig>, FeatureServerConfig>
>;

/** `streaming:` — the brokers the stream processor reads stream sources from. */
export interface StreamingConfig {
  /** Redis Streams. */
  redis: {
    /**
     * `redis://[[user]:password@]host[:port][/db]` or `rediss://…` (TLS).
     * @default {"redis://127.0.0.1:6379"}
     */
    url: string;
  };
  /** NATS JetStream. */
  nats: {
    /** Server addresses (`host:port` or `nats://host:port`). @default {["127.0.0.1:4222"]} */
    servers: string[];
  };
}
const streamingConfig = z.strictObject({
  redis: z.strictObject({
    url: z.url({
      protocol: /^rediss?$/,
      error: (iss) => `expected a redis(s):// URL, got ${JSON.stringify(iss.input)}`,
    }).default("redis://127.0.0.1:6379"),
  }).prefault({}),
  nats: z.strictObject({
    servers: z.array(z.string().min(1)).min(1).default(["127.0.0.1:4222"]),
  }).prefault({}),
});
/** Schema of `streaming:`. */
export const StreamingConfigSchema: z.ZodType<StreamingConfig> = streamingConfig;
type _StreamingConfig = Assert<Equals<z.output<typeof streamingConfig>, StreamingConfig>>;

/** The whole of `larder.yaml`, with defaults filled in. */
export interface LarderConfig {
  /** The project: one registry document, one namespace in the online store. */
  project: string;
  /** Where the registry document lives. @default a file at `data/registry.json` */
  registry: RegistryConfig;
  /** Where materialized features are served from. @default SQLite at `data/online.sqlite` */
  online_store: OnlineStoreConfig;
  /** The engine for historical retrieval. @default DuckDB-WASM with 2GB */
  offline_store: OfflineStoreConfig;
  /** How the feature server identifies callers. @default `{ type: "none" }` */
  auth: AuthConfig;
  /** Credentials and endpoint for `s3://` URLs. @default the `AWS_*` environment variables */
  object_store?: ObjectStoreConfig | undefined;
  /** Definition modules, relative to the repo. @default every top-level `*.ts` module that exports */
  definitions?: string[] | undefined;
  /** What `serve` exposes, and the limits on its connections. */
  feature_server: FeatureServerConfig;
  /** The brokers of stream sources. @default local Redis and NATS on their usual ports */
  streaming: StreamingConfig;
}
const larderConfig = z.strictObject({
  project: NameSchema,
  registry: registryConfig.default({
    type: "file",
    path: "data/registry.json",
    cache_ttl_seconds: 60,
  }),
  online_store: onlineStoreConfig.default({ type: "sqlite", path: "data/online.sqlite" }),
  offline_store: offlineStoreConfig.default({
    type: "duckdb",
    engine: "wasm",
    memory_limit: "2GB",
  }),
  auth: authConfig.default({ type: "none" }),
  object_store: ObjectStoreConfigSchema.optional(),
  /** Definition modules, relative to the repo; default: every top-level `*.ts` module that exports. */
  definitions: z.array(z.string().min(1)).min(1).optional(),
  feature_server: featureServerConfig.prefault({}),
  streaming: streamingConfig.prefault({}),
});
/** Schema of `larder.yaml`. */
export const LarderConfigSchema: z.ZodType<LarderConfig> = larderConfig;
type _LarderConfig = Assert<Equals<z.output<typeof larderConfig>, LarderConfig>>;

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces `${VAR}` and `${VAR:-default}` in every string of a parsed YAML tree. */
export function interpolateEnv(
  value: unknown,
  env: (name: string) => string | undefined,
  file: string,
  path: PropertyKey[] = [],
): unknown {
  if (typeof value === "string") {
    return value.replace(ENV_REF, (_m, name: string, fallback: string | undefined) => {
      const found = env(name);
      if (found !== undefined) return found;
      if (fallback !== undefined) return fallback;
      throw new LarderError(
        "CONFIG_INVALID",
        `${file}: ${formatPath(path)}: environment variable "${name}" is not set`,
        { details: { file, path: formatPath(path), variable: name } },
      );
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, file, [...path, i]));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, env, file, [...path, k])]),
    );
  }
  return value;
}

/** Parses and validates the text of `larder.yaml`; `file` names it in messages. */
export function parseConfig(
  text: string,
  options: { file?: string; env?: (name: string) => string | undefined } = {},
): LarderConfig {
  const file = options.file ?? "larder.yaml";
  let raw: unknown;
  try {
    raw = load(text, { filename: file });
  } catch (err) {
    const e = err as { name?: unknown; reason?: string; mark?: { line: number; column: number } };
    if (e?.name !== "YAMLException") throw err;
    const at = e.mark ? `line ${e.mark.line + 1}, column ${e.mark.column + 1}: ` : "";
    throw new LarderError("CONFIG_INVALID", `${file}: ${at}${e.reason ?? "invalid YAML"}`);
  }
  return configFromObject(raw, { file, ...(options.env ? { env: options.env } : {}) });
}

/**
 * Validates settings already parsed (what `larder.yaml` holds, as an object: from JSON, an
 * environment binding, or code), with `${VAR}` in strings replaced as in the file; `file` names
 * where they came from in messages.
 */
export function configFromObject(
  raw: unknown,
  options: { file?: string; env?: (name: string) => string | undefined } = {},
): LarderConfig {
  const file = options.file ?? "larder.yaml";
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new LarderError("CONFIG_INVALID", `${file}: expected a mapping with at least "project"`);
  }
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const interpolated = interpolateEnv(raw, env, file);
  const parsed = LarderConfigSchema.safeParse(interpolated);
  if (!parsed.success) {
    const lines = formatIssues(parsed.error, interpolated, { schema: LarderConfigSchema });
    throw new LarderError("CONFIG_INVALID", lines.map((l) => `${file}: ${l}`).join("\n"), {
      details: { file, issues: lines },
    });
  }
  return parsed.data;
}

/** Reads and validates `<repo>/larder.yaml`. */
export async function loadConfig(
  repo: string,
  options: { env?: (name: string) => string | undefined } = {},
): Promise<LarderConfig> {
  const path = `${repo}/larder.yaml`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new LarderError(
        "CONFIG_INVALID",
        `Cannot find larder.yaml in "${repo}": run "larder init" to create a feature repo, or pass --repo`,
      );
    }
    throw err;
  }
  return parseConfig(text, { file: "larder.yaml", ...options });
}
