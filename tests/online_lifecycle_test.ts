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
