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

Deno.test("buildUiBundle() waits while another builder holds the lock, then uses its bundle", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    const key = await uiBundleKey();
    // Another builder: an OS lock on the lock file, as a build in another process holds it.
    const other = await Deno.open(join(cacheDir, `ui-${key}.lock`), { write: true, create: true });
    await other.lock(true);
    let settled = false;
    const waiting = buildUiBundle({ cacheDir }).finally(() => settled = true);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    assert.equal(settled, false);
    const dir = await finished(cacheDir, key);
    await other.unlock();
    other.close();
    assert.deepEqual(await waiting, { dir, key });
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("buildUiBundle() builds past a lock file a killed builder left, and clears its leftovers", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    const key = await uiBundleKey();
    const lock = join(cacheDir, `ui-${key}.lock`);
    // A killed builder leaves its lock file (the OS has dropped its lock) and its build folder.
    await Deno.writeTextFile(lock, "");
    await Deno.mkdir(join(cacheDir, `ui-${key}.build-dead`));
    // No bundle yet: it builds at once, and with a 1 ms limit the build fails at once, which
    // shows it did not wait.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      buildUiBundle({ cacheDir, timeoutMs: 1 }).then(() => "built", (err: Error) => err.message),
      new Promise<string>((resolve) => timer = setTimeout(() => resolve("still waiting"), 30_000)),
    ]);
    clearTimeout(timer);
    assert.match(outcome, /^Cannot build the web UI: /);
    assert.equal(await Deno.stat(join(cacheDir, `ui-${key}.build-dead`)).catch(() => null), null);
    const file = await Deno.open(lock, { write: true });
    assert.equal(await file.tryLock(true), true, "the lock is released");
    file.close();
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("buildUiBundle() answers a failed build's error for retryMs, then builds again", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    const builds: string[] = [];
    const options = { cacheDir, timeoutMs: 1, retryMs: 300, log: (l: string) => builds.push(l) };
    const first = await buildUiBundle(options).catch((err: Error) => err);
    assert.match(String(first), /Cannot build the web UI: /);
    assert.equal(builds.length, 1);
    const again = await buildUiBundle(options).catch((err: Error) => err);
    assert.equal(again, first, "the same failure, without building");
    assert.equal(builds.length, 1);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const retried = await buildUiBundle(options).catch((err: Error) => err);
    assert.notEqual(retried, first, "a new attempt");
    assert.equal(builds.length, 2);
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
