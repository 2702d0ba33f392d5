import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { FeatureStore, writeTable } from "../mod.ts";
import { SCALED_FEATURES, tempRepo } from "./support/repo.ts";

Deno.test("FeatureStore.open({ definitions }) serves on-demand views from modules imported by the caller", async () => {
  const repo = await tempRepo({ "features.ts": SCALED_FEATURES });
  const features = await import(pathToFileURL(join(repo.dir, "features.ts")).href);
  // As on an edge platform: the entry imported the module; the file is not read again.
  await Deno.remove(join(repo.dir, "features.ts"));
  await writeTable(join(repo.dir, "data", "s.parquet"), {
    user_id: [1, 2],
    ts: [new Date("2026-01-01T00:00:00Z"), new Date("2026-01-01T00:00:00Z")],
    x: [2, null],
  }, { user_id: "int64", ts: "timestamp", x: "float64" });
  const store = await FeatureStore.open({
    repo: repo.dir,
    definitions: { "features.ts": features },
  });
  try {
    const applied = await store.apply();
    assert.equal(applied.plan.changes.filter((c) => c.action === "create").length, 5);
    await store.materialize({
      start: new Date("2025-12-01T00:00:00Z"),
      end: new Date("2026-01-02T00:00:00Z"),
    });
    const res = await store.getOnlineFeatures({
      features: ["scaled:y"],
      entities: { user_id: [1, 2], k: [10, 10] },
    });
    assert.deepEqual(res.toRows(), [{ user_id: 1, y: 20 }, { user_id: 2, y: null }]);
    assert.deepEqual(res.toJSON().results[1]!.statuses, ["PRESENT", "NULL_VALUE"]);
    await assert.rejects(
      () => store.getOnlineFeatures({ features: ["scaled:y"], entities: { user_id: [1] } }),
      {
        code: "INPUT_INVALID",
        message:
          'Request field "k" is missing: on-demand feature view "scaled" needs it with the entities',
      },
    );
  } finally {
    await store.close();
    await repo.remove();
  }
});
