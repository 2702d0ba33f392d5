import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore } from "../../engine/mod.ts";
import { type OnlineStore, SqliteOnlineStore } from "../../engine/online/mod.ts";
import { assertHeldByThisProcess } from "../support/locks.ts";
import { SERVER_FEATURES, startServer, statsRows } from "./_harness.ts";

Deno.test("POST /get-online-features reads what /write-to-online-store wrote, Feast's shape", async () => {
  const server = await startServer();
  try {
    const write = await server.request("POST", "/write-to-online-store", {
      body: { feature_view_name: "driver_hourly_stats", df: statsRows([1001, 1002]) },
    });
    assert.equal(write.status, 200, write.text);
    assert.deepEqual(write.json, {
      feature_views: ["driver_hourly_stats"],
      rows: 2,
      online: { written: 2, skipped: 0 },
      views: [{ view: "driver_hourly_stats", written: 2, skipped: 0 }],
    });
    const read = await server.request("POST", "/get-online-features", {
      body: {
        features: ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"],
        entities: { driver_id: [1001, 1002, 9999] },
      },
    });
    assert.equal(read.status, 200, read.text);
    assert.deepEqual(read.json.metadata, { feature_names: ["driver_id", "conv_rate", "acc_rate"] });
    assert.equal(read.json.results.length, 3);
    assert.deepEqual(read.json.results[0].values, [1001, 1002, 9999]);
    assert.deepEqual(read.json.results[0].statuses, ["PRESENT", "PRESENT", "PRESENT"]);
    const conv = read.json.results[1];
    assert.equal(conv.values[0], 0.5);
    assert.ok(Math.abs(conv.values[1] - 0.6) < 1e-6);
    assert.equal(conv.values[2], null);
    assert.deepEqual(conv.statuses, ["PRESENT", "PRESENT", "NOT_FOUND"]);
    assert.deepEqual(conv.event_timestamps, [
      "2024-01-01T10:00:00Z",
      "2024-01-01T10:00:00Z",
      "1970-01-01T00:00:00Z",
    ]);
  } finally {
    await server.close();
  }
});

Deno.test("POST /get-online-features by feature service, with full feature names", async () => {
  const server = await startServer();
  try {
    await server.request("POST", "/write-to-online-store", {
      body: { feature_view_name: "driver_hourly_stats", df: statsRows([1001]) },
    });
    const res = await server.request("POST", "/get-online-features", {
      body: {
        feature_service: "driver_activity",
        entities: { driver_id: [1001] },
        full_feature_names: true,
      },
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.metadata.feature_names, [
      "driver_id",
      "driver_hourly_stats__conv_rate",
      "driver_hourly_stats__acc_rate",
      "driver_trips__trips_today",
      "driver_trips__rating",
    ]);
    assert.deepEqual(res.json.results[3].statuses, ["NOT_FOUND"]);
  } finally {
    await server.close();
  }
});

Deno.test("POST /get-online-features answers 404 and 422 with clear messages", async () => {
  const server = await startServer();
  try {
    const unknownView = await server.request("POST", "/get-online-features", {
      body: { features: ["nope:x"], entities: { driver_id: [1] } },
    });
    assert.equal(unknownView.status, 404);
    assert.equal(unknownView.json.error.code, "NOT_FOUND");
    assert.match(
      unknownView.json.error.message,
      /^Cannot find feature view "nope": the registry has/,
    );
    const unknownFeature = await server.request("POST", "/get-online-features", {
      body: { features: ["driver_hourly_stats:nope"], entities: { driver_id: [1] } },
    });
    assert.equal(unknownFeature.status, 404);
    assert.match(unknownFeature.json.error.message, /Cannot find feature "nope"/);
    const badRef = await server.request("POST", "/get-online-features", {
      body: { features: ["no_colon"], entities: { driver_id: [1] } },
    });
    assert.equal(badRef.status, 422);
    assert.equal(
      badRef.json.error.message,
      'Invalid feature reference "no_colon": expected "view:feature"',
    );
    const both = await server.request("POST", "/get-online-features", {
      body: { features: ["a:b"], feature_service: "x", entities: {} },
    });
    assert.equal(both.status, 422);
    assert.match(both.json.error.message, /exactly one of "features" and "feature_service"/);
    const missingKey = await server.request("POST", "/get-online-features", {
      body: { features: ["driver_hourly_stats:conv_rate"], entities: { rider_id: [1] } },
    });
    assert.equal(missingKey.status, 422);
    assert.match(missingKey.json.error.message, /Entity column "driver_id" is missing/);
    const ragged = await server.request("POST", "/get-online-features", {
      body: {
        features: ["driver_hourly_stats:conv_rate"],
        entities: { driver_id: [1, 2], other: [1] },
      },
    });
    assert.equal(ragged.status, 422);
    assert.equal(
      ragged.json.error.message,
      "Columns have different lengths (driver_id: 2, other: 1)",
    );
    const wrongType = await server.request("POST", "/get-online-features", {
      body: { features: ["driver_hourly_stats:conv_rate"], entities: { driver_id: ["abc"] } },
    });
    assert.equal(wrongType.status, 422, wrongType.text);
  } finally {
    await server.close();
  }
});

Deno.test("POST /push writes online skip-if-not-newer", async () => {
  const server = await startServer();
  try {
    const first = await server.request("POST", "/push", {
      body: {
        push_source_name: "driver_stats_push",
        df: statsRows([1001], "2024-02-01T00:00:00Z", 0.1),
      },
    });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.json, {
      feature_views: ["driver_hourly_stats"],
      rows: 1,
      online: { written: 1, skipped: 0 },
      views: [{ view: "driver_hourly_stats", written: 1, skipped: 0 }],
    });
    const older = await server.request("POST", "/push", {
      body: {
        push_source_name: "driver_stats_push",
        df: statsRows([1001], "2024-01-15T00:00:00Z", 0.9),
        to: "online",
      },
    });
    assert.deepEqual(older.json.online, { written: 0, skipped: 1 });
    const same = await server.request("POST", "/push", {
      body: {
        push_source_name: "driver_stats_push",
        df: statsRows([1001], "2024-02-01T00:00:00Z", 0.7),
      },
    });
    assert.deepEqual(
      same.json.online,
      { written: 0, skipped: 1 },
      "an equal timestamp does not overwrite",
    );
    const read = await server.request("POST", "/get-online-features", {
      body: { features: ["driver_hourly_stats:conv_rate"], entities: { driver_id: [1001] } },
    });
    assert.ok(Math.abs(read.json.results[1].values[0] - 0.1) < 1e-6);
    const unknown = await server.request("POST", "/push", {
      body: { push_source_name: "nope", df: statsRows([1]) },
    });
    assert.equal(unknown.status, 422, "as Feast answers an unknown push source");
    assert.equal(
      unknown.json.error.message,
      'Cannot find push source "nope": the registry has "driver_stats_push"',
    );
    const notPush = await server.request("POST", "/push", {
      body: { push_source_name: "driver_trips_source", df: statsRows([1]) },
    });
    assert.equal(notPush.status, 422);
    const missing = await server.request("POST", "/push", {
      body: { push_source_name: "driver_stats_push", df: { driver_id: [1] } },
    });
    assert.equal(missing.status, 422);
    assert.match(missing.json.error.message, /missing columns/);
  } finally {
    await server.close();
  }
});

Deno.test("POST /push skips offline-only views online, as FeatureStore.push does", async () => {
  // A second view on the push source, offline only (online: false).
  const features = SERVER_FEATURES + `
export const statsArchive = featureView({
  name: "driver_stats_archive",
  entities: [driver],
  schema: { conv_rate: "float32" },
  source: statsPush,
  online: false,
});
`;
  const server = await startServer({ features });
  try {
    const res = await server.request("POST", "/push", {
      body: {
        push_source_name: "driver_stats_push",
        df: { ...statsRows([1001], "2024-03-01T00:00:00Z", 0.5), created: [null] },
        to: "online_and_offline",
      },
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.feature_views, ["driver_hourly_stats", "driver_stats_archive"]);
    assert.deepEqual(res.json.online, { written: 1, skipped: 0 });
    assert.equal(res.json.offline.files.length, 1);
    const sdk = await server.store.push(
      "driver_stats_push",
      { ...statsRows([1002], "2024-03-01T00:00:00Z", 0.5), created: [null] },
      { to: "online_and_offline" },
    );
    assert.deepEqual(sdk.views.map((v) => v.view), ["driver_hourly_stats"]);
  } finally {
    await server.close();
  }
});

Deno.test("POST /push to offline adds a new Parquet file that historical retrieval reads", async () => {
  const server = await startServer();
  try {
    const folder = join(server.repo.dir, "data/driver_stats");
    const before = await Deno.readFile(join(folder, "part-0.parquet"));
    const res = await server.request("POST", "/push", {
      body: {
        push_source_name: "driver_stats_push",
        df: { ...statsRows([1001, 1077], "2024-03-01T00:00:00Z", 0.33), created: [null, null] },
        to: "online_and_offline",
      },
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.online, { written: 2, skipped: 0 });
    assert.equal(res.json.offline.files.length, 1);
    const file: string = res.json.offline.files[0];
    assert.ok(file.startsWith(folder) && file.endsWith(".parquet"), file);
    assert.deepEqual(
      await Deno.readFile(join(folder, "part-0.parquet")),
      before,
      "never rewritten",
    );
    const again = await server.request("POST", "/push", {
      body: {
        push_source_name: "driver_stats_push",
        df: statsRows([1078], "2024-03-02T00:00:00Z"),
        to: "offline",
      },
    });
    assert.equal(again.status, 200, again.text);
    assert.notEqual(again.json.offline.files[0], file);
    assert.equal(again.json.online, undefined);
    const files = [...Deno.readDirSync(folder)].map((e) => e.name).sort();
    assert.equal(files.length, 3);

    const offline = await server.store.offlineStore();
    const doc = await server.store.registry.read({ fresh: true });
    const view = doc.objects.featureView.driver_hourly_stats!.spec;
    const job = await offline.getHistoricalFeatures({
      repoDir: server.repo.dir,
      entityTable: [
        { driver_id: 1077, event_timestamp: new Date("2024-03-05T00:00:00Z") },
        { driver_id: 1078, event_timestamp: new Date("2024-03-05T00:00:00Z") },
        { driver_id: 1001, event_timestamp: new Date("2024-01-01T01:30:00Z") },
      ],
      views: [{
        view,
        source: doc.objects.dataSource.driver_stats_source!.spec as never,
        entities: [doc.objects.entity.driver!.spec],
        features: ["conv_rate"],
      }],
    });
    const rows = await job.toRows();
    assert.ok(Math.abs((rows[0]!.conv_rate as number) - 0.43) < 1e-6, JSON.stringify(rows));
    assert.ok(Math.abs((rows[1]!.conv_rate as number) - 0.5) < 1e-6);
    assert.ok(Math.abs((rows[2]!.conv_rate as number) - 0.25) < 1e-6);
  } finally {
    await server.close();
  }
});

Deno.test("POST /materialize and /materialize-incremental load the online store", async () => {
  const server = await startServer();
  try {
    const res = await server.request("POST", "/materialize", {
      body: { start_ts: "2024-01-01T00:00:00Z", end_ts: "2024-01-01T01:00:00" },
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.feature_views.map((v: { name: string }) => v.name), [
      "driver_hourly_stats",
      "driver_trips",
    ]);
    assert.equal(res.json.feature_views[0].end, "2024-01-01T01:00:00.000Z", "naive means UTC");
    assert.equal(res.json.feature_views[0].rows, 3);
    assert.equal(res.json.feature_views[0].null_key_rows, 0);
    assert.equal(res.json.feature_views[1].rows, 0);
    const read = await server.request("POST", "/get-online-features", {
      body: { feature_service: "driver_activity", entities: { driver_id: [1001] } },
    });
    assert.equal(read.json.results[1].values[0], 0.25);
    assert.equal(read.json.results[1].event_timestamps[0], "2024-01-01T01:00:00Z");
    const inc = await server.request("POST", "/materialize-incremental", {
      body: { end_ts: "2024-01-02T00:00:00Z", feature_views: ["driver_trips"] },
    });
    assert.equal(inc.status, 200, inc.text);
    assert.equal(inc.json.feature_views[0].start, "2024-01-01T01:00:00.000Z");
    assert.equal(inc.json.feature_views[0].rows, 2);
    const trips = await server.request("POST", "/get-online-features", {
      body: { features: ["driver_trips:trips_today"], entities: { driver_id: [1001, 1002] } },
    });
    assert.deepEqual(trips.json.results[1].values, [7, 3]);
    const backwards = await server.request("POST", "/materialize", {
      body: { start_ts: "2024-01-02T00:00:00Z", end_ts: "2024-01-01T00:00:00Z" },
    });
    assert.equal(backwards.status, 422);
    assert.match(backwards.json.error.message, /"start_ts" must not be after "end_ts"/);
    const badTs = await server.request("POST", "/materialize", {
      body: { start_ts: "yesterday", end_ts: "2024-01-01T00:00:00Z" },
    });
    assert.equal(badTs.status, 422);
    assert.match(
      badTs.json.error.message,
      /start_ts: expected an RFC 3339 timestamp, got "yesterday"/,
    );
    const unknown = await server.request("POST", "/materialize", {
      body: { start_ts: "2024-01-01", end_ts: "2024-01-02", feature_views: ["nope"] },
    });
    assert.equal(unknown.status, 404);
  } finally {
    await server.close();
  }
});

Deno.test("POST /materialize and /materialize-incremental answer 404 on an empty registry", async () => {
  const server = await startServer({ features: "export {};\n", data: false });
  try {
    const res = await server.request("POST", "/materialize", {
      body: { start_ts: "2024-01-01T00:00:00Z", end_ts: "2024-01-02T00:00:00Z" },
    });
    assert.equal(res.status, 404, res.text);
    assert.equal(res.json.error.code, "NOT_FOUND");
    assert.equal(
      res.json.error.message,
      "Cannot materialize: the registry is empty: run apply first",
    );
    const inc = await server.request("POST", "/materialize-incremental", {
      body: { end_ts: "2024-01-02T00:00:00Z" },
    });
    assert.equal(inc.status, 404, inc.text);
  } finally {
    await server.close();
  }
});

Deno.test("POST /materialize answers 409 while the view's lock is held in the shared store", async () => {
  const server = await startServer();
  // Another process's client of the same online store: the lock lives in the SQLite file.
  const other = await SqliteOnlineStore.open({
    project: "test_project",
    path: join(server.repo.dir, "data/online.sqlite"),
  });
  try {
    const lease = await other.acquireLock("materialize:driver_trips", 30_000);
    assert.ok(lease);
    const busy = await server.request("POST", "/materialize", {
      body: { start_ts: "2024-01-01", end_ts: "2024-01-02" },
    });
    assert.equal(busy.status, 409);
    assertHeldByThisProcess(busy.json.error, "driver_trips");
    // The other view's lock was released again: it can be materialized alone.
    const alone = await server.request("POST", "/materialize", {
      body: {
        start_ts: "2024-01-01",
        end_ts: "2024-01-02",
        feature_views: ["driver_hourly_stats"],
      },
    });
    assert.equal(alone.status, 200, alone.text);
    await lease.release();
    const free = await server.request("POST", "/materialize-incremental", {
      body: { end_ts: "2024-01-02" },
    });
    assert.equal(free.status, 200, free.text);
  } finally {
    await other.close();
    await server.close();
  }
});

Deno.test("POST /materialize answers 503 when the online store has no shared locks", async () => {
  const withoutLocks = (online: OnlineStore): OnlineStore => ({
    name: online.name,
    capabilities: { ...online.capabilities, locks: false },
    read: (keys) => online.read(keys),
    write: (view, rows) => online.write(view, rows),
    deleteViews: (views) => online.deleteViews(views),
    deleteAll: () => online.deleteAll(),
    viewsWithData: (options) => online.viewsWithData(options),
    acquireLock: (name, ttlMs) => online.acquireLock(name, ttlMs),
    inspectLock: (name) => online.inspectLock(name),
    breakLock: (name, token) => online.breakLock(name, token),
    close: () => online.close(),
  });
  const server = await startServer({
    deps: (deps) => ({ ...deps, onlineStore: withoutLocks(deps.onlineStore) }),
  });
  try {
    const res = await server.request("POST", "/materialize", {
      body: { start_ts: "2024-01-01", end_ts: "2024-01-02" },
    });
    assert.equal(res.status, 503);
    assert.equal(res.json.error.code, "UNAVAILABLE");
    assert.match(
      res.json.error.message,
      /^Cannot materialize: the online store \(sqlite .*\) offers no shared locks$/,
    );
  } finally {
    await server.close();
  }
});

Deno.test("GET /health is 200, and 503 when the registry or the online store is unreachable", async () => {
  const server = await startServer();
  try {
    const ok = await server.request("GET", "/health");
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json, {
      status: "ok",
      registry: { ok: true, version: 1 },
      online_store: { ok: true },
    });
    const registryFile = join(server.repo.dir, "data/registry.json");
    const saved = await Deno.readTextFile(registryFile);
    await Deno.writeTextFile(registryFile, "{ not json");
    const broken = await server.request("GET", "/health");
    assert.equal(broken.status, 503);
    assert.equal(broken.json.error.code, "UNAVAILABLE");
    assert.match(broken.json.error.message, /^Unhealthy: the registry cannot be read/);
    assert.equal(broken.json.error.details.online_store.ok, true);
    // Serving goes on from the cached registry meanwhile.
    const served = await server.request("GET", "/registry/feature-views");
    assert.equal(served.status, 200);
    await Deno.writeTextFile(registryFile, saved);
    assert.equal((await server.request("GET", "/health")).status, 200);
    const online = await server.store.onlineStore();
    await online!.close();
    const down = await server.request("GET", "/health");
    assert.equal(down.status, 503);
    assert.match(down.json.error.message, /the online store does not answer/);
    assert.equal(down.json.error.details.registry.ok, true);
  } finally {
    await server.close().catch(() => {});
  }
});

Deno.test("GET /metrics renders request counts, latency histograms and errors by code", async () => {
  const server = await startServer();
  try {
    await server.request("GET", "/health");
    await server.request("GET", "/nope");
    await server.request("POST", "/get-online-features", { body: "{" });
    const res = await server.request("GET", "/metrics");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    const text = res.text;
    assert.match(
      text,
      /larder_http_requests_total\{method="GET",route="\/health",status="200"\} 1/,
    );
    assert.match(
      text,
      /larder_http_requests_total\{method="GET",route="unmatched",status="404"\} 1/,
    );
    assert.match(
      text,
      /larder_http_requests_total\{method="POST",route="\/get-online-features",status="400"\} 1/,
    );
    assert.match(
      text,
      /larder_http_request_duration_seconds_bucket\{route="\/health",le="\+Inf"\} 1/,
    );
    assert.match(text, /larder_http_request_duration_seconds_count\{route="\/health"\} 1/);
    assert.match(text, /larder_http_errors_total\{code="NOT_FOUND"\} 1/);
    assert.match(text, /larder_http_errors_total\{code="MALFORMED_REQUEST"\} 1/);
    assert.match(text, /larder_registry_version 1/);
  } finally {
    await server.close();
  }
});

Deno.test("GET /registry/* lists and gets objects", async () => {
  const server = await startServer();
  try {
    const views = await server.request("GET", "/registry/feature-views");
    assert.equal(views.status, 200);
    assert.deepEqual(views.json.feature_views.map((v: { name: string }) => v.name), [
      "driver_hourly_stats",
      "driver_trips",
    ]);
    assert.equal(views.json.feature_views[0].kind, "featureView");
    assert.equal(views.json.feature_views[0].spec.source, "driver_stats_push");
    assert.match(views.json.feature_views[0].meta.hash, /^[0-9a-f]{64}$/);
    const entities = await server.request("GET", "/registry/entities");
    assert.deepEqual(entities.json.entities.map((e: { name: string }) => e.name), ["driver"]);
    const sources = await server.request("GET", "/registry/data-sources");
    assert.equal(sources.json.data_sources.length, 3);
    const services = await server.request("GET", "/registry/feature-services");
    assert.equal(services.json.feature_services.length, 2);
    const one = await server.request("GET", "/registry/feature-services/driver_activity");
    assert.equal(one.status, 200);
    assert.equal(one.json.name, "driver_activity");
    assert.equal(one.json.spec.projections.length, 2);
    const missing = await server.request("GET", "/registry/entities/rider");
    assert.equal(missing.status, 404);
    assert.equal(
      missing.json.error.message,
      'Cannot find entity "rider": the registry has "driver"',
    );
  } finally {
    await server.close();
  }
});

Deno.test("the registry is served from memory and refreshed in the background", async () => {
  const server = await startServer({ yaml: "registry:\n  type: file\n  cache_ttl_seconds: 3\n" });
  try {
    const before = await server.request("GET", "/registry/feature-services");
    assert.equal(before.json.feature_services.length, 2);
    // Another process applies a change.
    const other = await FeatureStore.open({ repo: server.repo.dir });
    await server.repo.write(
      "features.ts",
      (await server.repo.read("features.ts"))!.replace(/export const ratings = .*\n/, ""),
    );
    await other.apply({ skipSourceValidation: true });
    await other.close();
    const soon = await server.request("GET", "/registry/feature-services");
    assert.equal(soon.json.feature_services.length, 2, "served from memory until the refresh");
    // The background refresh (every 3 s) picks the change up; poll for it, at most 15 s.
    const deadline = Date.now() + 15_000;
    let names: string[] = [];
    while (Date.now() < deadline) {
      const after = await server.request("GET", "/registry/feature-services");
      names = after.json.feature_services.map((s: { name: string }) => s.name);
      if (names.length === 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(names, ["driver_activity"]);
  } finally {
    await server.close();
  }
});

Deno.test("GET /openapi.json is OpenAPI 3.1 from the same schemas; /docs renders it", async () => {
  const server = await startServer();
  try {
    const res = await server.request("GET", "/openapi.json");
    assert.equal(res.status, 200);
    assert.equal(res.json.openapi, "3.1.0");
    for (
      const path of [
        "/get-online-features",
        "/push",
        "/write-to-online-store",
        "/materialize",
        "/materialize-incremental",
        "/health",
        "/metrics",
        "/registry/entities",
        "/registry/feature-views/{name}",
      ]
    ) assert.ok(res.json.paths[path], path);
    const body = res.json.paths["/get-online-features"].post.requestBody.content["application/json"]
      .schema;
    assert.deepEqual(body.required, ["entities"]);
    assert.equal(body.additionalProperties, undefined, "unknown keys are ignored, as in Feast");
    assert.equal(body.properties.full_feature_names.default, false);
    const push = res.json.paths["/push"].post.requestBody.content["application/json"].schema;
    assert.deepEqual(push.properties.to.enum, ["online", "offline", "online_and_offline"]);
    assert.ok(res.json.paths["/materialize"].post.responses["409"]);
    const docs = await server.request("GET", "/docs");
    assert.equal(docs.status, 200);
    assert.match(docs.headers.get("content-type")!, /text\/html/);
    assert.match(docs.text, /<code>\/get-online-features<\/code>/);
    assert.doesNotMatch(docs.text, /<script/);
  } finally {
    await server.close();
  }
});
