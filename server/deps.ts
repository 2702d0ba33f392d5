/**
 * What the app is built from, passed in as values: the registry as served, the online
 * store, the engine's operations, the auth verifier and the settings.
 * Only the entry files (`main.ts`, `edge.ts`) wire concrete backends.
 */
import type { MaterializeWindow, OnlineStore, RegistryDocument } from "../engine/mod.ts";
import type { AuthVerifier } from "./auth/mod.ts";
import type { Metrics } from "./metrics.ts";
import type { RegistryRegression } from "./registry_cache.ts";
import type { OnlineFeaturesResponse } from "./schemas.ts";
import type { UiBundleSource } from "./ui.ts";

/** The registry as the server reads it (a {@linkcode RegistryCache} fits). */
export interface ServedRegistry {
  /** The document; only the first call may wait for I/O. */
  get(): Promise<RegistryDocument>;
  /** The document in memory, without waiting; `undefined` before the first load. */
  current(): RegistryDocument | undefined;
  /** Reads the registry now, for health checks; throws when it cannot be read. */
  check(timeoutMs?: number): Promise<RegistryDocument>;
  /** Set while the registry holds an older document than the one served. */
  regression(): RegistryRegression | undefined;
}

/** Column-major data: column name -> one value per row. */
export type ColumnData = Readonly<Record<string, readonly unknown[]>>;

/** An online read, as the engine takes it. */
export interface OnlineReadRequest {
  /** `"view:feature"` references; or use `featureService`. */
  readonly features?: readonly string[];
  /** A feature service name; or use `features`. */
  readonly featureService?: string;
  /** The entity rows, as columns. */
  readonly entities: ColumnData;
  /** Name feature columns `view__feature` instead of `feature`. */
  readonly fullFeatureNames: boolean;
}

/** Reads the latest feature values (the engine's `getOnlineFeatures`). */
export type ReadOnline = (
  doc: RegistryDocument,
  request: OnlineReadRequest,
) => Promise<OnlineFeaturesResponse | { toJSON(): OnlineFeaturesResponse }>;

/** What an online write did. */
export interface OnlineWriteOutcome {
  /** Rows stored. */
  readonly written: number;
  /** Rows not newer than the stored ones, not written. */
  readonly skipped: number;
  /** The write-time on-demand views (`writeToOnlineStore: true`) written with the rows. */
  readonly onDemand?: readonly { readonly view: string; written: number; skipped: number }[];
}

/** Writes rows of one feature view online, skip-if-not-newer (the engine's `writeOnline`). */
export type WriteOnline = (
  doc: RegistryDocument,
  request: { readonly view: string; readonly columns: ColumnData },
) => Promise<OnlineWriteOutcome>;

/**
 * Pushes rows of a push source (the engine's `pushRows`): offline as new files under its batch
 * source (never rewriting existing ones), then online to the online views among `views`.
 */
export type Push = (
  doc: RegistryDocument,
  request: {
    readonly pushSource: string;
    readonly columns: ColumnData;
    readonly to: "online" | "offline" | "online_and_offline";
    readonly views: readonly string[];
  },
) => Promise<{
  readonly files: readonly string[];
  readonly online: readonly { readonly view: string; readonly result: OnlineWriteOutcome }[];
}>;

/** What one materialization did, per view. */
export interface MaterializeOutcome {
  /** One entry per view materialized. */
  readonly views: readonly {
    readonly name: string;
    readonly start: Date;
    readonly end: Date;
    readonly rows?: number | undefined;
    /** Source rows in the window without a join key value, left out. */
    readonly nullKeyRows?: number | undefined;
  }[];
}

/**
 * Materializes `[start, end]` of these views (the engine's `materialize`; with
 * `disableEventTimestamp`, from 1970-01-01T00:00:00Z to now), holding each view's lock in the
 * online store for `lockTtlMs` at a time: `CONFLICT` when another run holds one.
 */
export type Materialize = (
  request: MaterializeWindow & {
    readonly views: readonly string[];
    readonly lockTtlMs: number;
  },
) => Promise<MaterializeOutcome>;

/**
 * Materializes from each view's last interval up to `end` (the engine's
 * `materializeIncremental`), locking the views as {@linkcode Materialize} does.
 */
export type MaterializeIncremental = (
  request: { readonly end: Date; readonly views: readonly string[]; readonly lockTtlMs: number },
) => Promise<MaterializeOutcome>;

/** Settings of one deployment. */
export interface ServerConfig {
  /** `feature_server.feature_services`: serve only these feature services. */
  readonly featureServices?: readonly string[] | undefined;
  /** Largest accepted body. @default 4 MiB */
  readonly bodyLimitBytes?: number;
  /** How long a handler waits for a whole body before answering 408. @default 30_000 */
  readonly bodyTimeoutMs?: number;
  /** Most entity rows in one online read. @default 10_000 */
  readonly maxEntityRows?: number;
  /** Most rows in one push or write. @default 100_000 */
  readonly maxWriteRows?: number;
  /** Expiry of a materialization lock (renewed while it runs). @default 60_000 */
  readonly lockTtlMs?: number;
  /** How long `/health` waits for each store. @default 2_000 */
  readonly healthTimeoutMs?: number;
  /**
   * `feature_server.metrics`: `authenticated` makes `/metrics` ask for valid credentials
   * (any caller's, no permission needed) when auth is on. @default "public"
   */
  readonly metrics?: "public" | "authenticated";
  /** `info.title` of the OpenAPI document. @default "Larder feature server" */
  readonly title?: string;
  /**
   * `feature_server.strict_bodies`: refuse unknown keys in bodies (422) instead of ignoring
   * them as Feast does. @default false
   */
  readonly strictBodies?: boolean;
  /**
   * How long a request for the web UI's page waits for its bundle before answering "being
   * built" (503, the page reloads itself). @default 2_000
   */
  readonly uiWaitMs?: number;
}

/** Everything {@linkcode createApp} needs. */
export interface ServerDeps {
  /** The registry, as the server reads it (cached). */
  readonly registry: ServedRegistry;
  /** The online store (for health checks and reads). */
  readonly onlineStore: OnlineStore;
  /** Online reads. */
  readonly readOnline: ReadOnline;
  /** Online writes (`/write-to-online-store`). */
  readonly writeOnline: WriteOnline;
  /** Pushes (`/push`). */
  readonly push: Push;
  /** Materialization over a window (`/materialize`). */
  readonly materialize: Materialize;
  /** Incremental materialization (`/materialize-incremental`). */
  readonly materializeIncremental: MaterializeIncremental;
  /** Who sent each request. */
  readonly auth: AuthVerifier;
  /** Limits and settings. @default every setting's own default */
  readonly config?: ServerConfig;
  /** The request and store metrics `/metrics` reports. @default a new, empty Metrics */
  readonly metrics?: Metrics;
  /** Where unexpected failures are reported. @default console.error */
  readonly logError?: (err: unknown) => void;
  /** The web UI's bundle: with it the app serves Feast's UI at `/ui`. @default none */
  readonly ui?: UiBundleSource;
}
