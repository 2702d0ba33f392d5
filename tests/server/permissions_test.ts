import assert from "node:assert/strict";
import { hashToken, OidcVerifier, TokenVerifier } from "../../server/mod.ts";
import { SERVER_FEATURES, SERVER_FEATURES_ON_DEMAND, startServer, statsRows } from "./_harness.ts";
import { generateKey, serveJwks, signJwt } from "./_jwt.ts";

const PERMISSIONS = SERVER_FEATURES.replace(
  'import { entity, featureService, featureView, fileSource, pushSource } from "larder";',
  'import { entity, featureService, featureView, fileSource, permission, pushSource } from "larder";',
) + `
export const readers = permission({
  name: "readers",
  types: ["featureView", "featureService"],
  namePatterns: ["driver_.*"],
  actions: ["READ_ONLINE", "DESCRIBE"],
  roles: ["model"],
});
export const mlOnly = permission({
  name: "ml_only",
  types: ["featureView"],
  requiredTags: { team: "ml" },
  actions: ["READ_ONLINE"],
  roles: ["ml_reader"],
});
export const writers = permission({
  name: "writers",
  types: ["featureView"],
  actions: ["WRITE"],
  roles: ["etl"],
});
`;

async function tokens() {
  return new TokenVerifier([
    { name: "model", sha256: await hashToken("model-key"), roles: ["model"] },
    { name: "etl", sha256: await hashToken("etl-key"), roles: ["etl"] },
    { name: "ml", sha256: await hashToken("ml-key"), roles: ["ml_reader"] },
    { name: "nobody", sha256: await hashToken("nobody-key"), roles: [] },
  ]);
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const READ = {
  features: ["driver_hourly_stats:conv_rate"],
  entities: { driver_id: [1001] },
};
const PUSH = { push_source_name: "driver_stats_push", df: statsRows([1001]) };

Deno.test("token auth: 401 without valid credentials, 403 without a permission", async (t) => {
  const server = await startServer({ features: PERMISSIONS, auth: await tokens() });
  const call = (method: string, path: string, token?: string, body?: unknown) =>
    server.request(method, path, {
      ...(token ? { headers: auth(token) } : {}),
      ...(body !== undefined ? { body } : {}),
    });
  try {
    await t.step("no credentials: 401", async () => {
      const res = await call("POST", "/get-online-features", undefined, READ);
      assert.equal(res.status, 401);
      assert.equal(res.json.error.code, "UNAUTHENTICATED");
      assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="larder"');
    });
    await t.step("wrong token: 401, before the body is even read", async () => {
      const res = await call("POST", "/get-online-features", "guess", "{ not json");
      assert.equal(res.status, 401);
      assert.equal(res.json.error.message, "Invalid API token");
    });
    await t.step("reader reads: 200", async () => {
      assert.equal((await call("POST", "/get-online-features", "model-key", READ)).status, 200);
      const service = await call("POST", "/get-online-features", "model-key", {
        feature_service: "driver_activity",
        entities: { driver_id: [1] },
      });
      assert.equal(service.status, 200, service.text);
    });
    await t.step("reader writes: 403 naming what is missing", async () => {
      const res = await call("POST", "/write-to-online-store", "model-key", {
        feature_view_name: "driver_hourly_stats",
        df: statsRows([1002]),
      });
      assert.equal(res.status, 403);
      assert.deepEqual(res.json.error, {
        code: "FORBIDDEN",
        message:
          'Cannot WRITE_ONLINE feature view "driver_hourly_stats": no permission grants it to roles "model"',
        details: {
          action: "WRITE_ONLINE",
          resourceType: "featureView",
          resource: "driver_hourly_stats",
          subject: "model",
          roles: ["model"],
        },
      });
      // No permission covers the push source, nor may the reader write the views it feeds.
      const push = await call("POST", "/push", "model-key", PUSH);
      assert.equal(push.status, 422);
      assert.equal(
        push.json.error.message,
        'Cannot find push source "driver_stats_push": the registry has none',
      );
      const mat = await call("POST", "/materialize", "model-key", {
        start_ts: "2024-01-01",
        end_ts: "2024-01-02",
      });
      assert.equal(mat.status, 403);
    });
    await t.step("writer writes (WRITE alias), cannot read", async () => {
      const push = await call("POST", "/push", "etl-key", { ...PUSH, to: "online" });
      assert.equal(push.status, 200, push.text);
      const write = await call("POST", "/write-to-online-store", "etl-key", {
        feature_view_name: "driver_hourly_stats",
        df: statsRows([1002]),
      });
      assert.equal(write.status, 200);
      const mat = await call("POST", "/materialize", "etl-key", {
        start_ts: "2024-01-01",
        end_ts: "2024-01-02",
      });
      assert.equal(mat.status, 200, mat.text);
      const read = await call("POST", "/get-online-features", "etl-key", READ);
      assert.equal(read.status, 403);
    });
    await t.step("required tags: the ml role reads only views tagged team=ml", async () => {
      assert.equal((await call("POST", "/get-online-features", "ml-key", READ)).status, 200);
      // No permission covers driver_trips for this role: to it, the view does not exist.
      const trips = await call("POST", "/get-online-features", "ml-key", {
        features: ["driver_trips:rating"],
        entities: { driver_id: [1001] },
      });
      assert.equal(trips.status, 404);
      assert.equal(
        trips.json.error.message,
        'Cannot find feature view "driver_trips": the registry has none',
      );
    });
    await t.step("deny by default: nothing grants a caller without roles", async () => {
      const res = await call("POST", "/get-online-features", "nobody-key", READ);
      assert.equal(res.status, 404);
      assert.match(res.json.error.message, /^Cannot find feature view "driver_hourly_stats"/);
      const mat = await call("POST", "/materialize", "nobody-key", {
        start_ts: "2024-01-01",
        end_ts: "2024-01-02",
      });
      assert.equal(mat.status, 403);
      assert.equal(
        mat.json.error.message,
        "Cannot WRITE_ONLINE every online feature view: no permission grants it on one of them to a caller without roles",
      );
    });
    await t.step("registry reads need DESCRIBE; listings are filtered", async () => {
      const views = await call("GET", "/registry/feature-views", "model-key");
      assert.deepEqual(views.json.feature_views.map((v: { name: string }) => v.name), [
        "driver_hourly_stats",
        "driver_trips",
      ]);
      const entities = await call("GET", "/registry/entities", "model-key");
      assert.deepEqual(entities.json, { entities: [] }, "no permission covers entities");
      const one = await call("GET", "/registry/entities/driver", "model-key");
      assert.equal(one.status, 404, "no permission covers entities");
      assert.equal(one.json.error.message, 'Cannot find entity "driver": the registry has none');
      const etl = await call("GET", "/registry/feature-views/driver_trips", "etl-key");
      assert.equal(etl.status, 403, "etl may write the view, so it may know it exists");
      assert.equal((await call("GET", "/registry/entities", undefined)).status, 401);
    });
    await t.step("health, metrics and the docs need no credentials", async () => {
      for (const path of ["/health", "/metrics", "/openapi.json", "/docs"]) {
        assert.equal((await call("GET", path)).status, 200, path);
      }
    });
  } finally {
    await server.close();
  }
});

Deno.test("token auth without any permission in the registry allows every valid caller", async () => {
  const server = await startServer({ auth: await tokens() });
  try {
    const res = await server.request("POST", "/push", { body: PUSH, headers: auth("nobody-key") });
    assert.equal(res.status, 200, res.text);
    const read = await server.request("POST", "/get-online-features", {
      body: READ,
      headers: auth("nobody-key"),
    });
    assert.equal(read.status, 200);
    assert.equal(
      (await server.request("POST", "/get-online-features", { body: READ })).status,
      401,
    );
  } finally {
    await server.close();
  }
});

Deno.test("OIDC auth through the app: roles from the token, 401 for bad tokens", async () => {
  const key = await generateKey("RS256", "k1");
  const ec = await generateKey("ES256", "k2");
  const jwks = serveJwks([key, ec]);
  const server = await startServer({
    features: PERMISSIONS,
    auth: new OidcVerifier({
      issuer: jwks.issuer,
      audience: "larder",
      jwksUrl: jwks.jwksUrl,
      rolesClaim: "roles",
    }),
  });
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: jwks.issuer, aud: "larder", sub: "svc", exp: now + 300 };
  const read = async (token: string) =>
    await server.request("POST", "/get-online-features", { body: READ, headers: auth(token) });
  try {
    assert.equal((await read(await signJwt(key, { ...claims, roles: ["model"] }))).status, 200);
    assert.equal((await read(await signJwt(ec, { ...claims, roles: ["model"] }))).status, 200);
    const noRoles = await read(await signJwt(key, claims));
    assert.equal(noRoles.status, 404, "nothing is granted to a caller without roles");
    const expired = await read(
      await signJwt(key, { ...claims, roles: ["model"], exp: now - 3600 }),
    );
    assert.equal(expired.status, 401);
    assert.match(expired.json.error.message, /^Invalid token: expired at /);
    const wrongAud = await read(await signJwt(key, { ...claims, aud: "x", roles: ["model"] }));
    assert.equal(wrongAud.status, 401);
  } finally {
    await server.close();
    await jwks.close();
  }
});

Deno.test("feature_server.feature_services limits what the deployment serves (404)", async () => {
  const server = await startServer({
    yaml: "feature_server:\n  feature_services: [driver_ratings]\n",
  });
  try {
    const service = await server.request("POST", "/get-online-features", {
      body: { feature_service: "driver_activity", entities: { driver_id: [1] } },
    });
    assert.equal(service.status, 404);
    assert.equal(
      service.json.error.message,
      'Feature service "driver_activity" is not served by this deployment: it serves feature services "driver_ratings"',
    );
    const feature = await server.request("POST", "/get-online-features", { body: READ });
    assert.equal(feature.status, 404);
    assert.match(
      feature.json.error.message,
      /^Feature "driver_hourly_stats:conv_rate" is not served/,
    );
    const served = await server.request("POST", "/get-online-features", {
      body: { features: ["driver_trips:rating"], entities: { driver_id: [1] } },
    });
    assert.equal(served.status, 200, served.text);
    const viaService = await server.request("POST", "/get-online-features", {
      body: { feature_service: "driver_ratings", entities: { driver_id: [1] } },
    });
    assert.equal(viaService.status, 200);
    const services = await server.request("GET", "/registry/feature-services");
    assert.deepEqual(services.json.feature_services.map((s: { name: string }) => s.name), [
      "driver_ratings",
    ]);
    const views = await server.request("GET", "/registry/feature-views");
    assert.deepEqual(views.json.feature_views.map((s: { name: string }) => s.name), [
      "driver_trips",
    ]);
    const push = await server.request("POST", "/push", { body: PUSH });
    assert.equal(push.status, 422);
    assert.equal(
      push.json.error.message,
      'Push source "driver_stats_push" feeds no feature view served by this deployment',
    );
    const mat = await server.request("POST", "/materialize", {
      body: { start_ts: "2024-01-01", end_ts: "2024-01-02" },
    });
    assert.deepEqual(mat.json.feature_views.map((v: { name: string }) => v.name), ["driver_trips"]);
  } finally {
    await server.close();
  }
});

/**
 * SERVER_FEATURES_ON_DEMAND, plus a pass-through on-demand view "relay" (conv = conv_rate),
 * a service "relayed" over it, and one role per rule.
 */
const ON_DEMAND_PERMISSIONS = SERVER_FEATURES_ON_DEMAND.replace(
  "import { entity, featureService, featureView, fileSource, onDemandFeatureView, pushSource, requestSource }",
  "import { entity, featureService, featureView, fileSource, onDemandFeatureView, permission, pushSource, requestSource }",
) + `
export const relay = onDemandFeatureView({
  name: "relay",
  sources: [stats],
  schema: { conv: "float32" },
  transform: (c) => ({ conv: c.conv_rate }),
});
export const relayed = featureService({ name: "relayed", features: [relay] });
export const onDemandOnly = permission({
  name: "on_demand_only",
  types: ["onDemandFeatureView"],
  actions: ["READ_ONLINE"],
  roles: ["od", "od_full"],
});
export const statsToo = permission({
  name: "stats_too",
  types: ["featureView"],
  namePatterns: ["driver_hourly_stats"],
  actions: ["READ_ONLINE"],
  roles: ["od_full"],
});
export const services = permission({
  name: "services",
  types: ["featureService"],
  actions: ["READ_ONLINE"],
  roles: ["svc"],
});
export const describer = permission({
  name: "describer",
  types: ["entity", "dataSource", "featureView", "onDemandFeatureView", "featureService"],
  actions: ["DESCRIBE"],
  roles: ["describer"],
});
export const sources = permission({
  name: "sources",
  types: ["dataSource"],
  actions: ["DESCRIBE"],
  roles: ["sources"],
});
export const outsider = permission({
  name: "outsider",
  types: ["featureView"],
  namePatterns: ["driver_trips"],
  actions: ["READ_ONLINE", "DESCRIBE"],
  roles: ["outsider"],
});
`;

async function roleTokens(roles: string[]) {
  return new TokenVerifier(
    await Promise.all(
      roles.map(async (role) => ({
        name: role,
        sha256: await hashToken(`${role}-key`),
        roles: [role],
      })),
    ),
  );
}

const ROLES = ["od", "od_full", "svc", "describer", "sources", "outsider"];
const ENTITIES = { driver_id: [1001], k: [2] };

Deno.test("reading an on-demand view needs READ_ONLINE on every view it reads", async (t) => {
  const server = await startServer({
    features: ON_DEMAND_PERMISSIONS,
    auth: await roleTokens(ROLES),
  });
  const read = (role: string, body: Record<string, unknown>) =>
    server.request("POST", "/get-online-features", {
      body: { entities: ENTITIES, ...body },
      headers: auth(`${role}-key`),
    });
  try {
    const write = await server.request("POST", "/write-to-online-store", {
      body: { feature_view_name: "driver_hourly_stats", df: statsRows([1001], undefined, 0.25) },
      headers: auth("od_full-key"),
    });
    assert.equal(write.status, 403, "od_full may not write");
    await server.store.writeToOnlineStore(
      "driver_hourly_stats",
      statsRows([1001], undefined, 0.25),
    );

    await t.step("on-demand view alone: 403, not its source's values", async () => {
      const res = await read("od", { features: ["relay:conv"] });
      assert.equal(res.status, 403, res.text);
      assert.deepEqual(res.json.error, {
        code: "FORBIDDEN",
        message:
          'Cannot READ_ONLINE on-demand feature view "relay": no permission grants READ_ONLINE on a feature view it reads to roles "od"',
        details: {
          action: "READ_ONLINE",
          resourceType: "onDemandFeatureView",
          resource: "relay",
          subject: "od",
          roles: ["od"],
        },
      });
      const scaled = await read("od", { features: ["scaled:x"] });
      assert.equal(scaled.status, 403);
      // The source view itself: no permission covers it, so to this role it does not exist.
      const direct = await read("od", { features: ["driver_hourly_stats:conv_rate"] });
      assert.equal(direct.status, 404);
    });
    await t.step("with the source view too: 200 (request sources need nothing)", async () => {
      const relay = await read("od_full", { features: ["relay:conv"] });
      assert.equal(relay.status, 200, relay.text);
      assert.deepEqual(relay.json.results[1].values, [0.25]);
      const scaled = await read("od_full", { features: ["scaled:x", "relay:conv"] });
      assert.equal(scaled.status, 200, scaled.text);
      assert.deepEqual(scaled.json.results[1].values, [0.5]);
    });
    await t.step("a feature service grants what it holds, on-demand inputs included", async () => {
      const res = await read("svc", { feature_service: "relayed" });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json.results[1].values, [0.25]);
      assert.equal((await read("svc", { features: ["relay:conv"] })).status, 404);
    });
    await t.step(
      "a push source's views are not named to a caller who may not know them",
      async () => {
        const res = await server.request("POST", "/push", {
          body: { push_source_name: "driver_stats_push", df: statsRows([1001]) },
          headers: auth("sources-key"),
        });
        assert.equal(res.status, 403, res.text);
        assert.equal(
          res.json.error.message,
          'Cannot WRITE_ONLINE data source "driver_stats_push": no permission grants WRITE_ONLINE on a feature view it feeds to roles "sources"',
        );
        const file = await server.request("POST", "/push", {
          body: { push_source_name: "driver_trips_source", df: statsRows([1001]) },
          headers: auth("sources-key"),
        });
        assert.equal(file.status, 422);
        assert.equal(
          file.json.error.message,
          'Data source "driver_trips_source" is a file source, not a push source: push sources are "driver_stats_push"',
        );
      },
    );
    await t.step("may DESCRIBE but not read: 403 naming the object", async () => {
      const res = await read("describer", { features: ["relay:conv"] });
      assert.equal(res.status, 403);
      assert.equal(
        res.json.error.message,
        'Cannot READ_ONLINE on-demand feature view "relay": no permission grants it to roles "describer"',
      );
      const view = await read("describer", { features: ["driver_hourly_stats:conv_rate"] });
      assert.equal(view.status, 403);
      assert.equal(view.json.error.details.resource, "driver_hourly_stats");
    });
  } finally {
    await server.close();
  }
});

Deno.test("a name hidden from the caller gets the answer of a name that does not exist", async (t) => {
  const server = await startServer({
    features: ON_DEMAND_PERMISSIONS,
    auth: await roleTokens(ROLES),
  });
  const RANGE = { start_ts: "2024-01-01", end_ts: "2024-01-02" };
  // [method, path, body] for a name; each is sent for a hidden object and an unknown name.
  const requests: [string, (name: string) => [string, string, unknown?]][] = [
    ["registry feature view", (n) => ["GET", `/registry/feature-views/${n}`]],
    ["registry feature service", (n) => ["GET", `/registry/feature-services/${n}`]],
    ["registry entity", (n) => ["GET", `/registry/entities/${n}`]],
    ["registry data source", (n) => ["GET", `/registry/data-sources/${n}`]],
    ["read by service", (n) => ["POST", "/get-online-features", {
      feature_service: n,
      entities: ENTITIES,
    }]],
    ["read by reference", (n) => ["POST", "/get-online-features", {
      features: ["driver_trips:rating", `${n}:conv_rate`],
      entities: ENTITIES,
    }]],
    ["read by reference to an on-demand view", (n) => ["POST", "/get-online-features", {
      features: [`${n}:conv`, "driver_trips:rating"],
      entities: ENTITIES,
    }]],
    ["push", (n) => ["POST", "/push", { push_source_name: n, df: statsRows([1001]) }]],
    ["push to a file source", (n) => ["POST", "/push", {
      push_source_name: n,
      df: statsRows([1001]),
    }]],
    ["write", (n) => ["POST", "/write-to-online-store", {
      feature_view_name: n,
      df: statsRows([1001]),
    }]],
    ["materialize", (n) => ["POST", "/materialize", { ...RANGE, feature_views: [n] }]],
    ["materialize-incremental", (n) => ["POST", "/materialize-incremental", {
      end_ts: RANGE.end_ts,
      feature_views: [n],
    }]],
  ];
  const hidden: Record<string, string> = {
    "registry feature view": "driver_hourly_stats",
    "registry feature service": "driver_activity",
    "registry entity": "driver",
    "registry data source": "driver_stats_source",
    "read by service": "driver_activity",
    "read by reference": "driver_hourly_stats",
    "read by reference to an on-demand view": "relay",
    push: "driver_stats_push",
    "push to a file source": "driver_trips_source",
    write: "driver_hourly_stats",
    materialize: "driver_hourly_stats",
    "materialize-incremental": "driver_hourly_stats",
  };
  const send = async (role: string, [method, path, body]: [string, string, unknown?]) => {
    const res = await server.request(method, path, {
      headers: auth(`${role}-key`),
      ...(body !== undefined ? { body } : {}),
    });
    return res;
  };
  try {
    for (const [what, request] of requests) {
      await t.step(what, async () => {
        const name = hidden[what]!;
        const a = await send("outsider", request(name));
        const b = await send("outsider", request("no_such_name"));
        // An unknown push source is a 422, as Feast answers it; a hidden one the same.
        const status = what.startsWith("push") ? 422 : 404;
        assert.equal(a.status, status, a.text);
        assert.equal(b.status, status, b.text);
        // Byte for byte, but for the name asked for.
        assert.equal(b.text.replaceAll("no_such_name", name), a.text);
        // Lists name only what the caller may describe.
        assert.doesNotMatch(
          a.text.replaceAll(name, "NAME"),
          /driver_hourly_stats|driver_activity|driver_stats|relay|scaled|driver\b/,
        );
      });
    }
    await t.step("the 404's list holds what the caller may describe", async () => {
      const res = await send("outsider", ["GET", "/registry/feature-views/no_such_name"]);
      assert.equal(
        res.json.error.message,
        'Cannot find feature view "no_such_name": the registry has "driver_trips"',
      );
    });
  } finally {
    await server.close();
  }
});

Deno.test("not served by this deployment: hidden names get the unknown-name answer", async () => {
  const server = await startServer({
    features: ON_DEMAND_PERMISSIONS,
    auth: await roleTokens(ROLES),
    yaml: "feature_server:\n  feature_services: [driver_ratings]\n",
  });
  const read = (role: string, body: Record<string, unknown>) =>
    server.request("POST", "/get-online-features", {
      body: { entities: ENTITIES, ...body },
      headers: auth(`${role}-key`),
    });
  try {
    const hidden = await read("outsider", { feature_service: "driver_activity" });
    const unknown = await read("outsider", { feature_service: "no_such_name" });
    assert.equal(hidden.status, 404);
    assert.equal(unknown.text.replaceAll("no_such_name", "driver_activity"), hidden.text);
    assert.equal(
      hidden.json.error.message,
      'Cannot find feature service "driver_activity": the registry has none',
    );
    const described = await read("describer", { feature_service: "driver_activity" });
    assert.equal(described.status, 404);
    assert.deepEqual(described.json.error, {
      code: "NOT_FOUND",
      message:
        'Feature service "driver_activity" is not served by this deployment: it serves feature services "driver_ratings"',
      details: { servedFeatureServices: ["driver_ratings"] },
    });
    const pair = await read("outsider", { features: ["driver_hourly_stats:conv_rate"] });
    assert.deepEqual(pair.json.error, {
      code: "NOT_FOUND",
      message:
        'Feature "driver_hourly_stats:conv_rate" is not served by this deployment: it serves feature services none',
      details: { servedFeatureServices: [] },
    });
  } finally {
    await server.close();
  }
});

Deno.test("cached request shapes never carry one caller's permissions to another", async () => {
  const server = await startServer({
    features: ON_DEMAND_PERMISSIONS,
    auth: await roleTokens(ROLES),
  });
  const read = (role: string, features: string[]) =>
    server.request("POST", "/get-online-features", {
      body: { features, entities: ENTITIES },
      headers: auth(`${role}-key`),
    });
  try {
    // Allowed first (the shape is cached), then denied; and the other way round.
    assert.equal((await read("od_full", ["relay:conv"])).status, 200);
    assert.equal((await read("od", ["relay:conv"])).status, 403);
    assert.equal((await read("outsider", ["relay:conv"])).status, 404);
    assert.equal((await read("od_full", ["relay:conv"])).status, 200);
    assert.equal((await read("outsider", ["driver_trips:rating", "scaled:x"])).status, 404);
    assert.equal((await read("od_full", ["driver_trips:rating", "scaled:x"])).status, 404);
    assert.equal((await read("outsider", ["driver_trips:rating"])).status, 200);
    assert.equal((await read("od_full", ["driver_trips:rating"])).status, 404);
  } finally {
    await server.close();
  }
});
