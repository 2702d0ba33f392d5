/**
 * `createApp(deps)`: the feature server's Hono app. Feast-compatible endpoints, every body
 * validated with zod, errors as `{"error": {"code", "message", "details"}}` with the status
 * from one table, auth and permissions, OpenAPI and metrics.
 */
import { type Context, Hono } from "hono";
import { routePath } from "hono/route";
import {
  assertPermitted,
  LarderError,
  permittedResources,
  type Principal,
  type RegistryDocument,
  type Resource,
} from "../engine/mod.ts";
import { readBody } from "./body.ts";
import { withTimeout } from "./_timeout.ts";
import type { ColumnData, MaterializeOutcome, ServerDeps } from "./deps.ts";
import { docsPage } from "./docs_page.ts";
import { ApiError, errorAnswer } from "./errors.ts";
import { Metrics } from "./metrics.ts";
import { openApiDocument } from "./openapi.ts";
import {
  findResource,
  inScope,
  type Scope,
  scopeCache,
  viewsOfPushSource,
  viewsOfRefs,
  viewsToMaterialize,
} from "./_scope.ts";
import {
  GetOnlineFeaturesBodySchema,
  type HealthResponse,
  MaterializeBodySchema,
  MaterializeIncrementalBodySchema,
  type MaterializeResponse,
  parseTimestamp,
  PushBodySchema,
  type WriteResponse,
  WriteToOnlineStoreBodySchema,
} from "./schemas.ts";

/** The app's context variables. */
export interface AppEnv {
  Variables: { principal: Principal };
}

type AppHandler = (c: Context<AppEnv>) => Promise<Response>;
type Action = Parameters<typeof assertPermitted>[1]["actions"][number];
type ResourceType = Resource["type"];

const MiB = 1024 * 1024;

const ANONYMOUS: Principal = { subject: "anonymous", roles: [] };

function principalOf(c: Context<AppEnv>): Principal {
  return (c.get("principal") as Principal | undefined) ?? ANONYMOUS;
}

/** Registry listing routes: URL segment, object kind, key of the list in the answer. */
const REGISTRY_ROUTES = [
  ["entities", "entity", "entities"],
  ["feature-views", "featureView", "feature_views"],
  ["feature-services", "featureService", "feature_services"],
  ["data-sources", "dataSource", "data_sources"],
] as const satisfies readonly (readonly [string, ResourceType, string])[];

/** The number of rows of column-major data; throws when columns differ in length or are too many. */
function rowCount(columns: ColumnData, limit: number, what: string): number {
  let rows: number | undefined;
  for (const [name, values] of Object.entries(columns)) {
    if (values.length > limit) {
      throw new ApiError(
        "TOO_LARGE",
        `Too many ${what}: column "${name}" has ${values.length} values, the limit is ${limit}`,
        { details: { column: name, rows: values.length, limit } },
      );
    }
    if (rows !== undefined && values.length !== rows) {
      const lengths = Object.entries(columns).map(([n, v]) => `${n}: ${v.length}`).join(", ");
      throw new LarderError("INPUT_INVALID", `Columns have different lengths (${lengths})`, {
        details: {
          lengths: Object.fromEntries(Object.entries(columns).map(([n, v]) => [n, v.length])),
        },
      });
    }
    rows = values.length;
  }
  return rows ?? 0;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function materializeAnswer(outcome: MaterializeOutcome): MaterializeResponse {
  return {
    feature_views: outcome.views.map((v) => ({
      name: v.name,
      start: v.start.toISOString(),
      end: v.end.toISOString(),
      ...(v.rows !== undefined ? { rows: v.rows } : {}),
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
export function createApp(deps: ServerDeps): Hono<AppEnv> {
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
  let openApi: Record<string, unknown> | undefined;
  let docsHtml: string | undefined;
  const spec = () =>
    openApi ??= openApiDocument({
      ...(config.title ? { title: config.title } : {}),
      bearerAuth: deps.auth.mode !== "none",
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

  const authorize = (
    c: Context<AppEnv>,
    scope: Scope,
    resources: readonly Resource[],
    actions: readonly Action[],
  ): void => {
    if (!deps.auth.enforcesPermissions) return;
    assertPermitted(scope.permissions, { resources, actions, principal: principalOf(c) });
  };

  const context = async (): Promise<{ doc: RegistryDocument; scope: Scope }> => {
    const doc = deps.registry.current() ?? await deps.registry.get();
    return { doc, scope: scopeOf(doc) };
  };

  app.post(
    "/get-online-features",
    authenticated(async (c) => {
      const body = await readBody(c.req.raw, GetOnlineFeaturesBodySchema, bodyLimit);
      rowCount(body.entities, maxEntityRows, "entity rows");
      const { doc, scope } = await context();
      const resources = body.feature_service !== undefined
        ? [findResource(doc, scope, "featureService", body.feature_service)]
        : viewsOfRefs(doc, scope, body.features!);
      authorize(c, scope, resources, ["READ_ONLINE"]);
      const result = await deps.readOnline(doc, {
        ...(body.features !== undefined ? { features: body.features } : {}),
        ...(body.feature_service !== undefined ? { featureService: body.feature_service } : {}),
        entities: body.entities,
        fullFeatureNames: body.full_feature_names,
      });
      return c.json(result as never);
    }),
  );

  app.post(
    "/push",
    authenticated(async (c) => {
      const body = await readBody(c.req.raw, PushBodySchema, bodyLimit);
      const rows = rowCount(body.df, maxWriteRows, "rows");
      const { doc, scope } = await context();
      const views = viewsOfPushSource(doc, scope, body.push_source_name);
      const online = body.to !== "offline";
      const offline = body.to !== "online";
      authorize(c, scope, views, [
        ...(online ? ["WRITE_ONLINE" as const] : []),
        ...(offline ? ["WRITE_OFFLINE" as const] : []),
      ]);
      const answer: { -readonly [K in keyof WriteResponse]: WriteResponse[K] } = {
        feature_views: views.map((v) => v.name),
        rows,
      };
      const pushed = await deps.push(doc, {
        pushSource: body.push_source_name,
        columns: body.df,
        to: body.to,
        views: views.map((v) => v.name),
      });
      if (online) {
        answer.online = {
          written: pushed.online.reduce((n, v) => n + v.result.written, 0),
          skipped: pushed.online.reduce((n, v) => n + v.result.skipped, 0),
        };
      }
      if (offline) answer.offline = { files: [...pushed.files] };
      return c.json(answer);
    }),
  );

  app.post(
    "/write-to-online-store",
    authenticated(async (c) => {
      const body = await readBody(c.req.raw, WriteToOnlineStoreBodySchema, bodyLimit);
      const rows = rowCount(body.df, maxWriteRows, "rows");
      const { doc, scope } = await context();
      const view = findResource(doc, scope, "featureView", body.feature_view_name);
      authorize(c, scope, [view], ["WRITE_ONLINE"]);
      const r = await deps.writeOnline(doc, { view: view.name, columns: body.df });
      const answer: WriteResponse = {
        feature_views: [view.name],
        rows,
        online: { written: r.written, skipped: r.skipped },
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
      const body = await readBody(c.req.raw, MaterializeBodySchema, bodyLimit);
      const { doc, scope } = await context();
      const views = viewsToMaterialize(doc, scope, body.feature_views);
      authorize(c, scope, views, ["WRITE_ONLINE"]);
      checkLocks();
      const outcome = await deps.materialize({
        start: parseTimestamp(body.start_ts)!,
        end: parseTimestamp(body.end_ts)!,
        views: views.map((v) => v.name),
        lockTtlMs,
      });
      return c.json(materializeAnswer(outcome));
    }),
  );

  app.post(
    "/materialize-incremental",
    authenticated(async (c) => {
      const body = await readBody(c.req.raw, MaterializeIncrementalBodySchema, bodyLimit);
      const { doc, scope } = await context();
      const views = viewsToMaterialize(doc, scope, body.feature_views);
      authorize(c, scope, views, ["WRITE_ONLINE"]);
      checkLocks();
      const outcome = await deps.materializeIncremental({
        end: parseTimestamp(body.end_ts)!,
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
        const { doc, scope } = await context();
        const objects = doc.objects[kind] as Record<
          string,
          { spec: { tags: Record<string, string> } }
        >;
        let resources: Resource[] = Object.keys(objects).sort()
          .filter((name) => inScope(scope, kind, name))
          .map((name) => ({ type: kind, name, tags: objects[name]!.spec.tags }));
        if (deps.auth.enforcesPermissions) {
          resources = permittedResources(scope.permissions, {
            resources,
            action: "DESCRIBE",
            principal: principalOf(c),
          });
        }
        return c.json({
          [key]: resources.map((r) => ({ kind, name: r.name, ...objects[r.name] })),
        });
      }),
    );
    app.get(
      `/registry/${segment}/:name`,
      authenticated(async (c) => {
        const { doc, scope } = await context();
        const resource = findResource(doc, scope, kind, c.req.param("name") ?? "");
        authorize(c, scope, [resource], ["DESCRIBE"]);
        return c.json({ kind, name: resource.name, ...doc.objects[kind][resource.name] });
      }),
    );
  }

  app.get("/health", async (c) => {
    const [registry, online] = await Promise.allSettled([
      deps.registry.check(healthTimeoutMs),
      withTimeout(
        deps.onlineStore.read([{ view: "_larder_health", entityKey: "_" }]),
        healthTimeoutMs,
        "The online store",
      ),
    ]);
    const health: HealthResponse = {
      status: registry.status === "fulfilled" && online.status === "fulfilled"
        ? "ok"
        : "unavailable",
      registry: registry.status === "fulfilled"
        ? { ok: true, version: registry.value.version }
        : { ok: false, error: messageOf(registry.reason) },
      online_store: online.status === "fulfilled"
        ? { ok: true }
        : { ok: false, error: messageOf(online.reason) },
    };
    if (health.status === "ok") return c.json(health);
    const broken = [
      ...(health.registry.ok ? [] : [`the registry cannot be read (${health.registry.error})`]),
      ...(health.online_store.ok
        ? []
        : [`the online store does not answer (${health.online_store.error})`]),
    ];
    throw new LarderError("UNAVAILABLE", `Unhealthy: ${broken.join("; ")}`, {
      details: { registry: health.registry, online_store: health.online_store },
    });
  });

  app.get(
    "/metrics",
    (c) =>
      c.text(metrics.render(), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }),
  );

  app.get("/openapi.json", (c) => c.json(spec()));

  app.get("/docs", (c) => c.html(docsHtml ??= docsPage(spec())));

  return app;
}
