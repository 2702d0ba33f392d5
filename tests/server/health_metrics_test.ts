/**
 * What `/health` and `/metrics` show, and to whom: bounded metric series whatever callers send,
 * no internals in unauthenticated health answers, `feature_server.metrics: authenticated`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { hashToken, TokenVerifier } from "../../server/mod.ts";
import { startBridge } from "../../server/redis_http/bridge.ts";
import { prng } from "../support/prng.ts";
import { skipWithoutRedis, startRedisServer } from "../support/redis_server.ts";
import { startServer } from "./_harness.ts";

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

async function tokens(): Promise<TokenVerifier> {
  return new TokenVerifier([{ name: "ops", sha256: await hashToken("ops-key"), roles: [] }]);
}

/** Series of one metric family in a rendering (one line per label set). */
function series(text: string, name: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(`${name}{`));
}

Deno.test("GET /metrics keeps a bounded number of series for random methods and paths", async () => {
  const server = await startServer();
  try {
    const random = prng(4);
    const word = (n: number) =>
      Array.from({ length: n }, () => "abcdefghijklmnopqrstuvwxyz"[Math.floor(random() * 26)])
        .join("");
    const methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];
    for (let i = 0; i < 3000; i++) {
      const method = random() < 0.5
        ? methods[Math.floor(random() * methods.length)]!
        : `X${word(8).toUpperCase()}`;
      const path = [
        `/${word(6)}/${word(4)}`,
        `/registry/entities/${word(10)}`,
        `/registry/feature-views/${word(10)}`,
        `/health?${word(5)}=${word(5)}`,
        `/get-online-features/${word(3)}`,
      ][i % 5]!;
      const res = await server.app.request(path, { method });
      await res.body?.cancel();
    }
    const text = (await server.request("GET", "/metrics")).text;
    const requests = series(text, "larder_http_requests_total");
    // 8 method labels × a handful of routes × a handful of statuses, not thousands.
    assert.ok(requests.length <= 60, `${requests.length} request series`);
    assert.ok(requests.some((l) => l.includes('method="other"')));
    assert.ok(!requests.some((l) => /method="X[A-Z]/.test(l)), "no random method as a label");
    assert.ok(!requests.some((l) => /route="\/(?!registry|health|get-online)/.test(l)));
    const routes = new Set(
      series(text, "larder_http_request_duration_seconds_count").map((l) => l.split("}")[0]),
    );
    assert.ok(routes.size <= 10, [...routes].join(", "));
    assert.ok(series(text, "larder_http_errors_total").length <= 10);
  } finally {
    await server.close();
  }
});

Deno.test("feature_server.metrics: authenticated asks /metrics for credentials when auth is on", async () => {
  const server = await startServer({
    auth: await tokens(),
    yaml: "feature_server:\n  metrics: authenticated\n",
  });
  const open = await startServer({ auth: await tokens() });
  try {
    const anonymous = await server.request("GET", "/metrics");
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.json.error.code, "UNAUTHENTICATED");
    assert.equal((await server.request("GET", "/metrics", { headers: auth("bad") })).status, 401);
    const ops = await server.request("GET", "/metrics", { headers: auth("ops-key") });
    assert.equal(ops.status, 200);
    assert.match(ops.text, /larder_http_requests_total/);
    assert.equal((await open.request("GET", "/metrics")).status, 200, "public by default");
  } finally {
    await server.close();
    await open.close();
  }
});

Deno.test("GET /health shows unauthenticated callers which component fails, never paths or URLs", async () => {
  for (const withAuth of [false, true]) {
    const server = await startServer(withAuth ? { auth: await tokens() } : {});
    try {
      const registryFile = join(server.repo.dir, "data/registry.json");
      const saved = await Deno.readTextFile(registryFile);
      await Deno.writeTextFile(registryFile, "{ not json");
      const online = await server.store.onlineStore();
      await online.close();
      const callers: Record<string, string>[] = [{}, auth("wrong-key")];
      if (!withAuth) callers.push(auth("ops-key"));
      for (const headers of callers) {
        const res = await server.request("GET", "/health", { headers });
        assert.equal(res.status, 503);
        assert.deepEqual(res.json, {
          error: {
            code: "UNAVAILABLE",
            message: "Unhealthy: the registry cannot be read; the online store does not answer",
            details: { registry: { ok: false }, online_store: { ok: false } },
          },
        });
        assert.ok(!res.text.includes(server.repo.dir), res.text);
      }
      if (withAuth) {
        const ops = await server.request("GET", "/health", { headers: auth("ops-key") });
        assert.equal(ops.status, 503);
        assert.match(
          ops.json.error.message,
          /^Unhealthy: the registry cannot be read \(Cannot read the registry .*registry\.json.*: not valid JSON\); the online store does not answer \(.*online\.sqlite/,
        );
        assert.ok(ops.json.error.details.registry.error.includes(registryFile));
        assert.ok(ops.json.error.details.online_store.error.includes(server.repo.dir));
      }
      await Deno.writeTextFile(registryFile, saved);
    } finally {
      await server.close().catch(() => {});
    }
  }
});

Deno.test("GET /health answers ok with the version served to everyone", async () => {
  const server = await startServer({ auth: await tokens() });
  try {
    const expected = {
      status: "ok",
      registry: { ok: true, version: 1 },
      online_store: { ok: true },
    };
    assert.deepEqual((await server.request("GET", "/health")).json, expected);
    const ops = await server.request("GET", "/health", { headers: auth("ops-key") });
    assert.deepEqual(ops.json, expected);
  } finally {
    await server.close();
  }
});

Deno.test({
  name: "GET /health is 200 degraded while the registry went back (Redis restarted empty)",
  ignore: skipWithoutRedis("tests/server/health_metrics_test.ts"),
  async fn() {
    const redis = await startRedisServer();
    const bridge = await startBridge({ port: 0, redisUrl: redis.url, token: "t" });
    const logged: unknown[] = [];
    const server = await startServer({
      auth: await tokens(),
      yaml: `registry:\n  type: redis\n  url: ${bridge.url}\n  token: t\n`,
      logError: (err) => logged.push(err),
    });
    try {
      // Polls (the bridge reconnects after a restart) until the status is `status`.
      const health = async (status: string, headers: Record<string, string> = {}) => {
        for (let i = 0;; i++) {
          const res = await server.request("GET", "/health", { headers });
          if (res.json.status === status || i > 200) return res;
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      assert.equal((await health("ok")).status, 200);
      await redis.restart(); // no persistence: the registry is gone
      const res = await health("degraded");
      assert.equal(res.status, 200, "still serving correctly: load balancers keep it");
      assert.deepEqual(res.json, {
        status: "degraded",
        registry: { ok: false, version: 1 },
        online_store: { ok: true },
      });
      const ops = await health("degraded", auth("ops-key"));
      assert.match(
        ops.json.registry.error,
        /^The registry went from version 1 to 0: it may have been reset or restored from an older copy; serving version 1 /,
      );
      assert.ok(logged.some((e) => String(e).includes("went from version 1 to 0")), "logged");
      const views = await server.request("GET", "/registry/feature-views", {
        headers: auth("ops-key"),
      });
      assert.equal(views.status, 200, "reads are served from the last good version");
      assert.equal(views.json.feature_views.length, 2);
      const metrics = await server.request("GET", "/metrics");
      assert.match(metrics.text, /^larder_registry_regressed 1$/m);
      assert.match(metrics.text, /^larder_registry_version 1$/m);
      // Applied again: version 1 is the served version, so the server follows it again.
      await server.store.apply({ skipSourceValidation: true });
      assert.equal((await health("ok")).json.status, "ok");
      assert.match(
        (await server.request("GET", "/metrics")).text,
        /^larder_registry_regressed 0$/m,
      );
    } finally {
      await server.close();
      await bridge.close();
      await redis.stop();
    }
  },
});

Deno.test("GET /health logs an online store failure once, with its reason", async () => {
  const logged: unknown[] = [];
  const server = await startServer({ logError: (err) => logged.push(err) });
  try {
    await (await server.store.onlineStore()).close();
    for (let i = 0; i < 3; i++) {
      assert.equal((await server.request("GET", "/health")).status, 503);
    }
    assert.equal(logged.length, 1);
    assert.match(
      String(logged[0]),
      /Unhealthy: the online store does not answer \(Cannot read from the online store \(sqlite .*online\.sqlite\)/,
    );
  } finally {
    await server.close().catch(() => {});
  }
});
