/**
 * The web UI at `/ui`: Feast's UI reading this server's registry API (`/api/v1`).
 *
 * A browser cannot send a bearer token with a page load, so the page and its assets (code and
 * styles, no registry data) are public; everything the UI then fetches — the project list and
 * the registry API — asks for the token like every other route. With auth on, the page asks
 * the user for a token (kept in the tab's `sessionStorage`) and sends it with those requests.
 */
import type { Context, Hono } from "hono";
import { extname, join } from "node:path";
import type { AppEnv } from "./app.ts";
import { REGISTRY_API_BASE } from "./feast_registry_api.ts";
import type { Lookup } from "./_scope.ts";
import type { UiBundle } from "./ui_bundle.ts";

export type { UiBundle };

/**
 * Where the app gets the bundle, asked at every request to `/ui`: built (or read from the
 * cache) on first use, then the same bundle; after a failed build, the same failure until it
 * tries again (`buildUiBundle` does all of it). It reports its own failures (the page only says
 * that the UI could not be built).
 */
export type UiBundleSource = () => Promise<UiBundle>;

type AppHandler = (c: Context<AppEnv>) => Promise<Response>;

/** What the UI's routes need from the app. */
export interface UiRouteOptions {
  readonly bundle: UiBundleSource;
  readonly lookup: (c: Context<AppEnv>) => Promise<Lookup>;
  readonly authenticated: (handler: AppHandler) => AppHandler;
  /** Whether the API needs a token (the page then asks for one). */
  readonly auth: boolean;
  /**
   * How long a page request waits for the bundle before answering "being built" (a bundle in
   * the cache is found well within it, so the first page is the UI). @default 2_000
   */
  readonly waitMs?: number | undefined;
}

/** The UI's base path. */
export const UI_BASE = "/ui";

const TYPES: Readonly<Record<string, string>> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json",
};

function escapeJson(value: unknown): string {
  // Inside <script>: no "</script>" and no HTML comment openers.
  return JSON.stringify(value).replaceAll("<", "\\u003c");
}

function page(key: string, auth: boolean): string {
  const assets = `${UI_BASE}/static/${key}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Feast UI · Larder</title>
<link rel="stylesheet" href="${assets}/feast-ui.css">
<script id="larder-ui" type="application/json">${
    escapeJson({ base: UI_BASE, api: REGISTRY_API_BASE, auth })
  }</script>
</head>
<body>
<div id="root"></div>
<script type="module" src="${assets}/ui.js"></script>
</body>
</html>
`;
}

const BUILDING = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>Feast UI · Larder</title></head>
<body style="font:15px/1.5 sans-serif;margin:12vh auto;max-width:32rem">
<h1 style="font-size:1.4rem">The web UI is being built</h1>
<p>The feature server builds the UI once, on the first request to it; this page reloads itself.</p>
</body></html>
`;

const FAILED = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Feast UI · Larder</title></head>
<body style="font:15px/1.5 sans-serif;margin:12vh auto;max-width:32rem">
<h1 style="font-size:1.4rem">The web UI could not be built</h1>
<p>The reason is in the feature server's log; the server tries again on a request a minute
later. The registry API (<code>/api/v1</code>) is served all the same.</p>
</body></html>
`;

/** Feast's UI title for a project (`_build_projects_list`, sdk/python/feast/ui_server.py). */
function title(project: string): string {
  return project.replaceAll("_", " ").replace(/\b\w/g, (c) => c.toUpperCase());
}

/**
 * Adds the UI's routes: the page (any path under `/ui/`, the UI routes in the browser), its
 * assets under `/ui/static/<build>/`, and `/ui/projects-list.json`.
 */
export function registerUi(app: Hono<AppEnv>, options: UiRouteOptions): void {
  const waitMs = options.waitMs ?? 2_000;

  app.get(UI_BASE, (c) => c.redirect(`${UI_BASE}/`, 308));

  app.get(
    `${UI_BASE}/projects-list.json`,
    options.authenticated(async (c) => {
      const { doc } = await options.lookup(c);
      return c.json({
        projects: [{
          name: title(doc.project),
          description: `Project: ${doc.project}`,
          id: doc.project,
          registryPath: REGISTRY_API_BASE,
        }],
      });
    }),
  );

  app.get(`${UI_BASE}/static/:key/*`, async (c) => {
    let ui: UiBundle;
    try {
      ui = await options.bundle();
    } catch {
      return c.text("The web UI could not be built", 503);
    }
    const rest = c.req.path.slice(`${UI_BASE}/static/${c.req.param("key")}/`.length);
    const type = TYPES[extname(rest)];
    if (
      c.req.param("key") !== ui.key || type === undefined ||
      !/^(ui\.js|feast-ui\.css|assets\/[\w.-]+\.svg)$/.test(rest)
    ) return c.notFound();
    // Streamed from disk (ui.js is about 5 MB); an asset the bundle lacks is a 404.
    let file: Deno.FsFile;
    try {
      file = await Deno.open(join(ui.dir, rest));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.IsADirectory) {
        return c.notFound();
      }
      throw err;
    }
    let size: number;
    try {
      const info = await file.stat();
      if (!info.isFile) {
        file.close();
        return c.notFound();
      }
      size = info.size;
    } catch (err) {
      file.close();
      throw err;
    }
    const headers = {
      "content-type": type,
      "content-length": String(size),
      "cache-control": "public, max-age=31536000, immutable",
    };
    if (c.req.method === "HEAD") {
      file.close();
      return c.body(null, 200, headers);
    }
    return c.body(file.readable, 200, headers);
  });

  // Any other path is one of the UI's own routes (`/ui/p/<project>/…`): the page.
  app.get(`${UI_BASE}/*`, async (c) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ui = await Promise.race([
      options.bundle().catch(() => "failed" as const),
      new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), waitMs)),
    ]);
    clearTimeout(timer);
    if (ui === "failed") return c.html(FAILED, 503);
    if (!ui) return c.html(BUILDING, 503, { "retry-after": "5" });
    return c.html(page(ui.key, options.auth), 200, { "cache-control": "no-cache" });
  });
}
