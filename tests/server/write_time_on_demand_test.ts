/** `/push` and `/write-to-online-store` also store the outputs of write-time on-demand views. */
import assert from "node:assert/strict";
import { SERVER_FEATURES, startServer, statsRows } from "./_harness.ts";

const FEATURES = `${SERVER_FEATURES}
import { onDemandFeatureView } from "larder";
export const convPct = onDemandFeatureView({
  name: "conv_pct",
  sources: [stats.select(["conv_rate"])],
  schema: { conv_pct: "float64" },
  writeToOnlineStore: true,
  transform: (c) => ({ conv_pct: c.conv_rate.map((r) => r === null ? null : Math.round(r * 100)) }),
});
`;

Deno.test("POST /push and /write-to-online-store store write-time on-demand outputs", async () => {
  const server = await startServer({ features: FEATURES });
  try {
    const read = async (ids: number[]) => {
      const res = await server.request("POST", "/get-online-features", {
        body: { features: ["conv_pct:conv_pct"], entities: { driver_id: ids } },
      });
      assert.equal(res.status, 200, res.text);
      return res.json.results[1];
    };
    const pushed = await server.request("POST", "/push", {
      body: { push_source_name: "driver_stats_push", df: statsRows([1, 2], undefined, 0.25) },
    });
    assert.equal(pushed.status, 200, pushed.text);
    // The answer lists the on-demand view written with the pushed view, as the SDK's push does.
    assert.deepEqual(pushed.json, {
      feature_views: ["driver_hourly_stats", "conv_pct"],
      rows: 2,
      online: { written: 2, skipped: 0 },
      views: [
        { view: "driver_hourly_stats", written: 2, skipped: 0 },
        { view: "conv_pct", written: 2, skipped: 0 },
      ],
    });
    const afterPush = await read([1, 2, 3]);
    assert.deepEqual(afterPush.values, [25, 35, null]);
    assert.deepEqual(afterPush.statuses.slice(2), ["NOT_FOUND"]);
    assert.deepEqual(afterPush.event_timestamps.slice(0, 2), [
      "2024-01-01T10:00:00Z",
      "2024-01-01T10:00:00Z",
    ]);

    const written = await server.request("POST", "/write-to-online-store", {
      body: {
        feature_view_name: "driver_hourly_stats",
        df: statsRows([3], "2024-01-01T11:00:00Z", 0.5),
      },
    });
    assert.equal(written.status, 200, written.text);
    assert.deepEqual(written.json.feature_views, ["driver_hourly_stats", "conv_pct"]);
    assert.deepEqual(written.json.views, [
      { view: "driver_hourly_stats", written: 1, skipped: 0 },
      { view: "conv_pct", written: 1, skipped: 0 },
    ]);
    assert.deepEqual((await read([3])).values, [50]);

    // The online store holds the rows under the on-demand view's name.
    const [stored] = await server.wired.deps.onlineStore.read([
      { view: "conv_pct", entityKey: "driver_id=3" },
    ]);
    assert.deepEqual(stored?.values, { conv_pct: 50 });
  } finally {
    await server.close();
  }
});
