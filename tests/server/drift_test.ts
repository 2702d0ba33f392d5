import assert from "node:assert/strict";
import { SERVER_FEATURES_ON_DEMAND as WITH_ON_DEMAND, startServer } from "./_harness.ts";

Deno.test("server refuses an on-demand view whose loaded transform differs from the registry, and keeps serving others", async () => {
  const server = await startServer({ features: WITH_ON_DEMAND });
  try {
    await server.request("POST", "/write-to-online-store", {
      body: {
        feature_view_name: "driver_hourly_stats",
        df: {
          driver_id: [1001],
          event_timestamp: ["2024-01-01T10:00:00Z"],
          conv_rate: [0.5],
          acc_rate: [0.5],
        },
      },
    });
    // The definitions deployed with this server are not the ones that were applied.
    await server.repo.write(
      "features.ts",
      WITH_ON_DEMAND.replace("v * c.k[i]!", "v * c.k[i]! * 2"),
    );
    const drifted = await server.request("POST", "/get-online-features", {
      body: { features: ["scaled:x"], entities: { driver_id: [1001], k: [2] } },
    });
    assert.equal(drifted.status, 503);
    assert.equal(drifted.json.error.code, "DRIFT");
    assert.match(
      drifted.json.error.message,
      /^On-demand feature view "scaled": the loaded transform \(sha256 [0-9a-f]{12}\) differs from the registry's/,
    );
    const plain = await server.request("POST", "/get-online-features", {
      body: { features: ["driver_hourly_stats:conv_rate"], entities: { driver_id: [1001] } },
    });
    assert.equal(plain.status, 200);
    assert.deepEqual(plain.json.results[1].values, [0.5]);
  } finally {
    await server.close();
  }
});
