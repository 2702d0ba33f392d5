/**
 * Names that `Object.prototype` also holds (`constructor`, `toString`, ...) are names like any
 * other at every endpoint: unknown ones answer 404, and `__proto__` as a column is refused.
 */
import assert from "node:assert/strict";
import { SERVER_FEATURES_ON_DEMAND, startServer, statsRows, type TestServer } from "./_harness.ts";

const PROTOTYPE_NAMES = ["__proto__", "hasOwnProperty", "valueOf", "toString", "constructor"];

const REGISTRY = [
  ["entities", "entity"],
  ["feature-views", "featureView"],
  ["feature-services", "featureService"],
  ["data-sources", "dataSource"],
] as const;

const RANGE = { start_ts: "2024-01-01", end_ts: "2024-01-02" };

async function assertNotFound(
  server: TestServer,
  method: string,
  path: string,
  body: unknown,
  message: RegExp,
  // An unknown push source is a 422, as Feast answers it.
  [status, code] = [404, "NOT_FOUND"],
): Promise<void> {
  const res = await server.request(method, path, body === undefined ? {} : { body });
  assert.equal(res.status, status, `${method} ${path} ${JSON.stringify(body)}: ${res.text}`);
  assert.equal(res.json.error.code, code);
  assert.match(res.json.error.message, message, `${method} ${path}`);
}

Deno.test("the server answers 404 (422 for a push source) for Object.prototype names of every kind", async () => {
  const server = await startServer({ features: SERVER_FEATURES_ON_DEMAND });
  try {
    for (const name of PROTOTYPE_NAMES) {
      for (const [segment, kind] of REGISTRY) {
        const res = await server.request("GET", `/registry/${segment}/${name}`);
        assert.equal(res.status, 404, `${segment}/${name}: ${res.text}`);
        assert.deepEqual(res.json.error.details, { kind, name });
      }
      const entities = { driver_id: [1001], k: [2] };
      await assertNotFound(
        server,
        "POST",
        "/get-online-features",
        { feature_service: name, entities },
        new RegExp(`^Cannot find feature service "${name}": the registry has "driver_activity"`),
      );
      await assertNotFound(
        server,
        "POST",
        "/get-online-features",
        { features: [`${name}:conv_rate`], entities },
        new RegExp(`^Cannot find feature view "${name}": the registry has "driver_hourly_stats"`),
      );
      for (const view of ["driver_hourly_stats", "scaled"]) {
        await assertNotFound(
          server,
          "POST",
          "/get-online-features",
          { features: [`${view}:${name}`], entities },
          new RegExp(`^Cannot find feature "${name}" in feature view "${view}": it has "`),
        );
      }
      await assertNotFound(
        server,
        "POST",
        "/push",
        { push_source_name: name, df: statsRows([1001]) },
        new RegExp(`^Cannot find push source "${name}": the registry has "driver_stats_push"$`),
        [422, "INPUT_INVALID"],
      );
      await assertNotFound(
        server,
        "POST",
        "/write-to-online-store",
        { feature_view_name: name, df: statsRows([1001]) },
        new RegExp(`^Cannot find feature view "${name}"`),
      );
      const materialize = [
        ["/materialize", RANGE],
        ["/materialize-incremental", { end_ts: RANGE.end_ts }],
      ] as const;
      for (const [path, range] of materialize) {
        await assertNotFound(
          server,
          "POST",
          path,
          { ...range, feature_views: ["driver_trips", name] },
          new RegExp(`^Cannot find feature view "${name}"`),
        );
      }
    }
  } finally {
    await server.close();
  }
});

Deno.test("the server takes Object.prototype names as ordinary extra columns", async () => {
  const server = await startServer({ features: SERVER_FEATURES_ON_DEMAND });
  try {
    for (const name of PROTOTYPE_NAMES.filter((n) => n !== "__proto__")) {
      const write = await server.request("POST", "/write-to-online-store", {
        body: {
          feature_view_name: "driver_hourly_stats",
          df: { ...statsRows([1001]), [name]: [1] },
        },
      });
      assert.equal(write.status, 200, write.text);
      const push = await server.request("POST", "/push", {
        body: { push_source_name: "driver_stats_push", df: { ...statsRows([1002]), [name]: [1] } },
      });
      assert.equal(push.status, 200, push.text);
      const read = await server.request("POST", "/get-online-features", {
        body: {
          features: ["driver_hourly_stats:conv_rate"],
          entities: { driver_id: [1001], [name]: [1] },
        },
      });
      assert.equal(read.status, 200, read.text);
      assert.deepEqual(read.json.metadata.feature_names, ["driver_id", "conv_rate"]);
    }
  } finally {
    await server.close();
  }
});

Deno.test("the server refuses a __proto__ column naming it, instead of dropping it", async () => {
  const server = await startServer();
  try {
    // JSON.parse keeps "__proto__" as an own key; zod's records would drop it silently.
    const bodies = [
      [
        "/get-online-features",
        '{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001], "__proto__": [1]}}',
        "entities",
      ],
      [
        "/push",
        `{"push_source_name": "driver_stats_push", "df": ${
          JSON.stringify(statsRows([1001])).replace("{", '{"__proto__": [1], ')
        }}`,
        "df",
      ],
      [
        "/write-to-online-store",
        '{"feature_view_name": "driver_hourly_stats", "df": {"\\u005f_proto__": [1]}}',
        "df",
      ],
    ] as const;
    for (const [path, text, field] of bodies) {
      const res = await server.request("POST", path, { body: text });
      assert.equal(res.status, 422, `${path}: ${res.text}`);
      assert.deepEqual(res.json.error, {
        code: "INPUT_INVALID",
        message: `Invalid request body: ${field}.__proto__: the key "__proto__" is reserved`,
        details: { issues: [`${field}.__proto__: the key "__proto__" is reserved`], issueCount: 1 },
      });
    }
  } finally {
    await server.close();
  }
});

Deno.test("the server refuses Object.prototype names as float values", async () => {
  const server = await startServer();
  try {
    for (const name of PROTOTYPE_NAMES) {
      const res = await server.request("POST", "/write-to-online-store", {
        body: {
          feature_view_name: "driver_hourly_stats",
          df: { ...statsRows([1001]), conv_rate: [name] },
        },
      });
      assert.equal(res.status, 422, `${name}: ${res.text}`);
      assert.match(res.json.error.message, new RegExp(`"${name}" is not a float32`));
    }
  } finally {
    await server.close();
  }
});
