/**
 * A stream feature view with time-window aggregations: the processor's online writes fill
 * the view's tiles, so events XADDed are counted by the aggregated features read online.
 */
import assert from "node:assert/strict";
import { FeatureStore } from "../../mod.ts";
import { skipWithoutRedis, startRedisServer } from "../support/redis_server.ts";
import { tempRepo } from "../support/repo.ts";
import { producer, waitFor } from "./_stream_repo.ts";

const FEATURES = `
import { entity, fileSource, streamFeatureView, streamSource } from "larder";
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
const batch = fileSource({ name: "trips_batch", path: "data/trips/", timestampField: "event_timestamp" });
export const trips = streamSource({
  name: "trips",
  broker: "redis",
  stream: "aggregated",
  timestampField: "ts",
  batchSource: batch,
});
export const stats = streamFeatureView({
  name: "trip_windows",
  entities: [driver],
  schema: { fare: "float64" },
  source: trips,
  writeTo: "online",
  aggregations: [
    { column: "fare", function: "sum", window: "1h" },
    { column: "fare", function: "count", window: "1h" },
    { column: "fare", function: "max", window: "10m" },
  ],
  tileSize: "1m",
});
`;

Deno.test({
  name: "stream processor: events of a view with aggregations are counted by its windows online",
  ignore: skipWithoutRedis("stream processor on Redis"),
  fn: async () => {
    const redis = await startRedisServer();
    const repo = await tempRepo({
      "larder.yaml": `project: windows\nstreaming:\n  redis:\n    url: ${redis.url}\n`,
      "features.ts": FEATURES,
    });
    try {
      const applying = await FeatureStore.open({ repo: repo.dir });
      await applying.apply({ skipSourceValidation: true });
      await applying.close();
      const store = await FeatureStore.open({ repo: repo.dir });
      const p = await producer(store);
      try {
        const stop = new AbortController();
        const running = store.stream({
          blockMs: 50,
          offlineFlushMs: 100,
          reclaimIdleMs: 10_000,
          signal: stop.signal,
        });
        // Recent events (tiles older than the longest window are never kept): driver 1 four
        // times, driver 2 once, one event of driver 1 twenty minutes old (in the hour, out of
        // the ten minutes).
        const now = Date.now();
        const at = (secondsAgo: number) => new Date(now - secondsAgo * 1000).toISOString();
        await p.publish([
          { driver_id: 1, ts: at(40), fare: 1 },
          { driver_id: 1, ts: at(30), fare: 2 },
          { driver_id: 2, ts: at(30), fare: 7 },
          { driver_id: 1, ts: at(20), fare: 3 },
          { driver_id: 1, ts: at(20 * 60), fare: 50 },
        ]);
        const read = async () =>
          (await store.getOnlineFeatures({
            features: [
              "trip_windows:sum_fare_1h",
              "trip_windows:count_fare_1h",
              "trip_windows:max_fare_10m",
            ],
            entities: { driver_id: [1, 2, 3] },
          })).toRows();
        await waitFor("the windows online", async () => (await read())[0]?.count_fare_1h === 4);
        assert.deepEqual(await read(), [
          { driver_id: 1, sum_fare_1h: 56, count_fare_1h: 4, max_fare_10m: 3 },
          { driver_id: 2, sum_fare_1h: 7, count_fare_1h: 1, max_fare_10m: 7 },
          { driver_id: 3, sum_fare_1h: null, count_fare_1h: 0, max_fare_10m: null },
        ]);
        stop.abort();
        const result = await running;
        assert.equal(result.views[0]?.acked, 5);
      } finally {
        await p.close();
        await store.close();
      }
    } finally {
      await repo.remove();
      await redis.stop();
    }
  },
});
