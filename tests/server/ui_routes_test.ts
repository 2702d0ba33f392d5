/**
 * The routes of `/ui` on the real app (`app.request()`), with a bundle folder written by the
 * test: the page, its hashed assets, the project list behind auth, and the answers while the
 * bundle is being built or could not be built.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { hashToken, TokenVerifier } from "../../server/mod.ts";
import type { UiBundle } from "../../server/ui.ts";
import { startServer } from "./_harness.ts";

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
  const server = await startServer({
    auth,
    deps: (d) => ({ ...d, ui: () => Promise.resolve(ui) }),
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
    const svg = await server.request("GET", "/ui/static/0123456789abcdef/assets/a.svg");
    assert.equal(svg.status, 200);
    assert.equal(svg.headers.get("content-type"), "image/svg+xml");
    for (
      const path of [
        "/ui/static/ffffffffffffffff/ui.js", // another build
        "/ui/static/0123456789abcdef/manifest.json",
        "/ui/static/0123456789abcdef/../ui.js",
        "/ui/static/0123456789abcdef/assets/%2e%2e%2fui.js",
      ]
    ) {
      assert.equal((await server.request("GET", path)).status, 404, path);
    }

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

Deno.test("/ui answers 503 while the bundle is built, then the page; 503 when it fails", async () => {
  const ui = await bundleDir();
  let finish!: (bundle: UiBundle) => void;
  const pending = new Promise<UiBundle>((resolve) => finish = resolve);
  const server = await startServer({ deps: (d) => ({ ...d, ui: () => pending }) });
  const failing = await startServer({
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

Deno.test("without a bundle (the edge entry) the app serves no /ui", async () => {
  const server = await startServer();
  try {
    assert.equal((await server.request("GET", "/ui/")).status, 404);
    assert.equal((await server.request("GET", "/api/v1/projects")).status, 200);
  } finally {
    await server.close();
  }
});
