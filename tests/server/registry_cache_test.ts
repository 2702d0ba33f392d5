import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore, type RegistryDocument } from "../../engine/mod.ts";
import { RegistryCache, type RegistryReader } from "../../server/mod.ts";
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
