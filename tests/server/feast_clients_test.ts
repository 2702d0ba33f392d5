/**
 * Feast's own clients and documented bodies against the real server: the requests of Feast's
 * remote online store (`sdk/python/feast/infra/online_stores/remote.py`) and of a
 * `FeatureStore` in remote topology (`sdk/python/feast/feature_store.py`), replayed literally,
 * with their answers read the way those clients read them; and the curl and Python bodies of
 * `docs/reference/feature-servers/python-feature-server.md`. The repo mirrors Feast's `local`
 * template (`sdk/python/feast/templates/local/feature_repo/feature_definitions.py`).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeTable } from "../../engine/mod.ts";
import { startServer, type TestServer } from "./_harness.ts";

/** Feast's `local` template, in Larder's definitions (without its Map, Json and Struct features). */
const FEAST_TEMPLATE = `
import { entity, featureService, featureView, fileSource, pushSource } from "larder";
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
export const driverStatsSource = fileSource({
  name: "driver_hourly_stats_source",
  path: "data/driver_stats",
  timestampField: "event_timestamp",
  createdTimestampColumn: "created",
});
const schema = { conv_rate: "float32", acc_rate: "float32", avg_daily_trips: "int64" } as const;
export const driverStatsFv = featureView({
  name: "driver_hourly_stats",
  entities: [driver],
  schema,
  source: driverStatsSource,
  tags: { team: "driver_performance" },
});
export const driverActivity = featureService({ name: "driver_activity_v2", features: [driverStatsFv] });
export const driverStatsPushSource = pushSource({
  name: "driver_stats_push_source",
  batchSource: driverStatsSource,
});
export const driverStatsFreshFv = featureView({
  name: "driver_hourly_stats_fresh",
  entities: [driver],
  schema,
  source: driverStatsPushSource,
});
export const profileSource = fileSource({
  name: "driver_profile_source",
  path: "data/driver_profile",
  timestampField: "event_timestamp",
});
export const driverProfile = featureView({
  name: "driver_profile",
  entities: [driver],
  schema: { string_feature: "string" },
  source: profileSource,
});
`;

const NOW = new Date("2024-01-10T00:00:00Z");

/** Drivers 1001..1003 on 2024-01-01 (hourly), and 1004 dated after NOW. */
async function writeTemplateData(dir: string): Promise<void> {
  const rows = [
    [1001, "2024-01-01T00:00:00Z", 0.1, 0.5, 10],
    [1001, "2024-01-01T01:00:00Z", 0.2, 0.5, 11],
    [1002, "2024-01-01T01:00:00Z", 0.3, 0.75, 20],
    [1003, "2024-01-01T02:00:00Z", 0.4, 1, 30],
    [1004, "2024-01-11T00:00:00Z", 0.9, 1, 40],
  ] as const;
  await writeTable(join(dir, "data/driver_stats/part-0.parquet"), {
    driver_id: rows.map((r) => r[0]),
    event_timestamp: rows.map((r) => r[1]),
    created: rows.map((r) => r[1]),
    conv_rate: rows.map((r) => r[2]),
    acc_rate: rows.map((r) => r[3]),
    avg_daily_trips: rows.map((r) => r[4]),
  }, {
    driver_id: "int64",
    event_timestamp: "timestamp",
    created: "timestamp",
    conv_rate: "float32",
    acc_rate: "float32",
    avg_daily_trips: "int64",
  });
  await writeTable(join(dir, "data/driver_profile/part-0.parquet"), {
    driver_id: [1001],
    event_timestamp: ["2024-01-01T00:00:00Z"],
    string_feature: ["a"],
  }, { driver_id: "int64", event_timestamp: "timestamp", string_feature: "string" });
}

async function templateServer(yaml = ""): Promise<TestServer> {
  const server = await startServer({
    features: FEAST_TEMPLATE,
    data: false,
    yaml,
    clock: () => NOW,
  });
  try {
    await writeTemplateData(server.repo.dir);
    return server;
  } catch (err) {
    await server.close();
    throw err;
  }
}

// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;

const STATUSES = new Set(["PRESENT", "NOT_FOUND", "NULL_VALUE", "OUTSIDE_MAX_AGE"]);

/**
 * An answer of `/get-online-features` as `RemoteOnlineStore._build_online_response_from_json`
 * reads it: `metadata.feature_names`, and per result `values` (null is an empty value) and
 * `statuses` (an unknown one becomes INVALID). Returns feature name -> values, and checks the
 * statuses.
 */
function readAsRemoteGetOnlineFeatures(json: Json): Record<string, unknown[]> {
  const names: string[] = json.metadata?.feature_names ?? [];
  const results: Json[] = json.results ?? [];
  assert.equal(results.length, names.length, "one result per feature name");
  const out: Record<string, unknown[]> = {};
  for (const [i, result] of results.entries()) {
    for (const status of result.statuses ?? []) {
      assert.ok(STATUSES.has(status), `status ${status} would be INVALID`);
    }
    out[names[i]!] = result.values ?? [];
  }
  return out;
}

/** Python 3.10's `datetime.fromisoformat` (Feast supports 3.10): 0, 3 or 6 fraction digits. */
const PY310_ISOFORMAT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6})?\+00:00$/;

/**
 * An answer as `RemoteOnlineStore.online_read` reads it: `_get_event_ts` parses
 * `results[1].event_timestamps[0]` after replacing "Z" with "+00:00"; then per entity row,
 * per feature name that was requested, the value when its status is PRESENT, else empty.
 */
function readAsRemoteOnlineRead(
  json: Json,
  entityRows: number,
  requested: readonly string[],
): { eventTs: string; rows: Record<string, unknown>[] } {
  const eventTs = String(json.results[1].event_timestamps[0]).replace("Z", "+00:00");
  assert.match(eventTs, PY310_ISOFORMAT, "datetime.fromisoformat reads it");
  const rows: Record<string, unknown>[] = [];
  for (let row = 0; row < entityRows; row++) {
    const values: Record<string, unknown> = {};
    for (const [index, name] of (json.metadata.feature_names as string[]).entries()) {
      if (!requested.includes(name)) continue;
      const present = json.results[index].statuses[row] === "PRESENT";
      values[name] = present ? json.results[index].values[row] : null;
    }
    rows.push(values);
  }
  return { eventTs, rows };
}

const close = (a: unknown, b: number) => typeof a === "number" && Math.abs(a - b) < 1e-6;

Deno.test("Feast's remote online store (remote.py): its writes and reads are served and its answers parse", async () => {
  const server = await templateServer();
  try {
    // RemoteOnlineStore.online_write_batch: entity keys, features, then "event_timestamp" and
    // "created" as naive UTC isoformat (null without a created time); allow_registry_cache false.
    const write = await server.request("POST", "/write-to-online-store", {
      body: {
        "feature_view_name": "driver_hourly_stats",
        "df": {
          "driver_id": [1001, 1002],
          "conv_rate": [0.5, 0.25],
          "acc_rate": [0.75, 1.0],
          "avg_daily_trips": [10, 20],
          "event_timestamp": ["2024-01-02T10:00:00", "2024-01-02T10:00:00.123456"],
          "created": [null, "2024-01-02T10:00:01"],
        },
        "allow_registry_cache": false,
      },
    });
    assert.equal(write.status, 200, write.text); // all remote.py checks

    // RemoteOnlineStore.get_online_features (features as references).
    const read = await server.request("POST", "/get-online-features", {
      body: {
        "entities": { "driver_id": [1001, 1002, 9999] },
        "full_feature_names": false,
        "include_feature_view_version_metadata": false,
        "features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips"],
      },
    });
    assert.equal(read.status, 200, read.text);
    const columns = readAsRemoteGetOnlineFeatures(read.json);
    assert.ok(close(columns.conv_rate![0], 0.5) && close(columns.conv_rate![1], 0.25));
    assert.deepEqual(columns.avg_daily_trips, [10, 20, null]);

    // The same with full feature names and the version metadata flag on.
    const full = await server.request("POST", "/get-online-features", {
      body: {
        "entities": { "driver_id": [1001] },
        "full_feature_names": true,
        "include_feature_view_version_metadata": true,
        "features": ["driver_hourly_stats:avg_daily_trips"],
      },
    });
    assert.equal(full.status, 200, full.text);
    assert.deepEqual(
      readAsRemoteGetOnlineFeatures(full.json)["driver_hourly_stats__avg_daily_trips"],
      [10],
    );

    // RemoteOnlineStore.get_online_features (a feature service).
    const service = await server.request("POST", "/get-online-features", {
      body: {
        "entities": { "driver_id": [1002] },
        "full_feature_names": false,
        "include_feature_view_version_metadata": false,
        "feature_service": "driver_activity_v2",
      },
    });
    assert.equal(service.status, 200, service.text);
    assert.deepEqual(readAsRemoteGetOnlineFeatures(service.json).avg_daily_trips, [20]);

    // RemoteOnlineStore.online_read (_construct_online_read_api_json_request): no flags.
    const online = await server.request("POST", "/get-online-features", {
      body: {
        "features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips"],
        "entities": { "driver_id": [1002, 1001] },
      },
    });
    assert.equal(online.status, 200, online.text);
    const parsed = readAsRemoteOnlineRead(online.json, 2, ["conv_rate", "avg_daily_trips"]);
    assert.equal(parsed.eventTs, "2024-01-02T10:00:00.123456+00:00");
    assert.deepEqual(parsed.rows.map((r) => r.avg_daily_trips), [20, 10]);
  } finally {
    await server.close();
  }
});

Deno.test("Feast's FeatureStore in remote topology (feature_store.py): its materialize requests are served", async () => {
  const server = await templateServer();
  try {
    // FeatureStore.materialize: start/end as isoformat of aware datetimes, feature_views null
    // (all), disable_event_timestamp and full_feature_names always sent.
    const all = await server.request("POST", "/materialize", {
      body: {
        "start_ts": "2024-01-01T00:00:00+00:00",
        "end_ts": "2024-01-01T01:00:00+00:00",
        "feature_views": null,
        "disable_event_timestamp": false,
        "full_feature_names": false,
      },
    });
    assert.equal(all.status, 200, all.text);
    assert.deepEqual(all.json.feature_views.map((v: Json) => [v.name, v.rows]), [
      ["driver_hourly_stats", 2],
      ["driver_hourly_stats_fresh", 2],
      ["driver_profile", 1],
    ]);
    // FeatureStore.materialize_incremental.
    const incremental = await server.request("POST", "/materialize-incremental", {
      body: {
        "end_ts": "2024-01-02T00:00:00+00:00",
        "feature_views": ["driver_hourly_stats"],
        "full_feature_names": false,
      },
    });
    assert.equal(incremental.status, 200, incremental.text);
    assert.equal(incremental.json.feature_views[0].start, "2024-01-01T01:00:00.000Z");
    // `feast materialize --disable-event-timestamp` in remote topology: the CLI's naive
    // datetime(1970, 1, 1) and datetime.now() go along, and the server does not use them.
    const cli = await server.request("POST", "/materialize", {
      body: {
        "start_ts": "1970-01-01T00:00:00",
        "end_ts": "2026-08-21T21:18:11.123456",
        "feature_views": ["driver_hourly_stats"],
        "disable_event_timestamp": true,
        "full_feature_names": false,
      },
    });
    assert.equal(cli.status, 200, cli.text);
    assert.deepEqual(cli.json.feature_views[0], {
      name: "driver_hourly_stats",
      start: "1970-01-01T00:00:00.000Z",
      end: NOW.toISOString(),
      rows: 3,
      null_key_rows: 0,
    });
    // A version (feature view versioning) cannot be honoured: a clear 422, nothing run.
    const versioned = await server.request("POST", "/materialize", {
      body: {
        "start_ts": "2024-01-01T00:00:00+00:00",
        "end_ts": "2024-01-02T00:00:00+00:00",
        "feature_views": ["driver_hourly_stats"],
        "disable_event_timestamp": false,
        "full_feature_names": false,
        "version": "v2",
      },
    });
    assert.equal(versioned.status, 422, versioned.text);
    assert.equal(
      versioned.json.error.message,
      'Invalid request body: version: feature view versions are not supported: leave "version" out or null (the one current definition of each view is materialized)',
    );
    const incrementalVersion = await server.request("POST", "/materialize-incremental", {
      body: { "end_ts": "2024-01-03T00:00:00+00:00", "feature_views": null, "version": "latest" },
    });
    assert.equal(incrementalVersion.status, 422, incrementalVersion.text);
    assert.match(incrementalVersion.json.error.message, /^Invalid request body: version: /);
    const doc = await server.store.registry.read({ fresh: true });
    assert.equal(doc.materializations.driver_hourly_stats?.length, 3, "nothing more recorded");
  } finally {
    await server.close();
  }
});

Deno.test("Feast's documented bodies (python-feature-server.md) are served", async () => {
  const server = await templateServer();
  try {
    // "Materializing features": the standard body, with naive times (UTC).
    const standard = await server.request("POST", "/materialize", {
      body: {
        "start_ts": "2021-01-01T00:00:00",
        "end_ts": "2021-01-02T00:00:00",
        "feature_views": ["driver_hourly_stats"],
      },
    });
    assert.equal(standard.status, 200, standard.text);
    assert.equal(standard.json.feature_views[0].rows, 0);
    // "Materialize all data without event timestamps": 1970-01-01 to now; rows keep their
    // event times, and the one dated after now is left out (as Feast's window does).
    const everything = await server.request("POST", "/materialize", {
      body: { "feature_views": ["driver_hourly_stats"], "disable_event_timestamp": true },
    });
    assert.equal(everything.status, 200, everything.text);
    assert.deepEqual(everything.json.feature_views[0], {
      name: "driver_hourly_stats",
      start: "1970-01-01T00:00:00.000Z",
      end: "2024-01-10T00:00:00.000Z",
      rows: 3,
      null_key_rows: 0,
    });

    // "Retrieving features".
    const read = await server.request("POST", "/get-online-features", {
      body: {
        "features": [
          "driver_hourly_stats:conv_rate",
          "driver_hourly_stats:acc_rate",
          "driver_hourly_stats:avg_daily_trips",
        ],
        "entities": {
          "driver_id": [1001, 1002, 1003],
        },
      },
    });
    assert.equal(read.status, 200, read.text);
    const columns = readAsRemoteGetOnlineFeatures(read.json);
    assert.deepEqual(columns.avg_daily_trips, [11, 20, 30]);
    assert.deepEqual(read.json.results.at(-1).event_timestamps, [
      "2024-01-01T01:00:00Z",
      "2024-01-01T01:00:00Z",
      "2024-01-01T02:00:00Z",
    ]);
    // "It's also possible to specify a feature service name".
    const service = await server.request("POST", "/get-online-features", {
      body: { "feature_service": "driver_activity_v2", "entities": { "driver_id": [1001] } },
    });
    assert.equal(service.status, 200, service.text);

    // "Pushing features to the online and offline stores": the curl body (sent as curl sends
    // it, without a JSON content type).
    const curl = await server.app.request("/push", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `{
    "push_source_name": "driver_stats_push_source",
    "df": {
            "driver_id": [1001],
            "event_timestamp": ["2022-05-13 10:59:42+00:00"],
            "created": ["2022-05-13 10:59:42"],
            "conv_rate": [1.0],
            "acc_rate": [1.0],
            "avg_daily_trips": [1000]
    },
    "to": "online_and_offline"
  }`,
    });
    const pushed = await curl.json();
    assert.equal(curl.status, 200, JSON.stringify(pushed));
    assert.deepEqual(pushed.online, { written: 1, skipped: 0 });
    assert.equal(pushed.offline.files.length, 1);
    // The Python example: `str(datetime(...))` times and a single value ("string_feature",
    // which pandas repeats on every row; the view has no such feature, so it is ignored).
    const python = await server.request("POST", "/push", {
      body: {
        "push_source_name": "driver_stats_push_source",
        "df": {
          "driver_id": [1001],
          "event_timestamp": ["2021-05-13 10:59:42"],
          "created": ["2021-05-13 10:59:42"],
          "conv_rate": [1.0],
          "acc_rate": [1.0],
          "avg_daily_trips": [1000],
          "string_feature": "test2",
        },
        "to": "online",
      },
    });
    assert.equal(python.status, 200, python.text);
    assert.deepEqual(python.json.online, { written: 0, skipped: 1 }, "older than the curl push");
  } finally {
    await server.close();
  }
});

Deno.test("POST /push and /write-to-online-store repeat a single value on every row, as pandas does", async () => {
  const server = await templateServer();
  const read = async (features: string[], ids: number[]) => {
    const res = await server.request("POST", "/get-online-features", {
      body: { features, entities: { driver_id: ids } },
    });
    assert.equal(res.status, 200, res.text);
    return readAsRemoteGetOnlineFeatures(res.json);
  };
  try {
    const write = await server.request("POST", "/write-to-online-store", {
      body: {
        feature_view_name: "driver_profile",
        df: {
          driver_id: [1001, 1002, 1003],
          event_timestamp: "2024-01-05T00:00:00Z",
          string_feature: "test2",
        },
      },
    });
    assert.equal(write.status, 200, write.text);
    assert.equal(write.json.rows, 3);
    const profile = await read(["driver_profile:string_feature"], [1001, 1002, 1003]);
    assert.deepEqual(profile.string_feature, ["test2", "test2", "test2"]);

    const push = await server.request("POST", "/push", {
      body: {
        push_source_name: "driver_stats_push_source",
        df: {
          driver_id: [1001, 1002],
          event_timestamp: "2024-01-05T00:00:00Z",
          created: null,
          conv_rate: [0.5, 0.25],
          acc_rate: 1,
          avg_daily_trips: 7,
        },
        to: "online_and_offline",
      },
    });
    assert.equal(push.status, 200, push.text);
    assert.deepEqual(push.json.online, { written: 2, skipped: 0 });
    const fresh = await read(
      ["driver_hourly_stats_fresh:acc_rate", "driver_hourly_stats_fresh:avg_daily_trips"],
      [1001, 1002],
    );
    assert.deepEqual(fresh.acc_rate, [1, 1]);
    assert.deepEqual(fresh.avg_daily_trips, [7, 7]);
    // Offline too: the new file holds both rows.
    const at = new Date("2024-01-06T00:00:00Z");
    const job = await server.store.getHistoricalFeatures({
      entities: [{ driver_id: 1001, event_timestamp: at }, {
        driver_id: 1002,
        event_timestamp: at,
      }],
      features: ["driver_hourly_stats_fresh:avg_daily_trips"],
    });
    const rows = (await job.toRows()).map((r) => [r.driver_id, r.avg_daily_trips]).sort();
    assert.deepEqual(rows, [[1001, 7], [1002, 7]]);

    // No list to take a row count from (pandas refuses it too), or no columns at all: 422.
    const single = await server.request("POST", "/write-to-online-store", {
      body: {
        feature_view_name: "driver_profile",
        df: { driver_id: 1001, event_timestamp: "2024-01-05T00:00:00Z", string_feature: "x" },
      },
    });
    assert.equal(single.status, 422, single.text);
    assert.equal(
      single.json.error.message,
      'Invalid request body: df: every column is a single value ("driver_id", "event_timestamp", "string_feature"): give at least one column as a list, one value per row',
    );
    const empty = await server.request("POST", "/push", {
      body: { push_source_name: "driver_stats_push_source", df: {} },
    });
    assert.equal(empty.status, 422, empty.text);
    assert.equal(
      empty.json.error.message,
      "Invalid request body: df: has no columns: expected column name -> values, one per row",
    );
    // Lists of different lengths, and values that are neither lists nor single values.
    const uneven = await server.request("POST", "/write-to-online-store", {
      body: {
        feature_view_name: "driver_profile",
        df: { driver_id: [1, 2], event_timestamp: ["2024-01-05"], string_feature: "x" },
      },
    });
    assert.equal(uneven.status, 422, uneven.text);
    assert.match(uneven.json.error.message, /^Columns have different lengths \(driver_id: 2, /);
    const nested = await server.request("POST", "/write-to-online-store", {
      body: {
        feature_view_name: "driver_profile",
        df: { driver_id: [1], event_timestamp: ["2024-01-05"], string_feature: { a: 1 } },
      },
    });
    assert.equal(nested.status, 422, nested.text);
    assert.match(nested.json.error.message, /^Invalid request body: df\.string_feature: /);
    // Reads take lists only: Feast's read model is Dict[str, List[Any]].
    const scalarEntities = await server.request("POST", "/get-online-features", {
      body: { features: ["driver_profile:string_feature"], entities: { driver_id: 1001 } },
    });
    assert.equal(scalarEntities.status, 422, scalarEntities.text);
    assert.match(
      scalarEntities.json.error.message,
      /^Invalid request body: entities\.driver_id: expected array, got 1001/,
    );
  } finally {
    await server.close();
  }
});
