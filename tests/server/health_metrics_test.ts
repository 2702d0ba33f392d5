/**
 * What `/health` and `/metrics` show, and to whom: bounded metric series whatever callers send,
 * no internals in unauthenticated health answers, `feature_server.metrics: authenticated`.
 */
import assert from "node:assert/strict";
import { hashToken, TokenVerifier } from "../../server/mod.ts";
import { prng } from "../support/prng.ts";
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
