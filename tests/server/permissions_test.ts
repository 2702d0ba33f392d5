import assert from "node:assert/strict";
import { hashToken, OidcVerifier, TokenVerifier } from "../../server/mod.ts";
import { SERVER_FEATURES, startServer, statsRows } from "./_harness.ts";
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
      const res = await call("POST", "/push", "model-key", PUSH);
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
      const trips = await call("POST", "/get-online-features", "ml-key", {
        features: ["driver_trips:rating"],
        entities: { driver_id: [1001] },
      });
      assert.equal(trips.status, 403);
      assert.match(trips.json.error.message, /READ_ONLINE feature view "driver_trips"/);
    });
    await t.step("deny by default: nothing grants a caller without roles", async () => {
      const res = await call("POST", "/get-online-features", "nobody-key", READ);
      assert.equal(res.status, 403);
      assert.match(res.json.error.message, /no permission grants it to a caller without roles/);
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
      assert.equal(one.status, 403);
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
    assert.equal(noRoles.status, 403);
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
