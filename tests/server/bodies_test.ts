/**
 * How bodies are read: unknown keys ignored as Feast's request models ignore them (refused with
 * `feature_server.strict_bodies: true`), Feast's optional fields accepted with their types and
 * values still checked, `__proto__` refused in both modes, and `/openapi.json` saying which.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { SqliteOnlineStore } from "../../engine/online/mod.ts";
import { hashToken, TokenVerifier } from "../../server/mod.ts";
import { SERVER_FEATURES, startServer, statsRows, type TestServer } from "./_harness.ts";

const READ = { features: ["driver_hourly_stats:conv_rate"], entities: { driver_id: [1001] } };

/** A body of each endpoint with one unknown key, and one of Feast's optional fields each. */
const FEAST_FIELDS: readonly [string, Record<string, unknown>][] = [
  ["/get-online-features", {
    ...READ,
    full_feature_names: false,
    include_feature_view_version_metadata: true,
  }],
  ["/push", {
    push_source_name: "driver_stats_push",
    df: statsRows([1001]),
    to: "online",
    allow_registry_cache: true,
    transform_on_write: false,
  }],
  ["/write-to-online-store", {
    feature_view_name: "driver_hourly_stats",
    df: statsRows([1002]),
    allow_registry_cache: false,
    transform_on_write: true,
  }],
  ["/materialize", {
    start_ts: "2024-01-01T00:00:00Z",
    end_ts: "2024-01-02T00:00:00Z",
    feature_views: null,
    disable_event_timestamp: false,
    full_feature_names: false,
    version: null,
  }],
  ["/materialize-incremental", {
    end_ts: "2024-01-03T00:00:00Z",
    feature_views: ["driver_trips"],
    full_feature_names: false,
    version: null,
  }],
];

async function openApiBodies(server: TestServer): Promise<Record<string, unknown>[]> {
  const doc = (await server.request("GET", "/openapi.json")).json;
  return FEAST_FIELDS.map(([path]) =>
    doc.paths[path].post.requestBody.content["application/json"].schema
  );
}

Deno.test("bodies ignore unknown keys as Feast does; strict_bodies refuses them; __proto__ never passes", async (t) => {
  const lenient = await startServer();
  const strict = await startServer({ yaml: "feature_server:\n  strict_bodies: true\n" });
  try {
    await t.step("default: Feast's fields accepted, unknown keys ignored", async () => {
      for (const [path, body] of FEAST_FIELDS) {
        const res = await lenient.request("POST", path, { body: { ...body, from_the_future: 1 } });
        assert.equal(res.status, 200, `${path}: ${res.text}`);
      }
      for (const schema of await openApiBodies(lenient)) {
        assert.equal(schema.additionalProperties, undefined);
      }
    });
    await t.step("strict_bodies: Feast's fields accepted, unknown keys refused", async () => {
      for (const [path, body] of FEAST_FIELDS) {
        const ok = await strict.request("POST", path, { body });
        assert.equal(ok.status, 200, `${path}: ${ok.text}`);
        const res = await strict.request("POST", path, { body: { ...body, from_the_future: 1 } });
        assert.equal(res.status, 422, `${path}: ${res.text}`);
        assert.equal(
          res.json.error.message,
          'Invalid request body: unknown key "from_the_future"',
          path,
        );
      }
      for (const schema of await openApiBodies(strict)) {
        assert.equal(schema.additionalProperties, false);
      }
    });
    await t.step(
      "a __proto__ key is refused in both modes, at the top and in columns",
      async () => {
        for (const server of [lenient, strict]) {
          const top = await server.request("POST", "/get-online-features", {
            body: `{"__proto__": {"admin": true}, ${JSON.stringify(READ).slice(1)}`,
          });
          assert.equal(top.status, 422, top.text);
          assert.equal(
            top.json.error.message,
            'Invalid request body: __proto__: the key "__proto__" is reserved',
          );
          const column = await server.request("POST", "/push", {
            body: `{"push_source_name": "driver_stats_push", "df": {"__proto__": "x", ${
              JSON.stringify(statsRows([1001])).slice(1)
            }}`,
          });
          assert.equal(column.status, 422, column.text);
          assert.equal(
            column.json.error.message,
            'Invalid request body: df.__proto__: the key "__proto__" is reserved',
          );
        }
      },
    );
  } finally {
    await lenient.close();
    await strict.close();
  }
});

Deno.test("Feast's optional fields keep their types and values checked", async () => {
  const server = await startServer();
  const refused = async (path: string, body: unknown, message: string | RegExp) => {
    const res = await server.request("POST", path, { body });
    assert.equal(res.status, 422, `${path} ${JSON.stringify(body)}: ${res.text}`);
    if (typeof message === "string") assert.equal(res.json.error.message, message);
    else assert.match(res.json.error.message, message);
  };
  const range = { start_ts: "2024-01-01", end_ts: "2024-01-02" };
  try {
    await refused(
      "/get-online-features",
      { ...READ, include_feature_view_version_metadata: 1 },
      "Invalid request body: include_feature_view_version_metadata: expected boolean, got 1",
    );
    await refused(
      "/get-online-features",
      { ...READ, full_feature_names: "yes" },
      'Invalid request body: full_feature_names: expected boolean, got "yes"',
    );
    await refused(
      "/get-online-features",
      { ...READ, feature_service: "driver_activity" },
      'Invalid request body: expected exactly one of "features" and "feature_service"',
    );
    await refused(
      "/get-online-features",
      { features: [], entities: READ.entities },
      'Invalid request body: expected exactly one of "features" and "feature_service"',
    );
    // Feast's defaults: an empty `features` beside a service, a null service beside features.
    for (
      const body of [
        { features: [], feature_service: "driver_activity", entities: READ.entities },
        { ...READ, feature_service: null },
      ]
    ) {
      const res = await server.request("POST", "/get-online-features", { body });
      assert.equal(res.status, 200, res.text);
    }
    const push = { push_source_name: "driver_stats_push", df: statsRows([1001]) };
    await refused("/push", { ...push, to: null }, /^Invalid request body: to: expected "online"/);
    await refused(
      "/push",
      { ...push, allow_registry_cache: "false" },
      'Invalid request body: allow_registry_cache: expected boolean, got "false"',
    );
    await refused(
      "/write-to-online-store",
      { feature_view_name: "driver_hourly_stats", df: statsRows([1]), transform_on_write: 0 },
      "Invalid request body: transform_on_write: expected boolean, got 0",
    );
    await refused(
      "/materialize",
      { ...range, disable_event_timestamp: "true" },
      'Invalid request body: disable_event_timestamp: expected boolean, got "true"',
    );
    await refused(
      "/materialize",
      { end_ts: "2024-01-02" },
      'Invalid request body: start_ts: is required unless "disable_event_timestamp" is true',
    );
    await refused(
      "/materialize",
      { feature_views: ["driver_trips"] },
      'Invalid request body: start_ts: is required unless "disable_event_timestamp" is true; end_ts: is required unless "disable_event_timestamp" is true',
    );
    // Sent beside disable_event_timestamp (Feast's client does), the times must still be times.
    await refused(
      "/materialize",
      { start_ts: "yesterday", disable_event_timestamp: true },
      'Invalid request body: start_ts: expected an RFC 3339 timestamp, got "yesterday"',
    );
    await refused(
      "/materialize",
      { ...range, version: 2 },
      "Invalid request body: version: expected string, got 2",
    );
    await refused(
      "/materialize-incremental",
      { end_ts: "2024-01-02", feature_views: "driver_trips" },
      'Invalid request body: feature_views: expected array, got "driver_trips"',
    );
  } finally {
    await server.close();
  }
});

Deno.test("POST /materialize with disable_event_timestamp answers 409 on a held lock and checks permissions", async () => {
  const features = SERVER_FEATURES.replace(
    'import { entity, featureService, featureView, fileSource, pushSource } from "larder";',
    'import { entity, featureService, featureView, fileSource, permission, pushSource } from "larder";',
  ) + `
export const readers = permission({
  name: "readers",
  types: ["featureView"],
  actions: ["READ_ONLINE", "DESCRIBE"],
  roles: ["model"],
});
export const writers = permission({
  name: "writers",
  types: ["featureView"],
  actions: ["WRITE_ONLINE", "DESCRIBE"],
  roles: ["etl"],
});
`;
  const auth = new TokenVerifier([
    { name: "model", sha256: await hashToken("model-key"), roles: ["model"] },
    { name: "etl", sha256: await hashToken("etl-key"), roles: ["etl"] },
  ]);
  const now = new Date("2024-01-05T00:00:00Z");
  const server = await startServer({ features, auth, clock: () => now });
  const other = await SqliteOnlineStore.open({
    project: "test_project",
    path: join(server.repo.dir, "data/online.sqlite"),
  });
  const body = { feature_views: ["driver_trips"], disable_event_timestamp: true };
  const as = (key: string) => ({ headers: { authorization: `Bearer ${key}` }, body });
  try {
    const forbidden = await server.request("POST", "/materialize", as("model-key"));
    assert.equal(forbidden.status, 403, forbidden.text);
    assert.match(forbidden.json.error.message, /^Cannot WRITE_ONLINE feature view "driver_trips"/);
    const lease = await other.acquireLock("materialize:driver_trips", 30_000);
    assert.ok(lease);
    const busy = await server.request("POST", "/materialize", as("etl-key"));
    assert.equal(busy.status, 409, busy.text);
    assert.equal(busy.json.error.code, "CONFLICT");
    await lease.release();
    const done = await server.request("POST", "/materialize", as("etl-key"));
    assert.equal(done.status, 200, done.text);
    assert.deepEqual(done.json.feature_views, [{
      name: "driver_trips",
      start: "1970-01-01T00:00:00.000Z",
      end: "2024-01-05T00:00:00.000Z",
      rows: 2,
      null_key_rows: 0,
    }]);
    // The window is recorded: the next incremental run starts at that "now".
    const next = await server.request("POST", "/materialize-incremental", {
      ...as("etl-key"),
      body: { end_ts: "2024-01-06T00:00:00Z", feature_views: ["driver_trips"] },
    });
    assert.equal(next.status, 200, next.text);
    assert.equal(next.json.feature_views[0].start, "2024-01-05T00:00:00.000Z");
  } finally {
    await other.close();
    await server.close();
  }
});

Deno.test("full_feature_names on materialize is refused only where an on-demand view would see it", async () => {
  const features = `${SERVER_FEATURES}
import { onDemandFeatureView } from "larder";
export const convPct = onDemandFeatureView({
  name: "conv_pct",
  sources: [stats.select(["conv_rate"])],
  schema: { conv_pct: "float64" },
  writeToOnlineStore: true,
  transform: (c) => ({ conv_pct: c.conv_rate.map((r) => r === null ? null : Math.round(r * 100)) }),
});
`;
  const server = await startServer({ features });
  try {
    const range = { start_ts: "2024-01-01", end_ts: "2024-01-02", full_feature_names: true };
    const refused = await server.request("POST", "/materialize", { body: range });
    assert.equal(refused.status, 422, refused.text);
    assert.equal(
      refused.json.error.message,
      'Invalid request body: full_feature_names: true is not supported for feature view "driver_hourly_stats": it feeds on-demand views that write to the online store, whose transforms read their inputs by feature name',
    );
    const incremental = await server.request("POST", "/materialize-incremental", {
      body: { end_ts: "2024-01-02", full_feature_names: true },
    });
    assert.equal(incremental.status, 422, incremental.text);
    // Elsewhere it changes nothing, as in Feast.
    const trips = await server.request("POST", "/materialize", {
      body: { ...range, feature_views: ["driver_trips"] },
    });
    assert.equal(trips.status, 200, trips.text);
  } finally {
    await server.close();
  }
});

/** A `df` of `rows` listed ids and as many single-value columns as fit in about `bytes`. */
function broadcastBody(rows: number, bytes: number): { text: string; singles: number } {
  const list = `"driver_id":[${new Array(rows).fill("1").join(",")}]`;
  const singles: string[] = [];
  for (let size = list.length; size < bytes; size += 13) {
    singles.push(`"c${String(singles.length).padStart(7, "0")}":0`);
  }
  return { text: `{${list},${singles.join(",")}}`, singles: singles.length };
}

Deno.test("POST /push and /write-to-online-store answer 413 when single values would expand past the write limit", async () => {
  const auth = new TokenVerifier([
    { name: "nobody", sha256: await hashToken("nobody-key"), roles: [] },
  ]);
  const server = await startServer({ auth });
  try {
    // Under 4 MiB: 100,000 rows and ~300,000 single values, tens of billions of cells expanded.
    const { text, singles } = broadcastBody(100_000, 4 * 1024 * 1024 - 300_000);
    const rss = Deno.memoryUsage().rss;
    for (
      const [path, head] of [
        ["/push", '{"push_source_name":"driver_stats_push","to":"online","df":'],
        ["/write-to-online-store", '{"feature_view_name":"driver_hourly_stats","df":'],
      ]
    ) {
      // A caller with no permission at all: refused on the body's shape, nothing expanded.
      const res = await server.request("POST", path!, {
        body: `${head}${text}}`,
        headers: { authorization: "Bearer nobody-key" },
      });
      assert.equal(res.status, 413, `${path}: ${res.text.slice(0, 300)}`);
      assert.equal(res.json.error.code, "TOO_LARGE");
      assert.equal(
        res.json.error.message,
        `Too many values: df has ${singles} single-value columns, each repeated on 100000 rows (${
          singles * 100_000
        } values), the limit is 6400000 (64 columns of 100000 rows)`,
      );
    }
    const grown = Deno.memoryUsage().rss - rss;
    assert.ok(grown < 1024 ** 3, `memory grew by ${grown} bytes`);
  } finally {
    await server.close();
  }
});
