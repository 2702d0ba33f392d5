import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore, type RegistryDocument } from "../../engine/mod.ts";
import { RegistryCache, type RegistryReader } from "../../server/mod.ts";
import { tempRepo } from "../support/repo.ts";

/** The real registry of a temp repo, read through a reader that can be slowed down or broken. */
async function slowRegistry() {
  const repo = await tempRepo();
  const store = await FeatureStore.open({ repo: repo.dir });
  await store.apply({ skipSourceValidation: true });
  const state = { delayMs: 0, fail: false, reads: 0 };
  const reader: RegistryReader = {
    async read(options) {
      state.reads++;
      await new Promise((r) => setTimeout(r, state.delayMs));
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

Deno.test("RegistryCache.get() waits only for the first load, never for refreshes", async () => {
  const r = await slowRegistry();
  const errors: unknown[] = [];
  const cache = new RegistryCache(r.reader, { refreshMs: 1000, onError: (e) => errors.push(e) });
  try {
    assert.equal(cache.current(), undefined);
    const [a, b] = await Promise.all([cache.get(), cache.get()]);
    assert.equal(a, b);
    assert.equal(r.state.reads, 1, "concurrent first calls share one load");
    r.state.delayMs = 5_000;
    const started = performance.now();
    for (let i = 0; i < 100; i++) assert.equal(await cache.get(), a);
    assert.ok(performance.now() - started < 50, "served from memory");
    r.state.delayMs = 0;
    r.state.fail = true;
    await new Promise((res) => setTimeout(res, 1100));
    assert.equal(await cache.get(), a, "a failed refresh keeps the document");
  } finally {
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
    await new Promise((res) => setTimeout(res, 1100));
    assert.equal(cache.current(), first, "unchanged: same object (derived caches stay valid)");
    await r.repo.write(
      "features.ts",
      (await r.repo.read("features.ts"))!.replace(/export const activity = .*\n/, ""),
    );
    const other = await FeatureStore.open({ repo: r.repo.dir });
    await other.apply({ skipSourceValidation: true });
    await other.close();
    await new Promise((res) => setTimeout(res, 1100));
    const next: RegistryDocument = cache.current()!;
    assert.equal(next.version, 2);
    assert.deepEqual(Object.keys(next.objects.featureService), []);
    assert.ok(cache.ageSeconds()! < 1.2);
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
