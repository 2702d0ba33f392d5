/**
 * The web UI in a real browser: Feast's UI, bundled with `deno bundle`, served at `/ui` by the
 * real app on a real port, reading the registry API; pages checked by their text. Set
 * `LARDER_UI_SCREENSHOTS=<dir>` to keep a screenshot of each page.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "puppeteer-core";
import { hashToken, TokenVerifier } from "../../server/mod.ts";
import { buildUiBundle, type UiBundle } from "../../server/ui_bundle.ts";
import {
  pageText,
  setInput,
  skipWithoutChromium,
  startChromium,
  waitForText,
} from "../support/chromium.ts";
import { SERVER_FEATURES_ON_DEMAND, startServer, type StartServerOptions } from "./_harness.ts";

const SUITE = "tests/server/ui_test.ts";

const shots = Deno.env.get("LARDER_UI_SCREENSHOTS");

async function shoot(page: Page, name: string): Promise<void> {
  if (!shots) return;
  await Deno.mkdir(shots, { recursive: true });
  await page.screenshot({ path: join(shots, `${name}.png`) as `${string}.png` });
}

let bundle: Promise<UiBundle> | undefined;

/** The app of `options` on a free port, with the UI. */
async function serveUi(options: StartServerOptions = {}) {
  const ui = await (bundle ??= buildUiBundle());
  const server = await startServer({
    features: SERVER_FEATURES_ON_DEMAND,
    ...options,
    deps: (deps) => ({ ...deps, ui: () => Promise.resolve(ui) }),
  });
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    server.app.fetch,
  );
  const url = `http://127.0.0.1:${http.addr.port}`;
  return {
    url,
    async close() {
      await http.shutdown();
      await server.close();
    },
  };
}

Deno.test({
  name: "web UI shows the project, a feature view, a service and the lineage in Chromium",
  ignore: skipWithoutChromium(SUITE),
  async fn(t) {
    const server = await serveUi();
    const browser = await startChromium();
    try {
      const { page, errors } = await browser.page();
      const base = `${server.url}/ui`;

      await t.step("/ui/ opens the only project", async () => {
        await page.goto(`${base}/`);
        await waitForText(page, "Project: Test Project");
        await waitForText(page, "Feature Views");
        assert.equal(new URL(page.url()).pathname, "/ui/p/test_project");
        await shoot(page, "project");
        const text = await pageText(page);
        // The sidebar counts what the registry API lists.
        assert.match(text, /Data Sources \(4\)/);
        assert.match(text, /Feature Services \(2\)/);
      });

      await t.step("a feature view page lists its features and entity", async () => {
        await page.goto(`${base}/p/test_project/feature-view/driver_hourly_stats`);
        await waitForText(page, "conv_rate");
        const text = await pageText(page);
        assert.match(text, /driver_hourly_stats/);
        assert.match(text, /acc_rate/);
        assert.match(text, /FLOAT/);
        assert.match(text, /driver/);
        await shoot(page, "feature-view");
      });

      await t.step("an on-demand view page shows the transform's source text", async () => {
        await page.goto(`${base}/p/test_project/feature-view/scaled`);
        await waitForText(page, "Transformation");
        await waitForText(page, "c.conv_rate.map");
        const text = await pageText(page);
        assert.match(text, /req/, "the request source input");
        await shoot(page, "on-demand-view");
      });

      await t.step("a feature service page lists its views' features", async () => {
        await page.goto(`${base}/p/test_project/feature-service/driver_activity`);
        await waitForText(page, "driver_trips");
        const text = await pageText(page);
        assert.match(text, /driver_hourly_stats/);
        assert.match(text, /trips_today/);
        await shoot(page, "feature-service");
      });

      await t.step("the lineage page draws the registry's objects", async () => {
        await page.goto(`${base}/p/test_project/lineage`);
        await waitForText(page, "driver_stats_source");
        const text = await pageText(page);
        for (const name of ["driver_activity", "driver_hourly_stats", "driver"]) {
          assert.ok(text.includes(name), `lineage shows "${name}"`);
        }
        await shoot(page, "lineage");
      });

      assert.deepEqual(errors, [], "no uncaught error in the page");
    } finally {
      await browser.close();
      await server.close();
    }
  },
});

Deno.test({
  name: "web UI asks for a token when auth is on, and sends it with its API calls",
  ignore: skipWithoutChromium(SUITE),
  async fn() {
    const auth = new TokenVerifier([
      { name: "ui", sha256: await hashToken("ui-key"), roles: ["viewer"] },
    ]);
    const server = await serveUi({ auth });
    const browser = await startChromium();
    try {
      // The page and its assets are public; the data is not.
      const assets = await fetch(`${server.url}/ui/`);
      assert.equal(assets.status, 200);
      await assets.body?.cancel();
      const list = await fetch(`${server.url}/ui/projects-list.json`);
      assert.equal(list.status, 401);
      await list.body?.cancel();

      const { page, errors } = await browser.page();
      await page.goto(`${server.url}/ui/`);
      await waitForText(page, "Sign in to the Larder registry");
      await setInput(page, "#larder-token", "wrong");
      await page.click("#larder-sign-in button");
      await waitForText(page, "The server refused this token.");
      await shoot(page, "sign-in");

      await setInput(page, "#larder-token", "ui-key");
      await page.click("#larder-sign-in button");
      await waitForText(page, "Project: Test Project");
      await waitForText(page, "Feature Services (2)");
      await shoot(page, "signed-in");

      await page.click("#larder-sign-out");
      await waitForText(page, "Sign in to the Larder registry");
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await server.close();
    }
  },
});
