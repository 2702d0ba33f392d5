/**
 * Event times at microseconds through the SDK: Parquet (and DuckDB) keep microseconds, and
 * pushes given ISO text keep them too, so skip-if-not-newer compares the same instants on
 * every path.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore, writeTable } from "../engine/mod.ts";
import { tempRepo } from "./support/repo.ts";

const FEATURES = `
import { entity, featureView, fileSource, pushSource } from "larder";
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
export const source = fileSource({
  name: "stats_source",
  path: "data/stats",
  timestampField: "event_timestamp",
});
export const push = pushSource({ name: "stats_push", batchSource: source });
export const stats = featureView({
  name: "stats",
  entities: [driver],
  schema: { label: "string" },
  source: push,
});
`;

const WINDOW = {
  start: new Date("2024-01-01T00:00:00Z"),
  end: new Date("2024-01-01T01:00:00Z"),
};

async function withStore(fn: (store: FeatureStore, dir: string) => Promise<void>): Promise<void> {
  const repo = await tempRepo({ "features.ts": FEATURES });
  try {
    await writeTable(join(repo.dir, "data/stats/part-0.parquet"), {
      driver_id: [1, 2],
      event_timestamp: ["2024-01-01T00:00:02.000001Z", "2024-01-01T00:00:02.999999Z"],
      label: ["parquet", "parquet"],
    }, { driver_id: "int64", event_timestamp: "timestamp", label: "string" });
    const store = await FeatureStore.open({ repo: repo.dir });
    try {
      await store.apply();
      await fn(store, repo.dir);
    } finally {
      await store.close();
    }
  } finally {
    await repo.remove();
  }
}

async function read(store: FeatureStore, ids: number[]) {
  const res = await store.getOnlineFeatures({
    features: ["stats:label"],
    entities: { driver_id: ids },
  });
  const { results } = res.toJSON();
  return { labels: results[1]!.values, times: results[1]!.event_timestamps };
}

Deno.test("materialize() from Parquet microseconds, then a push later in the same millisecond is written", async () => {
  await withStore(async (store) => {
    const result = await store.materialize(WINDOW);
    assert.equal(result.views[0]!.rows, 2);
    assert.deepEqual(await read(store, [1, 2]), {
      labels: ["parquet", "parquet"],
      times: ["2024-01-01T00:00:02.000001Z", "2024-01-01T00:00:02.999999Z"],
    });
    const push = (ts: string[], label: string) =>
      store.push("stats_push", {
        driver_id: [1, 2],
        event_timestamp: ts,
        label: [label, label],
      });
    // The same microseconds: not newer.
    assert.deepEqual(
      (await push(["2024-01-01T00:00:02.000001Z", "2024-01-01T00:00:02.999999Z"], "equal")).views,
      [{ view: "stats", written: 0, skipped: 2 }],
    );
    // Earlier in the same millisecond: not newer; one microsecond later: newer.
    assert.deepEqual(
      (await push(["2024-01-01T00:00:02Z", "2024-01-01T00:00:03.000000Z"], "mixed")).views,
      [{ view: "stats", written: 1, skipped: 1 }],
    );
    assert.deepEqual(
      (await push(["2024-01-01T00:00:02.000002Z", "2024-01-01T00:00:02.0000015Z"], "later"))
        .views,
      [{ view: "stats", written: 1, skipped: 1 }],
    );
    assert.deepEqual(await read(store, [1, 2]), {
      labels: ["later", "mixed"],
      times: ["2024-01-01T00:00:02.000002Z", "2024-01-01T00:00:03Z"],
    });
  });
});

Deno.test("push() to offline keeps microseconds, and materialize() compares them", async () => {
  await withStore(async (store) => {
    await store.materialize(WINDOW);
    // Offline only: the online row is untouched until materialized.
    await store.push("stats_push", {
      driver_id: [1, 2],
      event_timestamp: ["2024-01-01T00:00:02.000003Z", "2024-01-01T00:00:02.999999Z"],
      label: ["pushed", "pushed"],
    }, { to: "offline" });
    const again = await store.materialize(WINDOW);
    // Driver 2's pushed row has the stored microsecond: not newer, so the stored row stays.
    assert.deepEqual([again.views[0]!.written, again.views[0]!.skipped], [1, 1]);
    assert.deepEqual(await read(store, [1, 2]), {
      labels: ["pushed", "parquet"],
      times: ["2024-01-01T00:00:02.000003Z", "2024-01-01T00:00:02.999999Z"],
    });
  });
});
