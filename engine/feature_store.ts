/** `FeatureStore`: the SDK entry that the CLI, the server and users' code share. */
import { resolve } from "node:path";
import {
  applyPlan,
  emptyDocument,
  findObject,
  LarderError,
  objectOf,
  type Plan,
  planChanges,
  Registry,
  type RegistryBackend,
  type RegistryDocument,
} from "../registry/mod.ts";
import { type LarderConfig, loadConfig } from "./config.ts";
import { definitionsFromModules, loadDefinitions } from "./definitions_loader.ts";
import { createRegistryBackend } from "./registry_backends.ts";
import { ObjectStore, objectStoreSettings, setDefaultObjectStore } from "./object_store/mod.ts";
import type { OfflineStore } from "./offline/offline_store.ts";
import type { RetrievalJob } from "./offline/historical_query.ts";
import type { HistoricalFeaturesOptions } from "./historical_retrieval.ts";
import type { LoadedTransform } from "./on_demand.ts";
import { streamTransformsFor, transformsFor } from "./transforms.ts";
import { runStreamProcessor, type StreamOptions, type StreamResult } from "./streaming/mod.ts";
import { validateSources } from "./source_validation.ts";
import type {
  FeatureColumns,
  FeatureListMember,
  FeaturesRow,
  HistoricalRow,
  ServiceColumns,
  TypedRequest,
  TypedRetrievalJob,
  TypedRow,
} from "./typed_rows.ts";
import type { FeatureService } from "../registry/mod.ts";
import type { LoadedDefinitions } from "./definitions_loader.ts";
import {
  type EntityColumns,
  type EntityRows,
  getOnlineFeatures,
  type GetOnlineFeaturesRequest,
  type OnlineFeaturesResponse,
  tilesView,
  writeOnline,
  type WriteOnlineResult,
} from "./online/mod.ts";
import type {
  BrokenViewLock,
  MaterializeDeps,
  MaterializeProgress,
  MaterializeResult,
  MaterializeWindow,
} from "./materialize/mod.ts";
import { loadHistoricalRetrieval, loadMaterialize, loadOfflineFactory } from "./lazy.ts";
import { pushRows } from "./push_rows.ts";
import { unreadPushedParts } from "./push_offline.ts";
import type { OnlineStore, ViewsWithData } from "./online/online_store.ts";
import { createOnlineStore } from "./online_factory.ts";

/** Whether the document holds no object at all (never written, emptied, or reset). */
function isEmptyDocument(doc: RegistryDocument): boolean {
  return Object.values(doc.objects).every((objects) => Object.keys(objects).length === 0);
}

/** An online request; `featureService` may be the service object itself. */
export type OnlineRequest =
  & Omit<GetOnlineFeaturesRequest, "featureService">
  & { readonly featureService?: string | { readonly name: string } };

/** Options for {@linkcode FeatureStore.open}. */
export interface FeatureStoreOptions {
  /**
   * The feature repo folder (holding `larder.yaml`), relative to the working folder unless
   * absolute. Every path after that (in `larder.yaml`, in the definitions, and given to this
   * store's methods: entity files, `job.write`) is relative to this folder.
   */
  readonly repo: string;
  /** Use this configuration instead of reading `larder.yaml`. @default read from `larder.yaml` */
  readonly config?: LarderConfig;
  /** Environment lookup for `${VAR}` in `larder.yaml`. @default Deno.env.get */
  readonly env?: (name: string) => string | undefined;
  /** Use this registry backend instead of the configured one. @default the one `registry:` configures */
  readonly registryBackend?: RegistryBackend;
  /**
   * Use this offline engine instead of creating one on first use (the caller closes it).
   * @default the one `offline_store:` configures, created on first use
   */
  readonly offlineStore?: OfflineStore;
  /**
   * Use this online store instead of creating one on first use (the caller closes it).
   * @default the one `online_store:` configures, created on first use
   */
  readonly onlineStore?: OnlineStore;
  /**
   * Definition modules imported by the caller, by file name (`{ "features.ts": await
   * import("./features.ts") }` or a static `import * as`), used instead of importing the
   * repo's files. Edge entries need this: Deno Deploy allows no computed dynamic imports.
   * @default the repo's modules (`definitions:` in `larder.yaml`, or every top-level `*.ts`)
   */
  readonly definitions?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /**
   * How the offline engine runs: `"blocking"` in the calling thread (CLI, scripts) or
   * `"worker"` in a worker thread (servers, which must stay responsive).
   * @default "blocking"
   */
  readonly offlineMode?: "blocking" | "worker";
}

/** The outcome of {@linkcode FeatureStore.plan}. */
export interface PlanResult {
  /** What applying would change. */
  readonly plan: Plan;
  /** Definition modules that were read. */
  readonly files: readonly string[];
}

/** Options for {@linkcode FeatureStore.apply}. */
export interface ApplyOptions {
  /** Do not check that source files have the columns the definitions name. @default false */
  readonly skipSourceValidation?: boolean;
  /**
   * Check the sources of every feature view, even when the plan changes nothing. By default
   * only the sources of the views the plan creates or updates (or whose source or entities it
   * creates or updates) are checked, and nothing when it changes nothing.
   * @default false
   */
  readonly validateAllSources?: boolean;
}

/** The outcome of {@linkcode FeatureStore.apply}. */
export interface ApplyResult extends PlanResult {
  /** Whether the registry was written (false when nothing changed). */
  readonly written: boolean;
  /** The registry version after the apply. */
  readonly version: number;
  /**
   * What the caller should know, one message each: e.g. the registry was empty while the
   * online store held data (the registry may have been reset).
   */
  readonly warnings: readonly string[];
}

/**
 * A feature store opened on a feature repo.
 *
 * @example
 * ```ts
 * import { FeatureStore } from "larder";
 * const store = await FeatureStore.open({ repo: "examples/driver_repo" });
 * const { plan } = await store.plan();
 * await store.close();
 * ```
 */
export class FeatureStore {
  /** Absolute path of the feature repo. */
  readonly repoDir: string;
  /** The repo's configuration (`larder.yaml`, or the one given to `open`). */
  readonly config: LarderConfig;
  /** The project's registry: `list*`, `get`, `read`. */
  readonly registry: Registry;
  #offline: OfflineStore | undefined;
  #offlineOpening: Promise<OfflineStore> | undefined;
  #online: OnlineStore | undefined;
  #onlineOpening: Promise<OnlineStore> | undefined;
  readonly #env: (name: string) => string | undefined;
  readonly #ownsOffline: boolean;
  readonly #ownsOnline: boolean;
  readonly #offlineMode: "blocking" | "worker";
  #loaded: Promise<LoadedDefinitions> | undefined;
  readonly #preloaded: FeatureStoreOptions["definitions"];

  private constructor(
    repoDir: string,
    config: LarderConfig,
    registry: Registry,
    options: FeatureStoreOptions,
  ) {
    this.repoDir = repoDir;
    this.config = config;
    this.registry = registry;
    this.#offline = options.offlineStore;
    this.#online = options.onlineStore;
    this.#ownsOffline = options.offlineStore === undefined;
    this.#ownsOnline = options.onlineStore === undefined;
    this.#offlineMode = options.offlineMode ?? "blocking";
    this.#env = options.env ?? ((name) => Deno.env.get(name));
    this.#preloaded = options.definitions;
  }

  /** Opens the feature repo at `options.repo`: reads `larder.yaml` and connects the registry. */
  static async open(options: FeatureStoreOptions): Promise<FeatureStore> {
    const repoDir = resolve(options.repo);
    const config = options.config ??
      await loadConfig(repoDir, options.env ? { env: options.env } : {});
    setDefaultObjectStore(
      new ObjectStore(
        objectStoreSettings(config.object_store, options.env ?? ((n) => Deno.env.get(n))),
      ),
    );
    const backend = options.registryBackend ??
      await createRegistryBackend(config, repoDir, options.env ?? ((n) => Deno.env.get(n)));
    const registry = new Registry(backend, {
      project: config.project,
      cacheTtlSeconds: config.registry.cache_ttl_seconds,
    });
    return new FeatureStore(repoDir, config, registry, options);
  }

  /** Imports and checks the repo's definitions. */
  async definitions(): Promise<LoadedDefinitions> {
    if (this.#preloaded) return definitionsFromModules(this.#preloaded);
    return await loadDefinitions(this.repoDir, this.config.definitions);
  }

  /** Compares the repo's definitions with the registry. Writes nothing. */
  async plan(): Promise<PlanResult> {
    const { contents, files } = await this.definitions();
    const current = await this.registry.read({ fresh: true });
    return { plan: await planChanges(current, contents), files };
  }

  /**
   * Validates the definitions (and their source files), then writes the registry by
   * compare-and-set. Nothing is written when anything fails, or when nothing changed.
   * Deleted feature views lose their online data, and so do on-demand views that wrote to the
   * online store and were deleted or stopped writing (`writeToOnlineStore: false`).
   */
  async apply(options: ApplyOptions = {}): Promise<ApplyResult> {
    const { contents, files } = await this.definitions();
    const current = await this.registry.read({ fresh: true });
    const plan = await planChanges(current, contents);
    if (!options.skipSourceValidation) {
      await validateSources(
        contents,
        () => this.offlineStore(),
        this.repoDir,
        options.validateAllSources ? {} : { plan },
      );
    }
    if (!plan.hasChanges) {
      return { plan, files, written: false, version: current.version, warnings: [] };
    }
    const warnings = isEmptyDocument(current) ? await this.#dataOfLostRegistry() : [];
    if (plan.changes.some((c) => c.kind === "dataSource" && c.action !== "unchanged")) {
      warnings.push(...await unreadPushedParts(this.repoDir, current, contents.dataSource));
    }
    const next = applyPlan(current, contents, plan);
    const written = await this.registry.commit(current, next);
    const deletedViews = plan.changes
      .filter((c) =>
        (c.action === "delete" && c.kind === "featureView") ||
        (c.kind === "onDemandFeatureView" && stopsWritingOnline(current, next, c.name))
      )
      .map((c) => c.name);
    // A feature view's aggregation tiles live under a store view of their own.
    const deletedTiles = plan.changes
      .filter((c) => c.kind === "featureView" && c.action === "delete")
      .map((c) => tilesView(c.name));
    if (deletedViews.length > 0) {
      await (await this.onlineStore()).deleteViews([...deletedViews, ...deletedTiles]);
    }
    return { plan, files, written: true, version: written.version, warnings };
  }

  /**
   * Warnings for an apply onto an empty registry: whether the online store holds data, which
   * would mean the registry was reset (or emptied) under it.
   */
  async #dataOfLostRegistry(): Promise<string[]> {
    let online: OnlineStore;
    let found: ViewsWithData;
    try {
      online = await this.onlineStore();
      found = await online.viewsWithData();
    } catch (err) {
      return [
        `Cannot check whether the online store holds data while the registry is empty: ${
          err instanceof Error ? err.message : String(err)
        }`,
      ];
    }
    if (found.views.length === 0) return [];
    const names = [...new Set(found.views.map((v) => v.replace(/#tiles$/, "")))];
    const views = names.map((v) => `"${v}"`).join(", ") +
      (found.complete ? "" : " (and maybe others)");
    return [
      `The registry (${this.registry.backend.location}) is empty, but the online store (${online.name}) holds data of feature views ${views}: the registry may have been reset; apply recreates the definitions, but the record of materialized intervals is lost, so materialize-incremental starts again from each view's ttl`,
    ];
  }

  /** Removes every object from the registry and every row from the online store. */
  async teardown(): Promise<{ version: number }> {
    await (await this.onlineStore()).deleteAll();
    const empty = emptyDocument(this.config.project);
    const doc = await this.registry.update((d) => ({
      ...d,
      objects: empty.objects,
      materializations: empty.materializations,
    }));
    return { version: doc.version };
  }

  /** The offline engine, created on first use (it is heavy: never on the online path). */
  async offlineStore(): Promise<OfflineStore> {
    if (this.#offline) return this.#offline;
    this.#offlineOpening ??= (async () => {
      const { createOfflineStore } = await loadOfflineFactory();
      const store = await createOfflineStore(this.config.offline_store, {
        mode: this.#offlineMode,
        repoDir: this.repoDir,
      });
      this.#offline = store;
      return store;
    })();
    return await this.#offlineOpening;
  }

  /** The online store, created on first use. */
  async onlineStore(): Promise<OnlineStore> {
    if (this.#online) return this.#online;
    this.#onlineOpening ??= (async () => {
      const store = await createOnlineStore(this.config, this.repoDir, { env: this.#env });
      this.#online = store;
      return store;
    })().catch((err) => {
      this.#onlineOpening = undefined;
      throw err;
    });
    return await this.#onlineOpening;
  }

  /**
   * The latest feature values of entity rows, from the online store in one read. On-demand
   * views run on the request's rows with the same transform historical retrieval uses.
   *
   * @example
   * ```ts ignore
   * const res = await store.getOnlineFeatures({
   *   features: ["driver_hourly_stats:conv_rate"],
   *   entities: { driver_id: [1001, 1002] },
   * });
   * res.toRows(); // [{ driver_id: 1001, conv_rate: 0.53 }, ...]
   * ```
   */
  getOnlineFeatures<
    const F extends readonly FeatureListMember[],
    const E extends EntityColumns | EntityRows,
    const Full extends boolean = false,
  >(
    request: TypedRequest<E, Full> & { readonly features: F },
  ): Promise<OnlineFeaturesResponse<FeaturesRow<E, F, Full>>>;
  /** The same, with a feature service object: rows typed by its features. */
  getOnlineFeatures<
    const S extends FeatureService,
    const E extends EntityColumns | EntityRows,
    const Full extends boolean = false,
  >(
    request: TypedRequest<E, Full> & { readonly featureService: S },
  ): Promise<OnlineFeaturesResponse<TypedRow<E, ServiceColumns<S, Full>>>>;
  /** The same, with `"view:feature"` strings or a service name: loose rows. */
  getOnlineFeatures(request: OnlineRequest): Promise<OnlineFeaturesResponse>;
  async getOnlineFeatures(request: OnlineRequest): Promise<OnlineFeaturesResponse> {
    const service = request.featureService;
    return await getOnlineFeatures({
      registry: this.registry,
      online: await this.onlineStore(),
      transforms: (names, doc) => this.onDemandTransforms(names, doc),
    }, {
      ...request,
      ...(service !== undefined
        ? { featureService: typeof service === "string" ? service : service.name }
        : {}),
    } as GetOnlineFeaturesRequest);
  }

  /**
   * Writes rows of one feature view to the online store; rows not newer than stored are skipped.
   * On-demand views with `writeToOnlineStore: true` reading the view get their outputs too.
   */
  async writeToOnlineStore(
    view: string,
    data: EntityColumns | EntityRows,
  ): Promise<WriteOnlineResult> {
    return await writeOnline(
      {
        registry: this.registry,
        online: await this.onlineStore(),
        transforms: (names, doc) => this.onDemandTransforms(names, doc),
      },
      view,
      data,
    );
  }

  /**
   * Pushes rows of a push source: online to every view it feeds (skip-if-not-newer), offline
   * as a new file under its batch source (existing files are never rewritten), or both.
   * Online, on-demand views with `writeToOnlineStore: true` reading those views get their
   * outputs for the same rows; `views` lists them after their source view.
   */
  async push(
    pushSource: string,
    data: EntityColumns,
    options: { to?: "online" | "offline" | "online_and_offline" } = {},
  ): Promise<{ views: { view: string; written: number; skipped: number }[]; files: string[] }> {
    const to = options.to ?? "online";
    const doc = await this.registry.read();
    const source = findObject(doc, "dataSource", pushSource)?.spec;
    if (source?.kind !== "push") {
      const pushes = Object.values(doc.objects.dataSource).filter((s) => s.spec.kind === "push")
        .map((s) => `"${s.spec.name}"`);
      throw new LarderError(
        "NOT_FOUND",
        `Cannot find push source "${pushSource}": the registry has ${
          pushes.length ? pushes.join(", ") : "none"
        }`,
      );
    }
    const pushed = await pushRows({
      doc,
      repoDir: this.repoDir,
      online: () => this.onlineStore(),
      transforms: (names, d) => this.onDemandTransforms(names, d),
    }, { pushSource, data, to });
    const written: { view: string; written: number; skipped: number }[] = [];
    for (const { view, result } of pushed.online) {
      written.push({ view, written: result.written, skipped: result.skipped });
      for (const od of result.onDemand ?? []) written.push({ ...od });
    }
    return { views: written, files: [...pushed.files] };
  }

  /**
   * Copies the newest row per entity key with `start <= ts <= end` of each online view (or
   * `views`) into the online store, streaming, then records the interval in the registry.
   * `{ disableEventTimestamp: true }` instead of `start` and `end` is Feast's "everything up to
   * now": the window from 1970-01-01T00:00:00Z to now.
   */
  async materialize(
    options: MaterializeWindow & {
      views?: readonly string[];
      onProgress?: (progress: MaterializeProgress) => void;
    },
  ): Promise<MaterializeResult> {
    const { materialize } = await loadMaterialize();
    return await materialize(await this.#materializeDeps(), options);
  }

  /**
   * Materializes each view from where it was last materialized (or `now - ttl`, or 52 weeks
   * back for an unlimited ttl) up to `end`.
   */
  async materializeIncremental(options: {
    end: Date;
    views?: readonly string[];
    onProgress?: (progress: MaterializeProgress) => void;
  }): Promise<MaterializeResult> {
    const { materializeIncremental } = await loadMaterialize();
    return await materializeIncremental(await this.#materializeDeps(), options);
  }

  /**
   * Breaks the materialization locks that crashed runs left on these views (default: every
   * online view), so a new run need not wait for them to expire (60 s by default). Without
   * `force`, only a lock held by an ended process of this host (and pid namespace, and boot) is
   * broken; one held by a running process, or by a process on another host or in another
   * container, is `CONFLICT` naming the holder. With `force`, a live holder stops before it
   * records anything.
   *
   * @example
   * ```ts ignore
   * await store.breakMaterializationLocks({ views: ["driver_hourly_stats"] });
   * ```
   */
  async breakMaterializationLocks(
    options: { views?: readonly string[]; force?: boolean } = {},
  ): Promise<BrokenViewLock[]> {
    const { breakViewLocks } = await loadMaterialize();
    const doc = await this.registry.read({ fresh: true });
    const views = options.views ?? Object.values(doc.objects.featureView)
      .filter((v) => v.spec.online).map((v) => v.spec.name).sort();
    for (const view of views) objectOf(doc, "featureView", view);
    return await breakViewLocks(await this.onlineStore(), {
      views,
      ...(options.force !== undefined ? { force: options.force } : {}),
    });
  }

  async #materializeDeps(): Promise<MaterializeDeps> {
    return {
      registry: this.registry,
      online: await this.onlineStore(),
      offline: () => this.offlineStore(),
      repoDir: this.repoDir,
      transforms: (names, doc) => this.onDemandTransforms(names, doc),
    };
  }

  /**
   * Runs the stream processor until `options.signal` aborts: reads the stream sources of the
   * stream feature views (or `options.views`) through their brokers' consumer groups, and
   * writes each batch's rows online (skip-if-not-newer) and offline (parts appended to the
   * batch source), acknowledging events only once every destination took them. Bad events go
   * to the dead-letter stream. Any number of processes may run it on one repo: they share each
   * stream through the consumer group.
   *
   * @example
   * ```ts ignore
   * const stop = new AbortController();
   * Deno.addSignalListener("SIGTERM", () => stop.abort());
   * await store.stream({ signal: stop.signal });
   * ```
   */
  async stream(options: StreamOptions = {}): Promise<StreamResult> {
    const doc = await this.registry.read({ fresh: true });
    return await runStreamProcessor({
      doc,
      repoDir: this.repoDir,
      streaming: this.config.streaming,
      online: () => this.onlineStore(),
      transforms: (names, d) => this.onDemandTransforms(names, d),
      streamTransforms: async (views) => {
        if (views.length === 0) return new Map();
        this.#loaded ??= this.definitions().catch((err) => {
          this.#loaded = undefined;
          throw err;
        });
        return streamTransformsFor(await this.#loaded, views, this.repoDir);
      },
    }, options);
  }

  /**
   * Builds a point-in-time-correct training set: for each entity row, the feature values
   * known at its timestamp. Without `entities`, the latest value per key in `[start, end]`.
   *
   * @example
   * ```ts ignore
   * const job = await store.getHistoricalFeatures({
   *   entities: "data/driver_entities.parquet",
   *   features: ["driver_hourly_stats:conv_rate"],
   * });
   * await job.write("data/training.parquet"); // both paths relative to the repo
   * ```
   */
  getHistoricalFeatures<
    const F extends readonly FeatureListMember[],
    const Full extends boolean = false,
  >(
    options: HistoricalFeaturesOptions & { readonly features: F; readonly fullFeatureNames?: Full },
  ): Promise<TypedRetrievalJob<HistoricalRow<FeatureColumns<F, Full>>>>;
  /** The same, with a feature service object: `toRows()` typed by its features. */
  getHistoricalFeatures<
    const S extends FeatureService,
    const Full extends boolean = false,
  >(
    options: HistoricalFeaturesOptions & {
      readonly featureService: S;
      readonly fullFeatureNames?: Full;
    },
  ): Promise<TypedRetrievalJob<HistoricalRow<ServiceColumns<S, Full>>>>;
  /** The same, with `"view:feature"` strings or a service name: loose rows. */
  getHistoricalFeatures(options: HistoricalFeaturesOptions): Promise<RetrievalJob>;
  async getHistoricalFeatures(options: HistoricalFeaturesOptions): Promise<RetrievalJob> {
    // Loaded on first use: it brings DuckDB, parquet-wasm and apache-arrow, which the
    // online path (and the edge) must never load.
    const { historicalFeatures } = await loadHistoricalRetrieval();
    return await historicalFeatures({
      repoDir: this.repoDir,
      document: await this.registry.read(),
      offline: await this.offlineStore(),
      transforms: (names, doc) => this.onDemandTransforms(names, doc),
    }, options);
  }

  /**
   * The transforms of these on-demand views, from the repo's definitions (imported once).
   * Throws `DRIFT` when a transform differs from what the registry recorded at apply time,
   * rather than computing something the registry does not describe.
   */
  async onDemandTransforms(
    names: readonly string[],
    doc?: RegistryDocument,
  ): Promise<Map<string, LoadedTransform>> {
    this.#loaded ??= this.definitions().catch((err) => {
      this.#loaded = undefined;
      throw err;
    });
    const loaded = await this.#loaded;
    return transformsFor(loaded, doc ?? await this.registry.read(), names, this.repoDir);
  }

  /** Releases the registry, the engines and the stores. */
  async close(): Promise<void> {
    await this.registry.backend.close();
    if (this.#ownsOffline && this.#offline) await this.#offline.close();
    if (this.#ownsOnline && this.#online) await this.#online.close();
    this.#offline = undefined;
    this.#online = undefined;
  }
}

/** Whether on-demand view `name` stored rows online before and no longer does after the change. */
function stopsWritingOnline(
  before: RegistryDocument,
  after: RegistryDocument,
  name: string,
): boolean {
  return (findObject(before, "onDemandFeatureView", name)?.spec.writeToOnlineStore ?? false) &&
    !(findObject(after, "onDemandFeatureView", name)?.spec.writeToOnlineStore ?? false);
}
