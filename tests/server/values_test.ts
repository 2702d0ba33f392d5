/**
 * Values the feature server must not bend: int64 numbers beyond 2^53 (JSON.parse rounds them,
 * so they would address another entity), dates that do not exist, and event times at
 * microseconds.
 */
import assert from "node:assert/strict";
import { startServer, statsRows } from "./_harness.ts";

const READ_STATS = (ids: string) =>
  `{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [${ids}]}}`;
const UNSAFE = /beyond ±9007199254740991 \(2\^53 - 1\).*decimal strings or bigints/;

Deno.test("POST /get-online-features refuses an int64 entity key beyond 2^53 sent as a number", async () => {
  const server = await startServer();
  try {
    // Driver 9007199254740992 exists; 9007199254740993 does not.
    const stored = await server.request("POST", "/write-to-online-store", {
      body: {
        feature_view_name: "driver_hourly_stats",
        df: { ...statsRows([1]), driver_id: ["9007199254740992"] },
      },
    });
    assert.equal(stored.status, 200, stored.text);
    const read = await server.request("POST", "/get-online-features", {
      body: READ_STATS("9007199254740993"),
    });
    assert.equal(read.status, 422, read.text);
    assert.equal(read.json.error.code, "INPUT_INVALID");
    assert.match(read.json.error.message, /join key "driver_id"/);
    assert.match(read.json.error.message, UNSAFE);
    // As decimal strings both keys are exact, and distinct.
    const strings = await server.request("POST", "/get-online-features", {
      body: READ_STATS('"9007199254740993", "9007199254740992", "-9223372036854775808"'),
    });
    assert.equal(strings.status, 200, strings.text);
    assert.deepEqual(strings.json.results[0].values, [
      "9007199254740993",
      "9007199254740992",
      "-9223372036854775808",
    ]);
    assert.deepEqual(strings.json.results[1].statuses, ["NOT_FOUND", "PRESENT", "NOT_FOUND"]);
    const outOfRange = await server.request("POST", "/get-online-features", {
      body: READ_STATS('"9223372036854775808"'),
    });
    assert.equal(outOfRange.status, 422, outOfRange.text);
    assert.match(outOfRange.json.error.message, /outside the int64 range/);
  } finally {
    await server.close();
  }
});

Deno.test("POST /write-to-online-store and /push refuse int64 numbers beyond 2^53", async () => {
  const server = await startServer();
  try {
    const trips = (driver: string, trips: string) =>
      `{"feature_view_name": "driver_trips", "df": {"driver_id": [${driver}], "event_timestamp": ["2024-01-01T00:00:00Z"], "trips_today": [${trips}], "rating": [1e300]}}`;
    const feature = await server.request("POST", "/write-to-online-store", {
      body: trips("1", "9007199254740993"),
    });
    assert.equal(feature.status, 422, feature.text);
    assert.match(feature.json.error.message, /column "trips_today", row 0/);
    assert.match(feature.json.error.message, UNSAFE);
    const key = await server.request("POST", "/write-to-online-store", {
      body: trips("9007199254740993", "1"),
    });
    assert.equal(key.status, 422, key.text);
    assert.match(key.json.error.message, /join key "driver_id".*beyond ±9007199254740991/);
    const push = await server.request("POST", "/push", {
      body:
        `{"push_source_name": "driver_stats_push", "to": "online_and_offline", "df": {"driver_id": [-9007199254740993], "event_timestamp": ["2024-01-01T00:00:00Z"], "created": [null], "conv_rate": [0.5], "acc_rate": [0.5]}}`,
    });
    assert.equal(push.status, 422, push.text);
    assert.match(push.json.error.message, /"driver_id"/);
    assert.match(push.json.error.message, UNSAFE);

    // Decimal strings carry any int64; float64 takes any number.
    const ok = await server.request("POST", "/write-to-online-store", {
      body: trips('"9007199254740993"', '"9223372036854775807"'),
    });
    assert.equal(ok.status, 200, ok.text);
    const read = await server.request("POST", "/get-online-features", {
      body: {
        features: ["driver_trips:trips_today", "driver_trips:rating"],
        entities: { driver_id: ["9007199254740993", 1] },
      },
    });
    assert.equal(read.status, 200, read.text);
    assert.deepEqual(read.json.results[1].values, ["9223372036854775807", null]);
    assert.deepEqual(read.json.results[2].values, [1e300, null]);
  } finally {
    await server.close();
  }
});

Deno.test("POST /push and /materialize refuse dates that do not exist; window bounds widen to milliseconds", async () => {
  const server = await startServer();
  try {
    const push = await server.request("POST", "/push", {
      body: {
        push_source_name: "driver_stats_push",
        df: statsRows([1001], "2024-02-30T10:00:00Z"),
      },
    });
    assert.equal(push.status, 422, push.text);
    assert.match(push.json.error.message, /"2024-02-30T10:00:00Z".*February 2024 has 29 days/);
    const materialize = await server.request("POST", "/materialize", {
      body: { start_ts: "2001-02-30T00:00:00Z", end_ts: "2001-03-05T00:00:00Z" },
    });
    assert.equal(materialize.status, 422, materialize.text);
    assert.match(
      materialize.json.error.message,
      /expected an RFC 3339 timestamp, got "2001-02-30T00:00:00Z": February 2001 has 28 days/,
    );
    const incremental = await server.request("POST", "/materialize-incremental", {
      body: { end_ts: "2024-01-01T24:00:00Z" },
    });
    assert.equal(incremental.status, 422, incremental.text);
    assert.match(incremental.json.error.message, /hour 24 is not accepted/);
    // Windows are recorded to the millisecond: a finer bound widens the window (the end
    // rounded up), so no row inside it is left out.
    const fine = await server.request("POST", "/materialize", {
      body: {
        start_ts: "2024-01-01T00:00:00.0005Z",
        end_ts: "2024-01-02T00:00:00.0005Z",
        feature_views: ["driver_trips"],
      },
    });
    assert.equal(fine.status, 200, fine.text);
    assert.deepEqual(
      [fine.json.feature_views[0].start, fine.json.feature_views[0].end],
      ["2024-01-01T00:00:00.000Z", "2024-01-02T00:00:00.001Z"],
    );
  } finally {
    await server.close();
  }
});

Deno.test("POST /push compares event times at microseconds and answers them", async () => {
  const server = await startServer();
  try {
    const push = async (ts: string) => {
      const res = await server.request("POST", "/push", {
        body: { push_source_name: "driver_stats_push", df: statsRows([1001], ts) },
      });
      assert.equal(res.status, 200, res.text);
      return res.json.online;
    };
    assert.deepEqual(await push("2024-01-01T10:00:02Z"), { written: 1, skipped: 0 });
    assert.deepEqual(await push("2024-01-01T10:00:02.000001Z"), { written: 1, skipped: 0 });
    assert.deepEqual(await push("2024-01-01T10:00:02.000001Z"), { written: 0, skipped: 1 });
    assert.deepEqual(await push("2024-01-01T10:00:02.0000009Z"), { written: 0, skipped: 1 });
    const read = await server.request("POST", "/get-online-features", {
      body: READ_STATS("1001"),
    });
    assert.equal(read.status, 200, read.text);
    assert.deepEqual(read.json.results[1].event_timestamps, ["2024-01-01T10:00:02.000001Z"]);
    assert.deepEqual(await push("2024-01-01T10:00:02.120Z"), { written: 1, skipped: 0 });
    const ms = await server.request("POST", "/get-online-features", { body: READ_STATS("1001") });
    assert.deepEqual(ms.json.results[1].event_timestamps, ["2024-01-01T10:00:02.120Z"]);
  } finally {
    await server.close();
  }
});
