import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore, writeTable } from "../../mod.ts";
import { pushOffline } from "../../engine/mod.ts";
import { tempRepo } from "../support/repo.ts";

export const STREAM_FEATURES = `
import { entity, featureService, fileSource, streamFeatureView, streamSource } from "larder";
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
const batch = fileSource({ name: "trips_batch", path: "data/trips/", timestampField: "ts" });
export const trips = streamSource({
  name: "trips",
  broker: "redis",
  stream: "events:trips",
  timestampField: "ts",
  batchSource: batch,
});
export const stats = streamFeatureView({
  name: "trip_stats",
  entities: [driver],
  schema: { fare: "float64", trips: "int64" },
  source: trips,
});
export const svc = featureService({ name: "svc", features: [stats] });
`;

const t = (s: string) => new Date(`2026-01-01T${s}:00Z`);

Deno.test("apply() stores stream sources and stream views; historical retrieval reads the batch source", async () => {
  const repo = await tempRepo({ "features.ts": STREAM_FEATURES });
  await writeTable(join(repo.dir, "data", "trips", "backfill.parquet"), {
    driver_id: [1, 1, 2],
    ts: [t("00:00"), t("01:00"), t("00:30")],
    fare: [10, 12.5, 7],
    trips: [1, 2, 1],
  }, { driver_id: "int64", ts: "timestamp", fare: "float64", trips: "int64" });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    const { plan } = await store.plan();
    assert.deepEqual(
      plan.changes.map((c) => `${c.kind}/${c.name}:${c.action}`).sort(),
      [
        "dataSource/trips:create",
        "dataSource/trips_batch:create",
        "entity/driver:create",
        "featureService/svc:create",
        "featureView/trip_stats:create",
      ],
    );
    await store.apply();
    const view = await store.registry.get("featureView", "trip_stats");
    assert.deepEqual(view.spec.stream, { writeTo: "both" });
    const source = await store.registry.get("dataSource", "trips");
    assert.equal(source.spec.kind, "stream");

    // A part as the stream processor appends it is read with the backfill.
    const { files } = await pushOffline(repo.dir, await store.registry.read(), {
      pushSource: "trips",
      columns: { driver_id: [2], ts: [t("00:40")], fare: [8], trips: [2] },
      prefix: "stream-trip_stats",
      forView: "trip_stats",
    });
    assert.match(files[0]!, /data\/trips\/stream-trip_stats-.*\.parquet$/);
    const job = await store.getHistoricalFeatures({
      entities: [
        { driver_id: 1, event_timestamp: t("01:30") },
        { driver_id: 2, event_timestamp: t("00:45") },
      ],
      features: ["trip_stats:fare", "trip_stats:trips"],
    });
    const rows = await job.toRows();
    assert.deepEqual(rows.map((r) => [r.driver_id, r.fare, r.trips]), [[1, 12.5, 2], [2, 8, 2]]);

    // Changing the writeTo of the stream is an update of the view.
    await repo.write(
      "features.ts",
      STREAM_FEATURES.replace("source: trips,", 'source: trips, writeTo: "online",'),
    );
    const again = await store.plan();
    const change = again.plan.changes.find((c) => c.name === "trip_stats");
    assert.equal(change?.action, "update");
    assert.deepEqual(change?.fields, ["stream"]);
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("apply() checks a stream view's batch source columns", async () => {
  const repo = await tempRepo({ "features.ts": STREAM_FEATURES });
  await writeTable(join(repo.dir, "data", "trips", "backfill.parquet"), {
    driver_id: [1],
    ts: [t("00:00")],
    fare: [10],
  }, { driver_id: "int64", ts: "timestamp", fare: "float64" });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await assert.rejects(() => store.apply(), {
      code: "SOURCE_INVALID",
      message: /trips/,
    });
  } finally {
    await store.close();
    await repo.remove();
  }
});
