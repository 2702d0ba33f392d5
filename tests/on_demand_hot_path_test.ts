/** Serving an on-demand view never waits for a registry read once the caller holds the document. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore, writeTable } from "../mod.ts";
import { getOnlineFeatures } from "../engine/mod.ts";
import { FileRegistryBackend, type StoredText } from "../registry/mod.ts";
import { SCALED_FEATURES, tempRepo } from "./support/repo.ts";

/** The real file backend, counting reads. */
class CountingBackend extends FileRegistryBackend {
  reads = 0;
  override read(): Promise<StoredText | null> {
    this.reads++;
    return super.read();
  }
}

Deno.test("on-demand transforms are checked against the caller's document, without a registry read", async () => {
  const repo = await tempRepo({
    "features.ts": SCALED_FEATURES,
    // Every Registry.read() goes to the backend: a read on the request path would show.
    "larder.yaml": "project: test_project\nregistry:\n  type: file\n  cache_ttl_seconds: 0\n",
  });
  await writeTable(join(repo.dir, "data", "s.parquet"), {
    user_id: [1],
    ts: [new Date("2026-01-01T00:00:00Z")],
    x: [2],
  }, { user_id: "int64", ts: "timestamp", x: "float64" });
  const backend = new CountingBackend(join(repo.dir, "data", "registry.json"));
  const store = await FeatureStore.open({ repo: repo.dir, registryBackend: backend });
  try {
    await store.apply();
    await store.materialize({
      start: new Date("2025-12-01T00:00:00Z"),
      end: new Date("2026-01-02T00:00:00Z"),
    });
    const doc = await store.registry.read();
    const online = await store.onlineStore();
    const deps = { registry: doc, online, transforms: store.onDemandTransforms.bind(store) };
    const request = { features: ["scaled:y"], entities: { user_id: [1], k: [3] } };
    assert.deepEqual((await getOnlineFeatures(deps, request)).toRows(), [{ user_id: 1, y: 6 }]);
    const before = backend.reads;
    for (let i = 0; i < 5; i++) await getOnlineFeatures(deps, request);
    assert.equal(backend.reads, before, "no registry read while serving");
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("a request value that cannot be converted is named, bigints included", async () => {
  const repo = await tempRepo({
    "features.ts": SCALED_FEATURES.replace('schema: { k: "float64" }', 'schema: { k: "int64" }'),
  });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply({ skipSourceValidation: true });
    await assert.rejects(
      () =>
        store.getOnlineFeatures({
          features: ["scaled:y"],
          entities: { user_id: [1], k: [2n ** 70n] },
        }),
      {
        code: "INPUT_INVALID",
        message: 'Request field "k" row 0: expected int64, got 1180591620717411303424n',
      },
    );
  } finally {
    await store.close();
    await repo.remove();
  }
});
