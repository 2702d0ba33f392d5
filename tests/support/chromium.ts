/**
 * Debian's headless Chromium (`apt-get install chromium`), driven with puppeteer-core; each
 * test starts its own browser with a new profile and stops it.
 */
import puppeteer, { type Browser, type Page } from "puppeteer-core";

/** Where Debian installs Chromium. */
export const CHROMIUM = "/usr/bin/chromium";

function chromiumAvailable(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

const warned = new Set<string>();

/** Whether to skip a browser suite: Chromium is missing outside CI (under CI=true: fail). */
export function skipWithoutChromium(suite: string): boolean {
  if (chromiumAvailable() || Deno.env.get("CI") === "true") return false;
  if (!warned.has(suite)) {
    warned.add(suite);
    console.warn(
      `\n!!! SKIPPING "${suite}": "${CHROMIUM}" is not installed (apt-get install chromium). ` +
        `Under CI=true these tests fail instead.\n`,
    );
  }
  return true;
}

/** A running browser. */
export interface TestBrowser {
  readonly browser: Browser;
  /** A new page, 1280×900, that records the page's errors into `errors`. */
  page(): Promise<{ page: Page; errors: string[] }>;
  close(): Promise<void>;
}

/**
 * Starts headless Chromium with the flags this machine needs (no sandbox as root, nothing that
 * reaches the network by itself) and a new profile.
 */
export async function startChromium(): Promise<TestBrowser> {
  const profile = await Deno.makeTempDir({ prefix: "larder-chromium-" });
  let browser: Browser;
  try {
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
      ],
      protocolTimeout: 60_000,
    });
  } catch (err) {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
    throw err;
  }
  return {
    browser,
    async page() {
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 900 });
      const errors: string[] = [];
      page.on("pageerror", (err) => errors.push(String(err)));
      return { page, errors };
    },
    async close() {
      await browser.close().catch(() => {});
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}

/** Waits until the page's text holds `text` (polling the DOM). */
export async function waitForText(page: Page, text: string, timeoutMs = 30_000): Promise<void> {
  // Expressions as strings: they run in the page, whose DOM types this project does not load.
  await page.waitForFunction(
    `(document.body?.innerText ?? "").includes(${JSON.stringify(text)})`,
    { timeout: timeoutMs, polling: 100 },
  );
}

/** The page's visible text. */
export async function pageText(page: Page): Promise<string> {
  return await page.evaluate("document.body.innerText") as string;
}

/** Sets the value of the input `selector` (replacing what it holds). */
export async function setInput(page: Page, selector: string, value: string): Promise<void> {
  await page.evaluate(`document.querySelector(${JSON.stringify(selector)}).value = ""`);
  await page.type(selector, value);
}
