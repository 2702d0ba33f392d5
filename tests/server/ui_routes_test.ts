/**
 * The routes of `/ui` on the real app (`app.request()`, and a real server for paths that a
 * `Request` would normalise), with a bundle folder written by the test: the page, its hashed
 * assets, the project list behind auth, and the answers while the bundle is being built or
 * could not be built.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { hashToken, TokenVerifier } from "../../server/mod.ts";
import type { UiBundle } from "../../server/ui.ts";
import { startServer } from "./_harness.ts";
import { connect, readUntilClosed, send } from "./_raw_http.ts";

async function bundleDir(): Promise<UiBundle> {
  const dir = await Deno.makeTempDir({ prefix: "larder-ui-routes-" });
  await Deno.mkdir(join(dir, "assets"));
  await Deno.writeTextFile(join(dir, "ui.js"), "console.log('ui')");
  await Deno.writeTextFile(join(dir, "feast-ui.css"), 'html { background: url("assets/a.svg") }');
  await Deno.writeTextFile(join(dir, "assets", "a.svg"), "<svg/>");
  return { dir, key: "0123456789abcdef" };
}

Deno.test("/ui serves the page, its hashed assets and the project list", async () => {
  const ui = await bundleDir();
  const auth = new TokenVerifier([
    { name: "viewer", sha256: await hashToken("view-key"), roles: [] },
  ]);
  const errors: unknown[] = [];
  const server = await startServer({
    auth,
    deps: (d) => ({ ...d, ui: () => Promise.resolve(ui) }),
    logError: (err) => errors.push(err),
  });
  try {
    const bare = await server.request("GET", "/ui");
    assert.equal(bare.status, 308);
    assert.equal(bare.headers.get("location"), "/ui/");

    // The page: public (a browser cannot send a token with it), holding no registry data.
    for (const path of ["/ui/", "/ui/p/test_project/feature-view/driver_trips"]) {
      const page = await server.request("GET", path);
      assert.equal(page.status, 200, path);
      assert.match(page.headers.get("content-type")!, /^text\/html/);
      assert.equal(page.headers.get("cache-control"), "no-cache");
      assert.match(
        page.text,
        /<script type="module" src="\/ui\/static\/0123456789abcdef\/ui\.js">/,
      );
      assert.match(page.text, /href="\/ui\/static\/0123456789abcdef\/feast-ui\.css"/);
      assert.ok(
        page.text.includes(
          '<script id="larder-ui" type="application/json">{"base":"/ui","api":"/api/v1","auth":true}</script>',
        ),
      );
      assert.ok(!page.text.includes("driver"), "no registry data in the page");
    }

    const js = await server.request("GET", "/ui/static/0123456789abcdef/ui.js");
    assert.equal(js.status, 200);
    assert.equal(js.text, "console.log('ui')");
    assert.equal(js.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal(js.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.equal(js.headers.get("content-length"), String("console.log('ui')".length));
    const svg = await server.request("GET", "/ui/static/0123456789abcdef/assets/a.svg");
    assert.equal(svg.status, 200);
    assert.equal(svg.text, "<svg/>");
    assert.equal(svg.headers.get("content-type"), "image/svg+xml");
    const head = await server.app.request("/ui/static/0123456789abcdef/ui.js", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), String("console.log('ui')".length));
    for (
      const path of [
        "/ui/static/ffffffffffffffff/ui.js", // another build
        "/ui/static/0123456789abcdef/manifest.json",
        "/ui/static/0123456789abcdef/assets/%2e%2e%2fui.js",
        // A name the guard lets through that the bundle lacks: 404, not a 500.
        "/ui/static/0123456789abcdef/assets/missing.svg",
      ]
    ) {
      const res = await server.request("GET", path);
      assert.equal(res.status, 404, path);
      assert.equal(res.json.error.code, "NOT_FOUND", path);
    }
    assert.deepEqual(errors, [], "nothing logged");

    // The data is not public: the project list asks for the token like the API.
    const anonymous = await server.request("GET", "/ui/projects-list.json");
    assert.equal(anonymous.status, 401);
    const list = await server.request("GET", "/ui/projects-list.json", {
      headers: { authorization: "Bearer view-key" },
    });
    assert.equal(list.status, 200);
    // As `feast ui` writes it (`_build_projects_list`, sdk/python/feast/ui_server.py).
    assert.deepEqual(list.json, {
      projects: [{
        name: "Test Project",
        description: "Project: test_project",
        id: "test_project",
        registryPath: "/api/v1",
      }],
    });
  } finally {
    await server.close();
    await Deno.remove(ui.dir, { recursive: true });
  }
});

Deno.test("/ui/static refuses paths outside the bundle as sent, before any normalisation", async () => {
  const ui = await bundleDir();
  await Deno.writeTextFile(join(ui.dir, "secret.txt"), "s3cr3t-content");
  const server = await startServer({ deps: (d) => ({ ...d, ui: () => Promise.resolve(ui) }) });
  // A real server: `new Request()` (so `app.request()`) would resolve "..", Deno's server does not.
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, server.app.fetch);
  const raw = async (path: string) => {
    const conn = await connect(http.addr.port);
    await send(conn, `GET ${path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n`);
    const { text } = await readUntilClosed(conn, { timeoutMs: 30_000 });
    return { status: Number(text.slice(9, 12)), text };
  };
  try {
    const base = "/ui/static/0123456789abcdef";
    assert.equal((await raw(`${base}/feast-ui.css`)).status, 200, "the raw path is served");
    for (
      const path of [
        `${base}/../ui.js`,
        `${base}/assets/../feast-ui.css`, // a served file, once normalised
        `${base}/assets/../../../../etc/passwd`,
        `${base}/assets/%2e%2e/secret.txt`,
        `${base}/assets/..%2fsecret.txt`,
        `${base}/secret.txt`,
      ]
    ) {
      const res = await raw(path);
      assert.equal(res.status, 404, `${path}: ${res.text.slice(0, 200)}`);
      assert.doesNotMatch(res.text, /s3cr3t-content|background/, path);
    }
  } finally {
    await http.shutdown();
    await server.close();
    await Deno.remove(ui.dir, { recursive: true });
  }
});

Deno.test("/ui answers 503 while the bundle is built, then the page; 503 when it fails", async () => {
  const ui = await bundleDir();
  let finish!: (bundle: UiBundle) => void;
  const pending = new Promise<UiBundle>((resolve) => finish = resolve);
  // The page waits `uiWaitMs` for a bundle before answering "being built": none here.
  const config = { uiWaitMs: 0 };
  const server = await startServer({ config, deps: (d) => ({ ...d, ui: () => pending }) });
  const failing = await startServer({
    config,
    deps: (d) => ({ ...d, ui: () => Promise.reject(new Error("no npm registry")) }),
  });
  try {
    const building = await server.request("GET", "/ui/");
    assert.equal(building.status, 503);
    assert.equal(building.headers.get("retry-after"), "5");
    assert.match(building.text, /The web UI is being built/);
    const config = { base: "/ui", api: "/api/v1", auth: false };
    finish(ui);
    const ready = await server.request("GET", "/ui/");
    assert.equal(ready.status, 200);
    assert.ok(ready.text.includes(JSON.stringify(config)));

    const failed = await failing.request("GET", "/ui/");
    assert.equal(failed.status, 503);
    assert.match(failed.text, /The web UI could not be built/);
    assert.doesNotMatch(failed.text, /npm registry/, "the reason is the server log's");
    const api = await failing.request("GET", "/api/v1/entities?project=test_project");
    assert.equal(api.status, 200, "the API is served all the same");
  } finally {
    await server.close();
    await failing.close();
    await Deno.remove(ui.dir, { recursive: true });
  }
});

Deno.test("/ui asks the bundle source again after a failure: a later build is served", async () => {
  const ui = await bundleDir();
  let calls = 0;
  const source = () =>
    ++calls === 1 ? Promise.reject(new Error("no npm registry")) : Promise.resolve(ui);
  const server = await startServer({
    config: { uiWaitMs: 0 },
    deps: (d) => ({ ...d, ui: source }),
  });
  try {
    const failed = await server.request("GET", "/ui/");
    assert.equal(failed.status, 503);
    assert.match(failed.text, /The web UI could not be built/);
    const ready = await server.request("GET", "/ui/");
    assert.equal(ready.status, 200, "the source (buildUiBundle) decides when to build again");
    const js = await server.request("GET", "/ui/static/0123456789abcdef/ui.js");
    assert.equal(js.status, 200);
  } finally {
    await server.close();
    await Deno.remove(ui.dir, { recursive: true });
  }
});

Deno.test("without a bundle (the edge entry) the app serves no /ui", async () => {
  const server = await startServer();
  try {
    assert.equal((await server.request("GET", "/ui/")).status, 404);
    assert.equal((await server.request("GET", "/api/v1/projects")).status, 200);
  } finally {
    await server.close();
  }
});
