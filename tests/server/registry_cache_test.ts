import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore, type RegistryDocument } from "../../engine/mod.ts";
import { RegistryCache, type RegistryReader } from "../../server/mod.ts";
import { startBridge } from "../../server/redis_http/bridge.ts";
import { skipWithoutRedis, startRedisServer } from "../support/redis_server.ts";
import { tempRepo } from "../support/repo.ts";

/**
 * The real registry of a temp repo, read through a reader that can be slowed down, held until
 * released, or broken.
 */
async function slowRegistry() {
  const repo = await tempRepo();
  const store = await FeatureStore.open({ repo: repo.dir });
  await store.apply({ skipSourceValidation: true });
  const state = {
    delayMs: 0,
    fail: false,
    reads: 0,
    /** While set, reads wait for it. */
    gate: undefined as Promise<void> | undefined,
  };
  const reader: RegistryReader = {
    async read(options) {
      state.reads++;
      await new Promise((r) => setTimeout(r, state.delayMs));
      await state.gate;
      if (state.fail) throw new Error("registry down");
      return await store.registry.read(options);
    },
  };
  return {
    repo,
    store,
    state,
    reader,
    async close() {
      await store.close();
      await repo.remove();
    },
  };
}

/** Waits (polling, at most 10 s) until `done()` holds. */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `promise`'s value if it is already settled (after pending microtasks), else `"pending"`. */
function settledNow<T>(promise: Promise<T>): Promise<T | "pending"> {
  return Promise.race([promise, new Promise<"pending">((r) => setTimeout(r, 0, "pending"))]);
}

Deno.test("RegistryCache.get() waits only for the first load, never for refreshes", async () => {
  const r = await slowRegistry();
  const errors: unknown[] = [];
  const cache = new RegistryCache(r.reader, { refreshMs: 1000, onError: (e) => errors.push(e) });
  let release = () => {};
  try {
    assert.equal(cache.current(), undefined);
    const [a, b] = await Promise.all([cache.get(), cache.get()]);
    assert.equal(a, b);
    assert.equal(r.state.reads, 1, "concurrent first calls share one load");
    // Hold the next (background) refresh open, and make it fail when released.
    r.state.gate = new Promise((res) => (release = res));
    r.state.fail = true;
    await until(() => r.state.reads === 2, "the background refresh to start");
    for (let i = 0; i < 100; i++) {
      assert.equal(await settledNow(cache.get()), a, "answered while the refresh is under way");
    }
    release();
    await until(() => errors.length === 1, "the refresh to fail");
    assert.match(String(errors[0]), /registry down/);
    assert.match(String(cache.lastError), /registry down/);
    assert.equal(await settledNow(cache.get()), a, "a failed refresh keeps the document");
  } finally {
    release();
    cache.close();
    await new Promise((res) => setTimeout(res, 50));
    await r.close();
  }
});

Deno.test("RegistryCache refreshes on its TTL and keeps the same object when nothing changed", async () => {
  const r = await slowRegistry();
  const cache = new RegistryCache(r.reader, { refreshMs: 1000 });
  try {
    const first = await cache.get();
    await until(() => r.state.reads >= 2 && cache.ageSeconds()! < 0.9, "a first refresh");
    assert.equal(cache.current(), first, "unchanged: same object (derived caches stay valid)");
    await r.repo.write(
      "features.ts",
      (await r.repo.read("features.ts"))!.replace(/export const activity = .*\n/, ""),
    );
    const other = await FeatureStore.open({ repo: r.repo.dir });
    await other.apply({ skipSourceValidation: true });
    await other.close();
    await until(() => cache.current()!.version === 2, "the refresh to pick up the change");
    const next: RegistryDocument = cache.current()!;
    assert.deepEqual(Object.keys(next.objects.featureService), []);
    // Three refreshes later (3+ s after the first load), the age still counts from the last one.
    const reads = r.state.reads;
    await until(() => r.state.reads >= reads + 2, "two more refreshes");
    assert.ok(cache.ageSeconds()! < 2, `age ${cache.ageSeconds()} s: it restarts at each refresh`);
  } finally {
    cache.close();
    await r.close();
  }
});

Deno.test("RegistryCache.check() reads now and reports a broken registry", async () => {
  const r = await slowRegistry();
  const cache = new RegistryCache(r.reader);
  try {
    assert.equal((await cache.check()).version, 1);
    await Deno.writeTextFile(join(r.repo.dir, "data/registry.json"), "garbage");
    await assert.rejects(() => cache.check(), { code: "REGISTRY_CORRUPT" });
    r.state.delayMs = 300;
    await assert.rejects(() => cache.check(100), {
      code: "UNAVAILABLE",
      message: "The registry did not answer within 100 ms",
    });
    assert.equal(cache.current()?.version, 1, "still serving the last good document");
    await new Promise((res) => setTimeout(res, 300));
  } finally {
    cache.close();
    await r.close();
  }
});

/** Records one more materialized interval: a new registry version with the same objects. */
async function bump(store: FeatureStore): Promise<number> {
  const doc = await store.registry.update((d) => ({
    ...d,
    materializations: {
      ...d.materializations,
      driver_hourly_stats: [{ start: "a", end: `b${d.version}`, recordedAt: "c" }],
    },
  }));
  return doc.version;
}

/** Reads `cache` until the registry answers (the bridge reconnects after a restart). */
async function checkUntilReadable(cache: RegistryCache): Promise<RegistryDocument> {
  for (let i = 0;; i++) {
    try {
      return await cache.check(5000);
    } catch (err) {
      if (i > 200) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const TOKEN = "registry-cache-token";

Deno.test({
  name: "RegistryCache keeps serving its document when Redis restarts empty, until it catches up",
  ignore: skipWithoutRedis("tests/server/registry_cache_test.ts"),
  async fn() {
    const redis = await startRedisServer();
    const bridge = await startBridge({ port: 0, redisUrl: redis.url, token: TOKEN });
    const repo = await tempRepo({
      "larder.yaml":
        `project: test_project\nregistry:\n  type: redis\n  url: ${bridge.url}\n  token: ${TOKEN}\n`,
    });
    const store = await FeatureStore.open({ repo: repo.dir });
    const errors: unknown[] = [];
    const cache = new RegistryCache(store.registry, { onError: (e) => errors.push(e) });
    try {
      await store.apply({ skipSourceValidation: true });
      await bump(store);
      assert.equal(await bump(store), 3);
      const served = await cache.get();
      assert.equal(served.version, 3);
      assert.equal(cache.regression(), undefined);

      await redis.restart(); // no persistence: the registry is gone
      assert.equal(await checkUntilReadable(cache), served, "check() answers the served document");
      assert.equal(cache.current(), served);
      assert.deepEqual(Object.keys(cache.current()!.objects.featureView), ["driver_hourly_stats"]);
      const regression = cache.regression()!;
      assert.equal(regression.served, 3);
      assert.equal(regression.stored, 0);
      assert.equal(
        regression.message,
        "The registry went from version 3 to 0: it may have been reset or restored from an older copy; serving version 3 until the registry holds version 3 or later (restart the server to serve the registry as it is now)",
      );
      await cache.check();
      assert.equal(errors.length, 1, "reported once, not at every refresh");
      assert.match(String(errors[0]), /went from version 3 to 0/);

      // Applied again: version 1, still older than what is served.
      await store.apply({ skipSourceValidation: true });
      await cache.check();
      assert.equal(cache.current(), served);
      assert.equal(cache.regression()?.stored, 1);
      assert.equal(errors.length, 2);

      await bump(store);
      assert.equal(await bump(store), 3);
      const caughtUp = await cache.check();
      assert.equal(cache.regression(), undefined, "recovered at the served version");
      assert.notEqual(caughtUp, served, "the registry's own document is served again");
      assert.equal(cache.current(), caughtUp);
      assert.equal(caughtUp.version, 3);
    } finally {
      cache.close();
      await store.close();
      await bridge.close();
      await redis.stop();
      await repo.remove();
    }
  },
});

Deno.test("RegistryCache does not go back when the registry file is replaced by an older one", async () => {
  const r = await slowRegistry();
  const errors: unknown[] = [];
  const cache = new RegistryCache(r.reader, { onError: (e) => errors.push(e) });
  try {
    const registryFile = join(r.repo.dir, "data/registry.json");
    const v1 = await Deno.readTextFile(registryFile);
    assert.equal(await bump(r.store), 2);
    const served = await cache.get();
    assert.equal(served.version, 2);
    await Deno.writeTextFile(registryFile, v1); // e.g. a backup restored over it
    assert.equal(await cache.check(), served);
    assert.match(cache.regression()!.message, /^The registry went from version 2 to 1: /);
    assert.equal(errors.length, 1);
    // An empty document (as a deleted file reads) is no better.
    await Deno.remove(registryFile);
    assert.equal(await cache.check(), served);
    assert.equal(cache.regression()?.stored, 0);
    // Nor is another project's document.
    let next: RegistryDocument = served;
    const switching = new RegistryCache({ read: () => Promise.resolve(next) });
    try {
      await switching.get();
      next = { ...served, project: "other_project", version: 9 };
      assert.equal(await switching.check(), served);
      assert.match(
        switching.regression()!.message,
        /^The registry now belongs to project "other_project", not "test_project": serving version 2 /,
      );
    } finally {
      switching.close();
    }
    await Deno.writeTextFile(registryFile, v1.replace('"version": 1', '"version": 2'));
    await cache.check();
    assert.equal(cache.regression(), undefined, "version 2 again: followed");
    assert.equal(cache.current()!.version, 2);
  } finally {
    cache.close();
    await r.close();
  }
});

/**
 * The real registry of a temp repo, read at once (as it is when the read starts) and answered
 * when the test releases it, in any order.
 */
async function heldRegistry() {
  const repo = await tempRepo();
  const store = await FeatureStore.open({ repo: repo.dir });
  await store.apply({ skipSourceValidation: true });
  const state = { hold: false, reads: 0, held: [] as (() => void)[] };
  const reader: RegistryReader = {
    async read(options) {
      state.reads++;
      const doc = await store.registry.read(options);
      if (state.hold) await new Promise<void>((resolve) => state.held.push(resolve));
      return doc;
    },
  };
  return {
    store,
    state,
    reader,
    async close() {
      await store.close();
      await repo.remove();
    },
  };
}

Deno.test("RegistryCache.check() shares the read in flight: no false regression when reads finish out of order", async () => {
  const r = await heldRegistry();
  const errors: unknown[] = [];
  const cache = new RegistryCache(r.reader, { onError: (e) => errors.push(e) });
  try {
    assert.equal((await cache.get()).version, 1);
    r.state.hold = true;
    const first = cache.check(30_000); // reads version 1
    await until(() => r.state.held.length === 1, "the first read");
    assert.equal(await bump(r.store), 2);
    const second = cache.check(30_000); // a read of its own would see version 2
    // Every read started is held; the later one answers first, the earlier one last.
    await until(() => r.state.held.length === r.state.reads - 1, "every read to be held");
    for (const release of [...r.state.held].reverse()) {
      release();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await Promise.all([first, second]);
    assert.equal(cache.regression(), undefined, "no regression: the registry only went forward");
    assert.deepEqual(errors, []);
    assert.equal(r.state.reads, 2, "the load, then one read shared by both checks");
    r.state.hold = false;
    assert.equal((await cache.check()).version, 2, "the next check reads the registry again");
  } finally {
    cache.close();
    await r.close();
  }
});

Deno.test("RegistryCache starts a new read once one has hung for refreshMs, and ignores the hung one's late answer", async () => {
  const r = await heldRegistry();
  const errors: unknown[] = [];
  const cache = new RegistryCache(r.reader, { refreshMs: 1000, onError: (e) => errors.push(e) });
  try {
    assert.equal((await cache.get()).version, 1);
    r.state.hold = true;
    const hung = cache.check(30_000); // reads version 1, answers last
    await until(() => r.state.held.length === 1, "the first read");
    assert.equal(await bump(r.store), 2);
    r.state.hold = false; // only the first read hangs
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const fresh = await cache.check(30_000);
    assert.equal(fresh.version, 2, "a new read, not the hung one");
    r.state.held[0]!();
    assert.equal((await hung).version, 2, "the late answer (version 1) is not served");
    assert.equal(cache.current()!.version, 2);
    assert.equal(cache.regression(), undefined);
    assert.deepEqual(errors, []);
  } finally {
    cache.close();
    await r.close();
  }
});
