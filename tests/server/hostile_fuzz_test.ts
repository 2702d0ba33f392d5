/**
 * A hostile caller against every endpoint, seeded so failures replay: random methods and
 * paths, names from `Object.prototype`, `__proto__` keys, numbers beyond 2^53, dates that do
 * not exist, garbage and forged credentials, and (on an OIDC server) an issuer whose key set
 * flips between good keys, malformed keys, errors and garbage. No answer may be a 5xx, every
 * error has the error shape, the issuer is not hammered, `/metrics` stays small, and the
 * server keeps serving.
 */
import assert from "node:assert/strict";
import { hashToken, OidcVerifier, TokenVerifier } from "../../server/mod.ts";
import { type Generator, generator } from "./_fuzz.ts";
import { SERVER_FEATURES_ON_DEMAND, startServer, statsRows, type TestServer } from "./_harness.ts";
import { generateKey, type JwksAnswer, serveJwks, signJwt } from "./_jwt.ts";

const SEED = Number(Deno.env.get("LARDER_FUZZ_SEED") ?? 20261202);
const CASES = Number(Deno.env.get("LARDER_HOSTILE_CASES") ?? 1200);

const FEATURES = SERVER_FEATURES_ON_DEMAND.replace(
  "import { entity, featureService, featureView, fileSource, onDemandFeatureView, pushSource, requestSource }",
  "import { entity, featureService, featureView, fileSource, onDemandFeatureView, permission, pushSource, requestSource }",
) + `
export const readers = permission({
  name: "readers",
  types: ["featureView", "featureService", "onDemandFeatureView"],
  namePatterns: ["driver_.*", "scaled"],
  actions: ["READ_ONLINE", "DESCRIBE"],
  roles: ["model"],
});
export const writers = permission({
  name: "writers",
  types: ["featureView", "dataSource"],
  actions: ["WRITE", "DESCRIBE"],
  roles: ["etl"],
});
`;

const PROTOTYPE_NAMES = [
  "constructor",
  "__proto__",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "isPrototypeOf",
  "__defineGetter__",
  "prototype",
];
const NAMES = [
  ...PROTOTYPE_NAMES,
  "driver_hourly_stats",
  "driver_trips",
  "scaled",
  "driver_activity",
  "driver_stats_push",
  "driver",
  "nope",
  "",
  "a".repeat(300),
  "%00",
  "..",
  "ключ",
];
const UNSAFE_NUMBERS = [
  "9007199254740993",
  "-9007199254740993",
  "9223372036854775807",
  "9223372036854775808",
  "-9223372036854775809",
  "1e20",
  "1e400",
  "-0",
  "1001.5",
  "0.1e1",
];
const BAD_DATES = [
  "2001-02-30T00:00:00Z",
  "2001-02-29",
  "2001-04-31",
  "2024-01-01T24:00:01Z",
  "2024-01-01T23:60:00Z",
  "2024-01-01T00:00:00+25:00",
  "2024-13-01",
  "99999-01-01",
  "2024-01-01T00:00:00.0000000001Z",
];
const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get", "PoSt"];
const KINDS = ["entities", "feature-views", "feature-services", "data-sources", "nope"];
const POSTS = [
  "/get-online-features",
  "/push",
  "/write-to-online-store",
  "/materialize",
  "/materialize-incremental",
];

interface Case {
  readonly label: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

/** A valid body for each POST endpoint, to be broken in one place. */
function validBody(path: string): Record<string, unknown> {
  switch (path) {
    case "/get-online-features":
      return { features: ["driver_hourly_stats:conv_rate"], entities: { driver_id: [1001] } };
    case "/push":
      return { push_source_name: "driver_stats_push", df: statsRows([1001]), to: "online" };
    case "/write-to-online-store":
      return { feature_view_name: "driver_hourly_stats", df: statsRows([1001]) };
    case "/materialize":
      return {
        start_ts: "2024-01-01T00:00:00Z",
        end_ts: "2024-01-02T00:00:00Z",
        feature_views: ["driver_trips"],
      };
    default:
      return { end_ts: "2024-01-02T00:00:00Z", feature_views: ["driver_trips"] };
  }
}

/** JSON text of a body with one hostile change (done on text where JSON values cannot say it). */
function hostileBody(g: Generator, path: string): string {
  const body = validBody(path);
  const name = g.pick(NAMES);
  switch (g.int(10)) {
    case 0: // a prototype name (or another odd one) wherever a name goes
      if ("features" in body) body.features = [`${name}:${g.pick(NAMES)}`];
      if ("push_source_name" in body) body.push_source_name = name;
      if ("feature_view_name" in body) body.feature_view_name = name;
      if ("feature_views" in body) body.feature_views = [name];
      return JSON.stringify(body);
    case 1: // a feature service by a prototype name
      return JSON.stringify({ feature_service: name, entities: { driver_id: [1001] } });
    case 2: { // an own "__proto__" (or prototype-named) key in the columns
      const text = JSON.stringify(body);
      const key = g.pick(["__proto__", "constructor", "toString"]);
      return text.replace(/"(entities|df)":\{/, `"$1":{"${key}":[1],`);
    }
    case 3: { // a number beyond 2^53 (or out of int64, or fractional) as a key or a value
      const n = g.pick(UNSAFE_NUMBERS);
      const text = JSON.stringify(body);
      const quoted = g.rand() < 0.3;
      const value = quoted ? `"${n}"` : n;
      return text.replace(/"driver_id":\[[^\]]*\]/, `"driver_id":[${value}]`)
        .replace(/"conv_rate":\[[^\],]*/, `"conv_rate":[${value}`);
    }
    case 4: { // a date that does not exist, in every time slot
      const date = g.pick(BAD_DATES);
      const text = JSON.stringify(body);
      return text.replaceAll(/"\d{4}-\d\d-\d\dT[^"]*"/g, `"${date}"`);
    }
    case 5: // top-level __proto__ and constructor keys
      return JSON.stringify(body).replace(/^\{/, `{"__proto__":{"admin":true},`);
    case 6: // a random value in a random field
      body[g.pick(Object.keys(body))] = g.value(3);
      return JSON.stringify(body);
    case 7: // a random JSON document
      return JSON.stringify(g.value(4));
    case 8: { // not JSON at all, or over the body limit
      const text = JSON.stringify(body);
      return g.rand() < 0.7
        ? text.slice(0, g.int(text.length - 1))
        : `{"x":"${"a".repeat(4 * 1024 * 1024 + 10)}"}`;
    }
    default: // the valid body itself
      return JSON.stringify(body);
  }
}

const API_LISTS = [
  "entities",
  "data_sources",
  "feature_views",
  "feature_services",
  "features",
  "permissions",
  "saved_datasets",
  "projects",
  "lineage/registry",
  "nope",
];
const QUERY_VALUES = [
  "test_project",
  "1",
  "0",
  "-1",
  "9007199254740993",
  "true",
  "x",
  "",
  "%00",
  ...PROTOTYPE_NAMES,
];
const QUERY_KEYS = [
  "project",
  "page",
  "limit",
  "sort_by",
  "sort_order",
  "include_relationships",
  "updated_since",
  "tags",
  "__proto__",
  "constructor",
];

/**
 * A path of Feast's registry REST API, with random query parameters (keys and values, names of
 * `Object.prototype` among them).
 */
function apiPath(g: Generator): string {
  const name = encodeURIComponent(g.pick(NAMES));
  const list = g.pick(API_LISTS);
  // A list sorted by a name of `Object.prototype`, the rest of the query valid so that the
  // sort runs (random parameters alone are mostly refused before it).
  if (g.rand() < 0.25) {
    const sort = `sort_by=${g.pick(PROTOTYPE_NAMES)}&sort_order=${g.pick(["asc", "desc"])}`;
    return `/api/v1/${list}${g.pick(["", "/all"])}?project=test_project&${sort}`;
  }
  const path = g.pick([
    `/api/v1/${list}`,
    `/api/v1/${list}/all`,
    `/api/v1/${list}/${name}`,
    `/api/v1/lineage/objects/${g.pick(["featureView", "entity", name])}/${name}`,
  ]);
  const params = Array.from(
    { length: g.int(4) },
    () => `${g.pick(QUERY_KEYS)}=${encodeURIComponent(g.pick(QUERY_VALUES))}`,
  );
  if (g.rand() < 0.7) params.push("project=test_project");
  return params.length === 0 ? path : `${path}?${params.join("&")}`;
}

function hostilePath(g: Generator): string {
  const name = encodeURIComponent(g.pick(NAMES));
  if (g.rand() < 0.2) return apiPath(g);
  switch (g.int(6)) {
    case 0:
      return `/registry/${g.pick(KINDS)}`;
    case 1:
    case 2:
      return `/registry/${g.pick(KINDS)}/${name}`;
    case 3:
      return g.pick(["/health", "/metrics", "/openapi.json", "/docs", "/ui/", "/ui/x.js"]);
    case 4:
      return g.pick([
        `/${name}`,
        `/${name}/${name}`,
        "/registry",
        "/registry/",
        "//health",
        "/health/",
        "/%2e%2e/etc/passwd",
        `/x?${name}=1`,
      ]);
    default:
      return g.pick(POSTS);
  }
}

/** Half the paths are the POST endpoints, the rest anything. */
function anyPath(g: Generator): string {
  return g.rand() < 0.5 ? g.pick(POSTS) : hostilePath(g);
}

function cases(seed: number, credentials: readonly string[]): Case[] {
  const g = generator(seed);
  const out: Case[] = [];
  for (let i = 0; i < CASES; i++) {
    const path = anyPath(g);
    const post = POSTS.includes(path);
    // The registry API answers GET only: its query parameters are fuzzed through GETs.
    const method = post && g.rand() < 0.8
      ? "POST"
      : path.startsWith("/api/v1/") && g.rand() < 0.7
      ? "GET"
      : g.rand() < 0.15
      ? `X${g.int(1e9).toString(36).toUpperCase()}`
      : g.pick(METHODS);
    const headers: Record<string, string> = {};
    // Half the requests carry the first credentials (valid ones), half any of them.
    const credential = g.rand() < 0.5 ? credentials[1 + g.int(2)]! : g.pick(credentials);
    if (credential !== "") headers.authorization = credential;
    if (g.rand() < 0.9) headers["content-type"] = "application/json";
    const withBody = method !== "GET" && method !== "HEAD" && method.toUpperCase() !== "GET" &&
      method.toUpperCase() !== "HEAD";
    out.push({
      label: `#${i} ${method} ${path} (seed ${seed})`,
      method,
      path,
      headers,
      ...(withBody ? { body: post ? hostileBody(g, path) : JSON.stringify(g.value(3)) } : {}),
    });
  }
  return out;
}

/** Sends every case; returns the ones that broke a rule, and how often each status came. */
async function send(
  server: TestServer,
  all: readonly Case[],
  statuses: Map<number, number> = new Map(),
): Promise<string[]> {
  const failures: string[] = [];
  for (const c of all) {
    let res: Response;
    try {
      res = await server.app.request(c.path, {
        method: c.method,
        headers: c.headers,
        ...(c.body !== undefined ? { body: c.body } : {}),
      });
    } catch (err) {
      failures.push(`${c.label}: threw ${err}`);
      continue;
    }
    const text = await res.text();
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    if (res.status >= 500) {
      failures.push(`${c.label}: ${res.status} ${text.slice(0, 300)}`);
      continue;
    }
    if (res.status >= 400 && c.method.toUpperCase() !== "HEAD") {
      let error: { code?: unknown; message?: unknown } | undefined;
      try {
        error = JSON.parse(text).error;
      } catch {
        // checked below
      }
      if (typeof error?.code !== "string" || typeof error.message !== "string") {
        failures.push(`${c.label}: ${res.status} without the error shape: ${text.slice(0, 200)}`);
      }
    }
  }
  return failures;
}

/** A valid read succeeds (within `waitMs`, for an issuer that must be refetched first). */
async function stillServing(
  server: TestServer,
  headers: Record<string, string>,
  waitMs = 0,
): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const read = await server.request("POST", "/get-online-features", {
      body: { features: ["driver_hourly_stats:conv_rate"], entities: { driver_id: [1001] } },
      headers,
    });
    if (read.status === 200) break;
    if (Date.now() > deadline) assert.fail(`no longer serving: ${read.status} ${read.text}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal((await server.request("GET", "/health")).status, 200);
  const metrics = await server.request("GET", "/metrics");
  const series = metrics.text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
  // Labels come from closed sets (route patterns, standard methods, statuses, error codes):
  // nothing a caller sent appears in them.
  assert.ok(series.length < 2000, `/metrics has ${series.length} series`);
  const labels = series.join("\n");
  assert.doesNotMatch(labels, /method="X|nope|constructor|__proto__|%2e/);
}

Deno.test("hostile requests to every endpoint (token auth) get no 5xx, and the server keeps serving", async () => {
  const verifier = new TokenVerifier([
    { name: "model", sha256: await hashToken("model-key"), roles: ["model"] },
    { name: "etl", sha256: await hashToken("etl-key"), roles: ["etl"] },
    { name: "nobody", sha256: await hashToken("nobody-key"), roles: [] },
  ]);
  const server = await startServer({ features: FEATURES, auth: verifier });
  try {
    const credentials = [
      "",
      "Bearer model-key",
      "Bearer etl-key",
      "Bearer nobody-key",
      "Bearer guess",
      "Bearer ",
      "Basic bW9kZWw6a2V5",
      "bearer model-key",
      `Bearer ${"x".repeat(10_000)}`,
      "Bearer \u00ff\u00fe",
    ];
    const statuses = new Map<number, number>();
    const failures = await send(server, cases(SEED, credentials), statuses);
    assert.deepEqual(failures, [], `${failures.length} of ${CASES} cases failed`);
    console.log("statuses:", Object.fromEntries([...statuses].sort()));
    // The cases reached every kind of answer: served, refused, forbidden, hidden, invalid.
    for (const status of [200, 400, 401, 403, 404, 413, 422]) {
      assert.ok(statuses.has(status), `no case answered ${status}`);
    }
    await stillServing(server, { authorization: "Bearer model-key" });
  } finally {
    await server.close();
  }
});

Deno.test("hostile tokens against an issuer whose keys break get no 5xx beyond the issuer's 503", async () => {
  const good = await generateKey("RS256", "good");
  const other = await generateKey("ES256", "other");
  const jwks = serveJwks([good]);
  // Each chunk of cases runs in its own rate-limit window: the clock jumps 6 s between them.
  let skew = 0;
  const verifier = new OidcVerifier({
    issuer: jwks.issuer,
    audience: "larder",
    jwksUrl: jwks.jwksUrl,
    clock: () => Date.now() + skew,
  });
  const server = await startServer({ features: FEATURES, auth: verifier });
  const claims = (over: Record<string, unknown> = {}) => ({
    iss: jwks.issuer,
    aud: "larder",
    sub: "fuzz",
    roles: ["model"],
    exp: Math.floor(Date.now() / 1000) + 3600,
    ...over,
  });
  try {
    const tokens = [
      await signJwt(good, claims()),
      await signJwt(good, claims(), { kid: "unknown" }),
      await signJwt(good, claims(), { kid: "constructor" }),
      await signJwt(good, claims(), { kid: "__proto__" }),
      await signJwt(good, claims({ exp: 1 })),
      await signJwt(good, claims({ aud: "someone-else" })),
      await signJwt(good, claims({ roles: { constructor: 1 } })),
      await signJwt(other, claims()),
      await signJwt(good, claims(), { alg: "none" }),
      await signJwt(good, claims(), { alg: "HS256" }),
      "a.b.c",
      "eyJhbGciOiJub25lIn0.e30.",
      "",
    ];
    const credentials = ["", ...tokens.map((t) => `Bearer ${t}`)];
    const all = cases(SEED + 1, credentials);
    const chunks = 6;
    const per = Math.ceil(all.length / chunks);
    const answers: JwksAnswer[] = ["keys", "http_500", "not_json", "keys", "keys", "http_500"];
    const started = performance.now();
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    for (let i = 0; i < chunks; i++) {
      // Between chunks the issuer changes what it publishes: good keys, malformed ones, errors.
      skew += 6_000;
      jwks.answer(answers[i]!);
      const malformed = { kty: "RSA", kid: "good", n: "AAAA", e: "AQAB", alg: "RS256" };
      jwks.setKeys(i === 3 ? [malformed, other] : i === 4 ? [{ kty: "EC", kid: "x" }] : [good]);
      const chunk = all.slice(i * per, (i + 1) * per);
      // While the issuer fails, an answer of 503 (its keys cannot be fetched) is expected;
      // everything else must still be below 500.
      const broken = await send(server, chunk, statuses);
      failures.push(
        ...broken.filter((f) => !(answers[i] !== "keys" && / 503 .*UNAVAILABLE/.test(f))),
      );
    }
    assert.deepEqual(failures, [], `${failures.length} of ${all.length} cases failed`);
    console.log("statuses:", Object.fromEntries([...statuses].sort()), "fetches:", jwks.fetches);
    for (const status of [200, 401, 403, 404, 422]) assert.ok(statuses.has(status), `no ${status}`);
    const seconds = (performance.now() - started) / 1000 + skew / 1000;
    // At most one fetch per 5 s window, however many unknown keys the tokens named.
    assert.ok(
      jwks.fetches <= Math.ceil(seconds / 5) + 1,
      `${jwks.fetches} JWKS fetches in ${seconds.toFixed(1)} s of the verifier's clock`,
    );
    jwks.answer("keys");
    jwks.setKeys([good]);
    skew += 6_000;
    await stillServing(server, { authorization: `Bearer ${tokens[0]}` }, 15_000);
  } finally {
    await server.close();
    await jwks.close();
  }
});
