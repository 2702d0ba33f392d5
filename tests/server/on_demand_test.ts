import assert from "node:assert/strict";
import { SERVER_FEATURES_ON_DEMAND as FEATURES, startServer } from "./_harness.ts";

Deno.test("POST /get-online-features computes on-demand views from request data in entities", async () => {
  const server = await startServer({ features: FEATURES });
  try {
    await server.request("POST", "/write-to-online-store", {
      body: {
        feature_view_name: "driver_hourly_stats",
        df: {
          driver_id: [1001, 1002],
          event_timestamp: ["2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"],
          conv_rate: [0.5, 0.25],
          acc_rate: [1, 1],
        },
      },
    });
    const ok = await server.request("POST", "/get-online-features", {
      body: {
        features: ["driver_hourly_stats:conv_rate", "scaled:x"],
        entities: { driver_id: [1001, 1002, 9], k: [4, null, 2] },
      },
    });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.json.metadata.feature_names, ["driver_id", "conv_rate", "x"]);
    assert.deepEqual(ok.json.results[2].values, [2, null, null]);
    assert.deepEqual(ok.json.results[2].statuses, ["PRESENT", "NULL_VALUE", "NULL_VALUE"]);

    const missing = await server.request("POST", "/get-online-features", {
      body: { features: ["scaled:x"], entities: { driver_id: [1001] } },
    });
    assert.equal(missing.status, 422);
    assert.equal(missing.json.error.code, "INPUT_INVALID");
    assert.equal(
      missing.json.error.message,
      'Request field "k" is missing: on-demand feature view "scaled" needs it with the entities',
    );
    const wrongType = await server.request("POST", "/get-online-features", {
      body: { features: ["scaled:x"], entities: { driver_id: [1001], k: ["lots"] } },
    });
    assert.equal(wrongType.status, 422);
    assert.equal(
      wrongType.json.error.message,
      'Request field "k" row 0: expected float64, got "lots"',
    );
  } finally {
    await server.close();
  }
});
