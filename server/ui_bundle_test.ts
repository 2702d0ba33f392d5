import assert from "node:assert/strict";
import { join } from "node:path";
import { buildUiBundle, defaultCacheDir, uiBundleKey } from "./ui_bundle.ts";

/** A cache folder holding a finished bundle of the current sources (as a build leaves it). */
async function finished(cacheDir: string, key: string): Promise<string> {
  const dir = join(cacheDir, `ui-${key}`);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "manifest.json"), JSON.stringify({ key }));
  return dir;
}

Deno.test("buildUiBundle() serves a finished bundle from the cache without building", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    const key = await uiBundleKey();
    assert.match(key, /^[0-9a-f]{16}$/);
    const dir = await finished(cacheDir, key);
    assert.deepEqual(await buildUiBundle({ cacheDir }), { dir, key });
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("buildUiBundle() waits for another builder's lock, then uses its bundle", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    const key = await uiBundleKey();
    const lock = join(cacheDir, `ui-${key}.lock`);
    await Deno.writeTextFile(lock, "");
    let settled = false;
    const waiting = buildUiBundle({ cacheDir }).finally(() => settled = true);
    // The other builder is alive (its lock is fresh): this one waits.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    assert.equal(settled, false);
    const dir = await finished(cacheDir, key);
    await Deno.remove(lock);
    assert.deepEqual(await waiting, { dir, key });
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("buildUiBundle() takes over a dead builder's lock and clears its leftovers", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    const key = await uiBundleKey();
    const lock = join(cacheDir, `ui-${key}.lock`);
    await Deno.writeTextFile(lock, "");
    const old = new Date(Date.now() - 120_000);
    await Deno.utime(lock, old, old);
    await Deno.mkdir(join(cacheDir, `ui-${key}.build-dead`));
    // No bundle yet: after taking the lock it builds, and with a 1 ms limit the build fails at
    // once, which shows it did not wait for the dead builder.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      buildUiBundle({ cacheDir, timeoutMs: 1 }).then(() => "built", (err: Error) => err.message),
      new Promise<string>((resolve) => timer = setTimeout(() => resolve("still waiting"), 30_000)),
    ]);
    clearTimeout(timer);
    assert.match(outcome, /^Cannot build the web UI: /);
    assert.equal(await Deno.stat(join(cacheDir, `ui-${key}.build-dead`)).catch(() => null), null);
    assert.equal(await Deno.stat(lock).catch(() => null), null, "the lock is released");
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("defaultCacheDir() follows LARDER_CACHE_DIR, then XDG_CACHE_HOME, then HOME", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(defaultCacheDir(env({ LARDER_CACHE_DIR: "/c", HOME: "/h" })), "/c");
  assert.equal(defaultCacheDir(env({ XDG_CACHE_HOME: "/x", HOME: "/h" })), "/x/larder");
  assert.equal(defaultCacheDir(env({ HOME: "/h" })), "/h/.cache/larder");
});
