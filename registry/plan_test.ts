import assert from "node:assert/strict";
import {
  applyPlan,
  checkRepo,
  emptyDocument,
  entity,
  featureView,
  fileSource,
  onDemandFeatureView,
  planChanges,
  requestSource,
} from "./mod.ts";

const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
const source = fileSource({ name: "stats", path: "data/stats.parquet", timestampField: "ts" });
const view = (ttl: string) =>
  featureView({ name: "stats_view", entities: [driver], ttl, schema: { a: "float32" }, source });

Deno.test("planChanges() reports create, update with fields, delete and unchanged", async () => {
  const first = checkRepo([{ value: view("2h"), file: "f.ts" }]);
  const plan1 = await planChanges(emptyDocument("p"), first);
  assert.deepEqual(plan1.changes.map((c) => [c.kind, c.name, c.action]), [
    ["entity", "driver", "create"],
    ["dataSource", "stats", "create"],
    ["featureView", "stats_view", "create"],
  ]);
  const doc = applyPlan(emptyDocument("p"), first, plan1, new Date("2026-01-01T00:00:00Z"));
  assert.equal(doc.objects.featureView.stats_view?.meta.createdAt, "2026-01-01T00:00:00.000Z");

  const other = entity({ name: "rider" });
  const second = checkRepo([{ value: view("3h"), file: "f.ts" }, { value: other, file: "f.ts" }]);
  const plan2 = await planChanges(doc, second);
  assert.deepEqual(plan2.changes.map((c) => [c.name, c.action, c.fields.join(",")]), [
    ["driver", "unchanged", ""],
    ["rider", "create", ""],
    ["stats", "unchanged", ""],
    ["stats_view", "update", "ttlSeconds"],
  ]);
  assert.deepEqual(plan2.changes.find((c) => c.name === "stats_view")?.diff, {
    ttlSeconds: { old: 7200, new: 10800 },
  });
  assert.deepEqual(plan2.changes.find((c) => c.name === "rider")?.diff, {});
  const doc2 = applyPlan(doc, second, plan2, new Date("2026-01-02T00:00:00Z"));
  assert.equal(doc2.objects.featureView.stats_view?.meta.createdAt, "2026-01-01T00:00:00.000Z");
  assert.equal(doc2.objects.featureView.stats_view?.meta.updatedAt, "2026-01-02T00:00:00.000Z");

  const third = checkRepo([{ value: driver, file: "f.ts" }]);
  const plan3 = await planChanges(doc2, third);
  assert.deepEqual(plan3.changes.filter((c) => c.action === "delete").map((c) => c.name), [
    "rider",
    "stats",
    "stats_view",
  ]);
  assert.equal(plan3.hasChanges, true);
  const plan4 = await planChanges(applyPlan(doc2, third, plan3), third);
  assert.equal(plan4.hasChanges, false);
});

Deno.test("applyPlan() drops the intervals of a deleted view", async () => {
  const contents = checkRepo([{ value: view("2h"), file: "f.ts" }]);
  const doc = applyPlan(
    emptyDocument("p"),
    contents,
    await planChanges(emptyDocument("p"), contents),
  );
  doc.materializations.stats_view = [{ start: "a", end: "b", recordedAt: "c" }];
  const empty = checkRepo([]);
  const next = applyPlan(doc, empty, await planChanges(doc, empty));
  assert.deepEqual(Object.keys(next.materializations), []);
  assert.deepEqual(Object.keys(next.objects.featureView), []);
});

const tx = requestSource({ name: "tx", schema: { amount: "float64" } });
const onDemand = (factor: number) =>
  onDemandFeatureView({
    name: "scaled",
    sources: [tx],
    schema: { y: "float64" },
    transform: factor === 2
      ? (c) => ({ y: c.amount.map((a) => a === null ? null : a * 2) })
      : (c) => ({ y: c.amount.map((a) => a === null ? null : a * 3) }),
  });

Deno.test("planChanges() updates an on-demand view's hash and source text together", async () => {
  const first = checkRepo([{ value: onDemand(2), file: "f.ts" }]);
  const doc = applyPlan(emptyDocument("p"), first, await planChanges(emptyDocument("p"), first));
  assert.match(doc.objects.onDemandFeatureView.scaled!.spec.transformSource!, /a \* 2/);
  assert.equal((await planChanges(doc, first)).hasChanges, false);

  const second = checkRepo([{ value: onDemand(3), file: "f.ts" }]);
  const plan = await planChanges(doc, second);
  const change = plan.changes.find((c) => c.name === "scaled");
  assert.equal(change?.action, "update");
  assert.deepEqual(change?.fields, ["transformHash", "transformSource"]);
  const next = applyPlan(doc, second, plan);
  assert.match(next.objects.onDemandFeatureView.scaled!.spec.transformSource!, /a \* 3/);
});

Deno.test("planChanges() adds the source text to a view applied before it was recorded", async () => {
  const contents = checkRepo([{ value: onDemand(2), file: "f.ts" }]);
  const doc = applyPlan(
    emptyDocument("p"),
    contents,
    await planChanges(emptyDocument("p"), contents),
  );
  // A document written before the registry kept the text: same hash, no transformSource.
  const stored = doc.objects.onDemandFeatureView.scaled!;
  const { transformSource: _dropped, ...older } = stored.spec;
  const old = structuredClone(doc);
  old.objects.onDemandFeatureView.scaled = { spec: older, meta: { ...stored.meta, hash: "old" } };
  const plan = await planChanges(old, contents);
  const change = plan.changes.find((c) => c.name === "scaled");
  assert.equal(change?.action, "update");
  assert.deepEqual(change?.fields, ["transformSource"]);
  const next = applyPlan(old, contents, plan);
  assert.equal(
    next.objects.onDemandFeatureView.scaled!.spec.transformSource,
    stored.spec.transformSource,
  );
  assert.equal((await planChanges(next, contents)).hasChanges, false);
});
