/**
 * A feature repo whose sources, registry and output all live in object storage (a real
 * s3rver): apply, historical retrieval, push to offline, materialize, and retrieval output
 * written as an object; failures leave no partial object.
 */
import assert from "node:assert/strict";
import { FeatureStore } from "../engine/mod.ts";
import { encodeParquet, readParquetFile } from "../engine/offline/mod.ts";
import { tableFromRows } from "../engine/offline/_values.ts";
import { ObjectStore } from "../engine/object_store/mod.ts";
import { startS3rver } from "./support/s3rver.ts";
import { tempRepo } from "./support/repo.ts";

const FEATURES = `
import { entity, featureView, fileSource, pushSource } from "larder";
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
export const source = fileSource({
  name: "stats_source",
  path: "s3://larder-e2e/stats/",
  timestampField: "event_timestamp",
});
export const push = pushSource({ name: "stats_push", batchSource: source });
export const stats = featureView({
  name: "stats",
  entities: [driver],
  ttl: "1d",
  schema: { conv_rate: "float64" },
  source: push,
});
`;

Deno.test("a repo in object storage: apply, retrieve, push, materialize, write output", async () => {
  const s3 = await startS3rver({ buckets: ["larder-e2e"] });
  const repo = await tempRepo({
    "features.ts": FEATURES,
    "larder.yaml": [
      "project: e2e",
      "registry:",
      "  type: s3",
      "  path: s3://larder-e2e/registry/e2e.json",
      "online_store:",
      "  type: sqlite",
      "  path: ':memory:'",
      "object_store:",
      `  endpoint: ${s3.endpoint}`,
      "  access_key_id: S3RVER",
      "  secret_access_key: S3RVER",
      "  timeout_seconds: 10",
      "",
    ].join("\n"),
  });
  const objects = new ObjectStore(s3.settings);
  let store: FeatureStore | undefined;
  try {
    await objects.put(
      "s3://larder-e2e/stats/part-0.parquet",
      encodeParquet(tableFromRows([
        { driver_id: 1, event_timestamp: new Date("2024-01-01T00:00:00Z"), conv_rate: 0.1 },
        { driver_id: 2, event_timestamp: new Date("2024-01-01T00:00:00Z"), conv_rate: 0.2 },
      ])),
    );
    store = await FeatureStore.open({ repo: repo.dir });
    await store.apply();
    assert.ok(await objects.head("s3://larder-e2e/registry/e2e.json"), "registry stored");

    const pushed = await store.push("stats_push", {
      driver_id: [1],
      event_timestamp: [new Date("2024-01-01T06:00:00Z")],
      conv_rate: [0.7],
    }, { to: "offline" });
    assert.equal(pushed.files.length, 1);
    assert.match(pushed.files[0]!, /^s3:\/\/larder-e2e\/stats\/push-.*\.parquet$/);

    const entities = [
      { driver_id: 1, event_timestamp: new Date("2024-01-01T12:00:00Z") },
      { driver_id: 2, event_timestamp: new Date("2024-01-01T12:00:00Z") },
    ];
    const job = await store.getHistoricalFeatures({
      entities,
      features: ["stats:conv_rate"],
    });
    assert.deepEqual((await job.toRows()).map((r) => r.conv_rate), [0.7, 0.2]);

    const written = await job.write("s3://larder-e2e/out/training.parquet");
    assert.equal(written.rows, 2);
    const out = await objects.get("s3://larder-e2e/out/training.parquet");
    const local = `${repo.dir}/training.parquet`;
    await Deno.writeFile(local, out.bytes);
    assert.equal((await readParquetFile(local)).numRows, 2);

    await assert.rejects(() => job.write("s3://larder-e2e/out/training.txt"), {
      code: "INPUT_INVALID",
    });
    assert.equal(await objects.head("s3://larder-e2e/out/training.txt"), null, "nothing stored");

    await store.materialize({
      start: new Date("2024-01-01T00:00:00Z"),
      end: new Date("2024-01-02T00:00:00Z"),
    });
    const online = await store.getOnlineFeatures({
      features: ["stats:conv_rate"],
      entities: { driver_id: [1, 2] },
    });
    assert.deepEqual(online.toRows().map((r) => r.conv_rate), [0.7, 0.2]);
  } finally {
    await store?.close();
    await repo.remove();
    await s3.stop();
  }
});
