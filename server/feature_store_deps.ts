/**
 * Wires an opened `FeatureStore` into the app's dependencies: the registry cache, the online
 * store (which also holds the materialization locks), the engine's operations and the auth
 * verifier. Used by both entries (`main.ts`, `edge.ts`). Nothing here loads the offline engine:
 * materialization and push-to-offline import it on first use.
 */
import {
  FeatureLogger,
  type FeatureStore,
  getOnlineFeatures,
  loadMaterialize,
  type LogSinkFactory,
  type OnlineStore,
  pushRows,
  type TransformLoader,
  writeOnline,
} from "../engine/mod.ts";
import { type AuthVerifier, createVerifier } from "./auth/mod.ts";
import type { MaterializeOutcome, ServerConfig, ServerDeps } from "./deps.ts";
import { Metrics } from "./metrics.ts";
import { ReadBatcher } from "./read_batcher.ts";
import { RegistryCache } from "./registry_cache.ts";

/** Options for {@linkcode depsFromFeatureStore}. */
export interface FeatureStoreDepsOptions {
  /** Overrides of the settings taken from `larder.yaml`. */
  readonly config?: Omit<ServerConfig, "featureServices">;
  /** Use this verifier instead of the one `auth:` describes. */
  readonly auth?: AuthVerifier;
  /** @default () => new Date() */
  /** The clock, for materialization windows. @default () => new Date() */
  readonly clock?: () => Date;
  /** Where background failures (registry refresh) are reported. @default console.error */
  readonly logError?: (err: unknown) => void;
  /**
   * Merge concurrent requests' reads with a {@linkcode ReadBatcher} where a read of any number
   * of keys is one round trip (Redis over HTTP); `false` sends each request's read alone
   * (benchmarks compare the two).
   * @default {true}
   */
  readonly readBatching?: boolean;
  /**
   * Log the reads of feature services that have `logging` (as `feature_server.logging`
   * configures the queue); `false` logs nothing (platforms with no file system to write to).
   * @default {true}
   */
  readonly featureLogging?: boolean;
  /** The sampling draw of feature logging, in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** Where logged features go, per destination path. @default local folders */
  readonly logSinks?: LogSinkFactory;
}

/** The dependencies, and what to release when the server stops. */
export interface WiredDeps {
  /** What to give {@linkcode createApp}. */
  readonly deps: ServerDeps;
  /** The registry cache, refreshed in the background. */
  readonly registry: RegistryCache;
  /** The feature logger; absent with `featureLogging: false`. */
  readonly featureLogger?: FeatureLogger;
  /**
   * Stops the registry refresh and writes the logged features still waiting (the caller closes
   * the store); call it once no request is in flight.
   */
  close(): Promise<void>;
}

function outcome(
  result: {
    views: readonly { view: string; start: Date; end: Date; rows: number; nullKeyRows: number }[];
  },
): MaterializeOutcome {
  return {
    views: result.views.map((v) => ({
      name: v.view,
      start: v.start,
      end: v.end,
      rows: v.rows,
      nullKeyRows: v.nullKeyRows,
    })),
  };
}

function batchedReads(online: OnlineStore): OnlineStore {
  const batcher = new ReadBatcher(online);
  return {
    name: online.name,
    capabilities: online.capabilities,
    read: (keys) => batcher.read(keys),
    write: (view, rows) => online.write(view, rows),
    deleteViews: (views) => online.deleteViews(views),
    deleteAll: () => online.deleteAll(),
    viewsWithData: (options) => online.viewsWithData(options),
    acquireLock: (name, ttlMs) => online.acquireLock(name, ttlMs),
    inspectLock: (name) => online.inspectLock(name),
    breakLock: (name, token) => online.breakLock(name, token),
    close: () => online.close(),
  };
}

/** The feature logger's counters in `/metrics`. */
function registerLogMetrics(metrics: Metrics, logger: FeatureLogger): void {
  const counters = [
    [
      "larder_feature_log_requests_total",
      "Online reads of logged feature services queued for the log.",
      "loggedRequests",
    ],
    ["larder_feature_log_rows_total", "Rows queued for the feature log.", "loggedRows"],
    [
      "larder_feature_log_sampled_out_total",
      "Reads of logged feature services left out by sampling.",
      "sampledOutRequests",
    ],
    [
      "larder_feature_log_dropped_requests_total",
      "Reads not logged because the feature log queue was full.",
      "droppedRequests",
    ],
    [
      "larder_feature_log_dropped_rows_total",
      "Rows not logged because the feature log queue was full.",
      "droppedRows",
    ],
    [
      "larder_feature_log_written_parts_total",
      "Parquet parts of the feature log written.",
      "writtenParts",
    ],
    ["larder_feature_log_written_rows_total", "Rows of the feature log written.", "writtenRows"],
    [
      "larder_feature_log_write_failures_total",
      "Failed writes of feature log parts (their rows are kept and written again).",
      "failedWrites",
    ],
    [
      "larder_feature_log_lost_rows_total",
      "Logged rows given up: unwritable at shutdown, or unencodable.",
      "lostRows",
    ],
  ] as const;
  for (const [name, help, stat] of counters) metrics.counter(name, help, () => logger.stats[stat]);
  metrics.gauge(
    "larder_feature_log_queued_rows",
    "Rows of the feature log waiting to be written.",
    () => logger.stats.queuedRows,
  );
}

/**
 * Builds the app's dependencies from an opened feature store. Reads the registry once
 * (the first load) so that requests never wait for it.
 *
 * @example
 * ```ts ignore
 * const store = await FeatureStore.open({ repo: "." });
 * const wired = await depsFromFeatureStore(store);
 * const app = createApp(wired.deps);
 * ```
 */
export async function depsFromFeatureStore(
  store: FeatureStore,
  options: FeatureStoreDepsOptions = {},
): Promise<WiredDeps> {
  const logError = options.logError ?? ((err: unknown) => console.error(err));
  const clock = options.clock ?? (() => new Date());
  const registry = new RegistryCache(store.registry, {
    refreshMs: store.config.registry.cache_ttl_seconds * 1000,
    onError: logError,
  });
  try {
    const [, online] = await Promise.all([registry.get(), store.onlineStore()]);
    const metrics = new Metrics();
    metrics.gauge(
      "larder_registry_age_seconds",
      "Seconds since the served registry document was read.",
      () => registry.ageSeconds(),
    );
    metrics.gauge(
      "larder_registry_version",
      "Version of the served registry document.",
      () => registry.current()?.version,
    );
    metrics.gauge(
      "larder_registry_regressed",
      "1 while the registry holds an older document than the one served, else 0.",
      () => registry.regression() ? 1 : 0,
    );
    // Where one read of any number of keys is one round trip (Redis over HTTP), concurrent
    // requests share round trips.
    const serving: OnlineStore =
      online.capabilities.singleRoundTripRead && (options.readBatching ?? true)
        ? batchedReads(online)
        : online;
    const logged = store.config.feature_server.logging;
    const featureLogger = options.featureLogging === false ? undefined : new FeatureLogger({
      repoDir: store.repoDir,
      queueSize: logged.queue_size,
      batchSize: logged.batch_size,
      flushIntervalMs: logged.flush_interval_seconds * 1000,
      now: clock,
      logError,
      ...(options.random ? { random: options.random } : {}),
      ...(options.logSinks ? { sinks: options.logSinks } : {}),
    });
    if (featureLogger) registerLogMetrics(metrics, featureLogger);
    const transforms: TransformLoader = (names, doc) => store.onDemandTransforms(names, doc);
    const materializeDeps = {
      registry: store.registry,
      online,
      offline: () => store.offlineStore(),
      repoDir: store.repoDir,
      now: clock,
      transforms,
    };
    const deps: ServerDeps = {
      registry,
      onlineStore: online,
      readOnline: async (doc, request) => {
        const response = await getOnlineFeatures({
          registry: doc,
          online: serving,
          now: clock,
          transforms,
        }, {
          ...(request.features ? { features: request.features } : {}),
          ...(request.featureService !== undefined
            ? { featureService: request.featureService }
            : {}),
          entities: request.entities,
          fullFeatureNames: request.fullFeatureNames,
        });
        // Sampled, queued and written in the background: never a reason for this read to wait.
        if (featureLogger && request.featureService !== undefined) {
          featureLogger.log(doc, {
            service: request.featureService,
            entities: request.entities,
            response,
            fullFeatureNames: request.fullFeatureNames,
          });
        }
        return response;
      },
      // Also writes the outputs of on-demand views with writeToOnlineStore reading the view.
      writeOnline: (doc, request) =>
        writeOnline({ registry: doc, online, transforms }, request.view, request.columns),
      push: (doc, request) =>
        pushRows(
          { doc, repoDir: store.repoDir, online: () => Promise.resolve(online), transforms },
          {
            pushSource: request.pushSource,
            data: request.columns,
            to: request.to,
            views: request.views,
          },
        ),
      materialize: async (request) => {
        const { materialize } = await loadMaterialize();
        return outcome(await materialize(materializeDeps, request));
      },
      materializeIncremental: async (request) => {
        const { materializeIncremental } = await loadMaterialize();
        return outcome(await materializeIncremental(materializeDeps, request));
      },
      auth: options.auth ?? createVerifier(store.config.auth),
      config: {
        metrics: store.config.feature_server.metrics,
        bodyTimeoutMs: store.config.feature_server.body_timeout_seconds * 1000,
        strictBodies: store.config.feature_server.strict_bodies,
        ...options.config,
        featureServices: store.config.feature_server.feature_services,
      },
      metrics,
      logError,
    };
    return {
      deps,
      registry,
      ...(featureLogger ? { featureLogger } : {}),
      async close() {
        registry.close();
        await featureLogger?.close();
      },
    };
  } catch (err) {
    registry.close();
    throw err;
  }
}
