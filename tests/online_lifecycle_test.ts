import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore, writeTable } from "../mod.ts";
import { tempRepo } from "./support/repo.ts";

const FEATURES = `
import { entity, featureView, fileSource } from "larder";
export const user = entity({ name: "user", joinKeys: ["user_id"], valueType: "int64" });
export const source = fileSource({ name: "s", path: "data/s.parquet", timestampField: "ts" });
export const kept = featureView({ name: "kept", entities: [user], schema: { a: "float64" }, source });
export const dropped = featureView({ name: "dropped", entities: [user], schema: { b: "float64" }, source });
`;

Deno.test("apply deleting a view removes its online rows; teardown removes all", async () => {
  const repo = await tempRepo({ "features.ts": FEATURES });
  await writeTable(join(repo.dir, "data", "s.parquet"), {
    user_id: [1, 2],
    ts: [new Date("2026-01-01T00:00:00Z"), new Date("2026-01-01T00:00:00Z")],
    a: [0.5, 1.5],
    b: [2.5, 3.5],
  }, { user_id: "int64", ts: "timestamp", a: "float64", b: "float64" });
  const store = await FeatureStore.open({ repo: repo.dir });
  const keys = (
    view: string,
  ) => [{ view, entityKey: "user_id=1" }, { view, entityKey: "user_id=2" }];
  try {
    await store.apply();
    await store.materialize({
      start: new Date("2025-12-01T00:00:00Z"),
      end: new Date("2026-01-02T00:00:00Z"),
    });
    const online = await store.onlineStore();
    assert.equal((await online.read(keys("dropped"))).filter((r) => r !== null).length, 2);

    await repo.write("features.ts", FEATURES.replace(/export const dropped = .*\n/, ""));
    const applied = await store.apply();
    assert.deepEqual(applied.plan.changes.filter((c) => c.action === "delete").map((c) => c.name), [
      "dropped",
    ]);
    assert.deepEqual(await online.read(keys("dropped")), [null, null]);
    assert.equal((await online.read(keys("kept"))).filter((r) => r !== null).length, 2);
    const doc = await store.registry.read({ fresh: true });
    assert.equal(doc.materializations.dropped, undefined);
    assert.equal(doc.materializations.kept?.length, 1);

    await store.teardown();
    assert.deepEqual(await online.read(keys("kept")), [null, null]);
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("the same online request follows the registry: a re-applied view changes its answer", async () => {
  const repo = await tempRepo({ "features.ts": FEATURES });
  const store = await FeatureStore.open({ repo: repo.dir });
  const request = { features: ["kept:a", "dropped:b"], entities: { user_id: [1] } };
  try {
    await store.apply({ skipSourceValidation: true });
    await store.writeToOnlineStore("kept", {
      user_id: [1],
      ts: ["2026-01-01T00:00:00Z"],
      a: [0.5],
    });
    await store.writeToOnlineStore("dropped", {
      user_id: [1],
      ts: ["2026-01-01T00:00:00Z"],
      b: [2.5],
    });
    assert.deepEqual((await store.getOnlineFeatures(request)).toRows(), [
      { user_id: 1, a: 0.5, b: 2.5 },
    ]);

    // The same request shape after "dropped" is deleted: not served from what was resolved before.
    await repo.write("features.ts", FEATURES.replace(/export const dropped = .*\n/, ""));
    await store.apply({ skipSourceValidation: true });
    await assert.rejects(
      () => store.getOnlineFeatures(request),
      /Cannot find feature view "dropped"/,
    );
    // Renaming a feature: the old name, read just before, is refused after.
    const onlyA = { features: ["kept:a"], entities: { user_id: [1] } };
    assert.deepEqual((await store.getOnlineFeatures(onlyA)).toRows(), [{ user_id: 1, a: 0.5 }]);
    await repo.write(
      "features.ts",
      FEATURES.replace(/export const dropped = .*\n/, "").replace("{ a: ", "{ a2: "),
    );
    await store.apply({ skipSourceValidation: true });
    await assert.rejects(
      () => store.getOnlineFeatures(onlyA),
      /"a"/,
    );
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("request shapes that join to the same text are still told apart", async () => {
  const repo = await tempRepo({ "features.ts": FEATURES });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply({ skipSourceValidation: true });
    const entities = { user_id: [1] };
    // Valid: references are trimmed. Joined with newlines it reads like the invalid one below.
    const valid = await store.getOnlineFeatures({ features: ["kept:a\n", "dropped:b"], entities });
    assert.deepEqual(valid.featureNames, ["user_id", "a", "b"]);
    await assert.rejects(
      () => store.getOnlineFeatures({ features: ["kept:a", "", "dropped:b"], entities }),
      /Invalid feature reference ""/,
    );
  } finally {
    await store.close();
    await repo.remove();
  }
});
