/**
 * `createApp(deps)`: the feature server's Hono app. Feast-compatible endpoints, every body
 * validated with zod, errors as `{"error": {"code", "message", "details"}}` with the status
 * from one table, auth and permissions, OpenAPI and metrics.
 */
import { type Context, Hono } from "hono";
import { routePath } from "hono/route";
import {
  findObject,
  LarderError,
  parseWindowBound,
  type Principal,
  type RegistryDocument,
  type Resource,
} from "../engine/mod.ts";
import { Access } from "./_access.ts";
import { readBody } from "./body.ts";
import { dataFrame, rowCount } from "./_columns.ts";
import { healthAnswer } from "./_health.ts";
import { withTimeout } from "./_timeout.ts";
import type { MaterializeOutcome, OnlineWriteOutcome, ServerDeps } from "./deps.ts";
import { docsPage } from "./docs_page.ts";
import { ApiError, errorAnswer } from "./errors.ts";
import { registerFeastRegistryApi } from "./feast_registry_api.ts";
import { registerUi } from "./ui.ts";
import { Metrics } from "./metrics.ts";
import { openApiDocument } from "./openapi.ts";
import {
  describableResources,
  findResource,
  type Lookup,
  scopeCache,
  viewsOfPushSource,
  viewsOfRefs,
  viewsToMaterialize,
} from "./_scope.ts";
import {
  BODY_SCHEMAS,
  type MaterializeResponse,
  STRICT_BODY_SCHEMAS,
  type WriteResponse,
} from "./schemas.ts";

/** The app's context variables. */
export interface AppEnv {
  /** The authenticated caller of the request. */
  Variables: { principal: Principal };
}

type AppHandler = (c: Context<AppEnv>) => Promise<Response>;
type ResourceType = Resource["type"];

const MiB = 1024 * 1024;

const ANONYMOUS: Principal = { subject: "anonymous", roles: [] };

function principalOf(c: Context<AppEnv>): Principal {
  return (c.get("principal") as Principal | undefined) ?? ANONYMOUS;
}

/** The feature server's app (a Hono app): a fetch handler. */
export interface LarderApp {
  /** Answers one request: the handler to give `Deno.serve`, `serveWithLimits` or a platform. */
  fetch(request: Request, env?: unknown, executionCtx?: unknown): Response | Promise<Response>;
  /** Answers a request made in process (`app.request("/health")`), as in tests. */
  request(
    input: string | URL | Request,
    init?: RequestInit,
  ): Response | Promise<Response>;
}

/** Registry listing routes: URL segment, object kind, key of the list in the answer. */
const REGISTRY_ROUTES = [
  ["entities", "entity", "entities"],
  ["feature-views", "featureView", "feature_views"],
  ["feature-services", "featureService", "feature_services"],
  ["data-sources", "dataSource", "data_sources"],
] as const satisfies readonly (readonly [string, ResourceType, string])[];

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A promise's value, or its failure's message. */
function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: string }> {
  return promise.then((value) => ({ value }), (err: unknown) => ({ error: messageOf(err) }));
}

/**
 * Feast's `full_feature_names` on a materialization names the inputs of on-demand views that
 * write to the online store `view__feature`; Larder's transforms read them by feature name, so
 * `true` is refused where such a view would run, and changes nothing elsewhere (as in Feast).
 */
function refuseFullFeatureNames(doc: RegistryDocument, views: readonly Resource[]): void {
  const names = new Set(views.map((v) => v.name));
  for (const { spec } of Object.values(doc.objects.onDemandFeatureView)) {
    if (!spec.writeToOnlineStore) continue;
    const source = spec.sources.find((s) => s.kind === "featureView" && names.has(s.name));
    if (source === undefined) continue;
    throw new LarderError(
      "INPUT_INVALID",
      `Invalid request body: full_feature_names: true is not supported for feature view "${source.name}": it feeds on-demand views that write to the online store, whose transforms read their inputs by feature name`,
      { details: { field: "full_feature_names", view: source.name } },
    );
  }
}

/** A view's online write and those of the on-demand views written with it, in that order. */
function viewWrites(
  view: string,
  outcome: OnlineWriteOutcome,
): { view: string; written: number; skipped: number }[] {
  return [
    { view, written: outcome.written, skipped: outcome.skipped },
    ...(outcome.onDemand ?? []).map((od) => ({
      view: od.view,
      written: od.written,
      skipped: od.skipped,
    })),
  ];
}

function materializeAnswer(outcome: MaterializeOutcome): MaterializeResponse {
  return {
    feature_views: outcome.views.map((v) => ({
      name: v.name,
      start: v.start.toISOString(),
      end: v.end.toISOString(),
      ...(v.rows !== undefined ? { rows: v.rows } : {}),
      ...(v.nullKeyRows !== undefined ? { null_key_rows: v.nullKeyRows } : {}),
    })),
  };
}

/**
 * Builds the feature server.
 *
 * @example
 * ```ts ignore
 * import { createApp } from "./app.ts";
 * const app = createApp(deps);
 * const res = await app.request("/health");
 * ```
 */
export function createApp(deps: ServerDeps): LarderApp {
  const config = deps.config ?? {};
  const bodyLimit = {
    bytes: config.bodyLimitBytes ?? 4 * MiB,
    timeoutMs: config.bodyTimeoutMs ?? 30_000,
  };
  const maxEntityRows = config.maxEntityRows ?? 10_000;
  const maxWriteRows = config.maxWriteRows ?? 100_000;
  const lockTtlMs = config.lockTtlMs ?? 60_000;
  const healthTimeoutMs = config.healthTimeoutMs ?? 2_000;
  const metrics = deps.metrics ?? new Metrics();
  const logError = deps.logError ?? ((err: unknown) => console.error(err));
  const scopeOf = scopeCache(config.featureServices);
  const bodies = config.strictBodies ? STRICT_BODY_SCHEMAS : BODY_SCHEMAS;
  let openApi: Record<string, unknown> | undefined;
  let docsHtml: string | undefined;
  const spec = () =>
    openApi ??= openApiDocument({
      ...(config.title ? { title: config.title } : {}),
      bearerAuth: deps.auth.mode !== "none",
      strictBodies: config.strictBodies ?? false,
    });

  const app = new Hono<AppEnv>();

  app.use("*", async (c, next) => {
    const start = performance.now();
    await next();
    const route = routePath(c, -1);
    metrics.observe({
      method: c.req.method,
      route: route === "*" || route === "/*" || route === "" ? "unmatched" : route,
      status: c.res.status,
      seconds: (performance.now() - start) / 1000,
    });
  });

  const answerError = (err: unknown, c: Context<AppEnv>): Response => {
    const { status, body } = errorAnswer(err);
    if (body.error.code === "INTERNAL") logError(err);
    metrics.error(body.error.code);
    if (status === 401) c.header("WWW-Authenticate", 'Bearer realm="larder"');
    return c.json(body, status);
  };
  app.onError(answerError);
  app.notFound((c) =>
    answerError(
      new ApiError(
        "NOT_FOUND",
        `No route for ${c.req.method} ${c.req.path}: see /docs for the API`,
        {
          details: { method: c.req.method, path: c.req.path },
        },
      ),
      c,
    )
  );

  // Authenticates before the handler runs (so 401 comes before any body is read). Without
  // auth every caller is anonymous and nothing is enforced: nothing to run.
  const authenticated = (handler: AppHandler): AppHandler =>
    deps.auth.mode === "none" ? handler : async (c) => {
      c.set("principal", await deps.auth.authenticate(c.req.raw));
      return await handler(c);
    };

  // The registry as served, and what this caller may do and learn in it (decided per request).
  const context = async (c: Context<AppEnv>): Promise<Lookup> => {
    const doc = deps.registry.current() ?? await deps.registry.get();
    const scope = scopeOf(doc);
    const access = new Access(scope.permissions, principalOf(c), {
      enforced: deps.auth.enforcesPermissions,
    });
    return { doc, scope, access };
  };

  app.post(
    "/get-online-features",
    authenticated(async (c) => {
      const body = await readBody(c.req.raw, bodies.getOnlineFeatures, bodyLimit);
      rowCount(body.entities, maxEntityRows, "entity rows");
      const lookup = await context(c);
      const { doc, access } = lookup;
      // The schema let through exactly one of them (an empty `features` is Feast's default).
      const featureService = body.feature_service ?? undefined;
      if (featureService !== undefined) {
        const service = findResource(lookup, {
          type: "featureService",
          name: featureService,
          actions: ["READ_ONLINE"],
        });
        // A grant on a service grants what it contains (on-demand inputs included).
        access.assert([service], ["READ_ONLINE"]);
      } else {
        // A view needs READ_ONLINE, and an on-demand view on every view it reads as well.
        const groups = viewsOfRefs(lookup, {
          refs: body.features!,
          actions: ["READ_ONLINE"],
        });
        for (const group of groups) access.assert(group.touched, ["READ_ONLINE"], group.view);
      }
      const result = await deps.readOnline(doc, {
        ...(featureService === undefined ? { features: body.features! } : { featureService }),
        entities: body.entities,
        fullFeatureNames: body.full_feature_names,
      });
      return c.json(result as never);
    }),
  );

  app.post(
    "/push",
    authenticated(async (c) => {
      const body = await readBody(c.req.raw, bodies.push, bodyLimit);
      const { rows, ...df } = dataFrame(body.df, maxWriteRows);
      const lookup = await context(c);
      const { doc, access } = lookup;
      const online = body.to !== "offline";
      const offline = body.to !== "online";
      const actions = [
        ...(online ? ["WRITE_ONLINE" as const] : []),
        ...(offline ? ["WRITE_OFFLINE" as const] : []),
      ];
      const { source, views } = viewsOfPushSource(lookup, {
        pushSource: body.push_source_name,
        actions,
      });
      access.assert(views, actions, source);
      const answer: { -readonly [K in keyof WriteResponse]: WriteResponse[K] } = {
        feature_views: views.map((v) => v.name),
        rows,
      };
      const pushed = await deps.push(doc, {
        pushSource: body.push_source_name,
        columns: df.columns(),
        to: body.to,
        views: views.map((v) => v.name),
      });
      if (online) {
        const written = pushed.online.flatMap((v) => viewWrites(v.view, v.result));
        // Each view is followed by the on-demand views written with it, as the SDK lists them.
        answer.feature_views = views.flatMap((v) => {
          const own = pushed.online.find((p) => p.view === v.name);
          return own ? viewWrites(v.name, own.result).map((w) => w.view) : [v.name];
        });
        answer.online = {
          written: pushed.online.reduce((n, v) => n + v.result.written, 0),
          skipped: pushed.online.reduce((n, v) => n + v.result.skipped, 0),
        };
        answer.views = written;
      }
      if (offline) answer.offline = { files: [...pushed.files] };
      return c.json(answer);
    }),
  );

  app.post(
    "/write-to-online-store",
    authenticated(async (c) => {
      const body = await readBody(c.req.raw, bodies.writeToOnlineStore, bodyLimit);
      const { rows, ...df } = dataFrame(body.df, maxWriteRows);
      const lookup = await context(c);
      const { doc, access } = lookup;
      const view = findResource(lookup, {
        type: "featureView",
        name: body.feature_view_name,
        actions: ["WRITE_ONLINE"],
      });
      access.assert([view], ["WRITE_ONLINE"]);
      const r = await deps.writeOnline(doc, { view: view.name, columns: df.columns() });
      const written = viewWrites(view.name, r);
      const answer: WriteResponse = {
        feature_views: written.map((v) => v.view),
        rows,
        online: { written: r.written, skipped: r.skipped },
        views: written,
      };
      return c.json(answer);
    }),
  );

  // Server processes share nothing but the stores: without locks in the online store, two of
  // them could materialize one view at once.
  const checkLocks = () => {
    const online = deps.onlineStore;
    if (!online.capabilities.locks) {
      throw new LarderError(
        "UNAVAILABLE",
        `Cannot materialize: the online store (${online.name}) offers no shared locks`,
      );
    }
  };

  app.post(
    "/materialize",
    authenticated(async (c) => {
      const body = await readBody(c.req.raw, bodies.materialize, bodyLimit);
      const lookup = await context(c);
      const { doc, access } = lookup;
      const views = viewsToMaterialize(lookup, body.feature_views ?? undefined);
      access.assert(views, ["WRITE_ONLINE"]);
      if (body.full_feature_names) refuseFullFeatureNames(doc, views);
      checkLocks();
      // As Feast's server: with `disable_event_timestamp`, `start_ts` and `end_ts` are not used.
      const outcome = await deps.materialize({
        ...(body.disable_event_timestamp ? { disableEventTimestamp: true as const } : {
          start: parseWindowBound(body.start_ts!, "start")!,
          end: parseWindowBound(body.end_ts!, "end")!,
        }),
        views: views.map((v) => v.name),
        lockTtlMs,
      });
      return c.json(materializeAnswer(outcome));
    }),
  );

  app.post(
    "/materialize-incremental",
    authenticated(async (c) => {
      const body = await readBody(c.req.raw, bodies.materializeIncremental, bodyLimit);
      const lookup = await context(c);
      const { doc, access } = lookup;
      const views = viewsToMaterialize(lookup, body.feature_views ?? undefined);
      access.assert(views, ["WRITE_ONLINE"]);
      if (body.full_feature_names) refuseFullFeatureNames(doc, views);
      checkLocks();
      const outcome = await deps.materializeIncremental({
        end: parseWindowBound(body.end_ts, "end")!,
        views: views.map((v) => v.name),
        lockTtlMs,
      });
      return c.json(materializeAnswer(outcome));
    }),
  );

  for (const [segment, kind, key] of REGISTRY_ROUTES) {
    app.get(
      `/registry/${segment}`,
      authenticated(async (c) => {
        const lookup = await context(c);
        const objects = lookup.doc.objects[kind] as Record<string, object>;
        return c.json({
          [key]: describableResources(lookup, kind).map((r) => ({
            kind,
            name: r.name,
            ...objects[r.name],
          })),
        });
      }),
    );
    app.get(
      `/registry/${segment}/:name`,
      authenticated(async (c) => {
        const lookup = await context(c);
        const { doc, access } = lookup;
        const resource = findResource(lookup, {
          type: kind,
          name: c.req.param("name") ?? "",
          actions: ["DESCRIBE"],
        });
        access.assert([resource], ["DESCRIBE"]);
        return c.json({ kind, name: resource.name, ...findObject(doc, kind, resource.name) });
      }),
    );
  }

  // Feast's registry REST API (what its web UI reads), read-only.
  registerFeastRegistryApi(app, { lookup: context, authenticated });
  if (deps.ui) {
    registerUi(app, {
      bundle: deps.ui,
      lookup: context,
      authenticated,
      auth: deps.auth.mode !== "none",
      waitMs: config.uiWaitMs,
    });
  }

  // Whether the caller sent valid credentials (never true with auth off): only such callers
  // see why a component is unhealthy, since the reasons name paths and store URLs.
  const hasCredentials = async (c: Context<AppEnv>): Promise<boolean> => {
    if (deps.auth.mode === "none" || c.req.header("authorization") === undefined) return false;
    try {
      await deps.auth.authenticate(c.req.raw);
      return true;
    } catch {
      return false;
    }
  };
  // The online store's failures go to the log when they change, not at every poll.
  let loggedOnlineError = "";

  app.get("/health", async (c) => {
    const [registry, online, detailed] = await Promise.all([
      settle(deps.registry.check(healthTimeoutMs)),
      settle(withTimeout(
        deps.onlineStore.read([{ view: "_larder_health", entityKey: "_" }]),
        healthTimeoutMs,
        "The online store",
      )),
      hasCredentials(c),
    ]);
    const { health, unhealthy } = healthAnswer({
      registry: { version: registry.value?.version, error: registry.error },
      regression: deps.registry.regression()?.message,
      onlineStore: { error: online.error },
    }, detailed);
    // The registry cache logs the registry's failures and regressions itself.
    if ((online.error ?? "") !== loggedOnlineError) {
      loggedOnlineError = online.error ?? "";
      if (online.error !== undefined) {
        logError(
          new LarderError(
            "UNAVAILABLE",
            `Unhealthy: the online store does not answer (${online.error})`,
          ),
        );
      }
    }
    if (unhealthy === undefined) return c.json(health);
    throw new LarderError("UNAVAILABLE", unhealthy, {
      details: { registry: health.registry, online_store: health.online_store },
    });
  });

  const renderMetrics: AppHandler = (c) =>
    Promise.resolve(
      c.text(metrics.render(), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }),
    );
  app.get(
    "/metrics",
    config.metrics === "authenticated" ? authenticated(renderMetrics) : renderMetrics,
  );

  app.get("/openapi.json", (c) => c.json(spec()));

  app.get("/docs", (c) => c.html(docsHtml ??= docsPage(spec())));

  return app;
}
