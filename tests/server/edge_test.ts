/**
 * `server/edge.ts`, the Deno Deploy entry: its static module graph holds no DuckDB or
 * parquet-wasm, and it serves online reads with the registry and the online store in Redis
 * (over HTTP, through the real bridge to a real `redis-server`).
 */
import assert from "node:assert/strict";
import { FeatureStore } from "../../engine/mod.ts";
import { createEdgeHandler } from "../../server/edge.ts";
import { startBridge } from "../../server/redis_http/bridge.ts";
import { skipWithoutRedis, startRedisServer } from "../support/redis_server.ts";
import { tempRepo } from "../support/repo.ts";
import { SERVER_FEATURES, statsRows, writeStatsData } from "./_harness.ts";

interface InfoModule {
  readonly specifier: string;
  readonly dependencies?: readonly {
    readonly code?: { readonly specifier?: string };
    readonly isDynamic?: boolean;
  }[];
}

/** The modules `entry` loads before any dynamic `import()` runs. */
async function staticGraph(entry: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(out.code, 0, "deno info failed");
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: InfoModule[];
    redirects: Record<string, string>;
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const queue = [...info.roots];
  while (queue.length > 0) {
    let specifier = queue.pop()!;
    specifier = info.redirects[specifier] ?? specifier;
    if (seen.has(specifier)) continue;
    seen.add(specifier);
    for (const dep of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (!dep.isDynamic && dep.code?.specifier) queue.push(dep.code.specifier);
    }
  }
  return [...seen];
}

/** Runs `call`, keeping what it writes with `console.error` instead of printing it. */
async function withLog(
  call: () => Promise<Response>,
): Promise<{ res: Response; logged: unknown[] }> {
  const logged: unknown[] = [];
  const error = console.error;
  console.error = (...args: unknown[]) => void logged.push(...args);
  try {
    return { res: await call(), logged };
  } finally {
    console.error = error;
  }
}

Deno.test("server/edge.ts loads no DuckDB, parquet-wasm or apache-arrow module (only lazily)", async () => {
  const entry = new URL("../../server/edge.ts", import.meta.url).pathname;
  const modules = await staticGraph(entry);
  assert.ok(modules.some((m) => m.endsWith("/server/app.ts")), "the graph was walked");
  assert.ok(modules.some((m) => m.includes("hono")), "hono is in it");
  const heavy = modules.filter((m) =>
    /duckdb|parquet-wasm|parquet_wasm|apache-arrow|\/offline\/(mod|duckdb|parquet)\.ts/i.test(m)
  );
  assert.deepEqual(heavy, []);
  // Nor the web UI's bundle or its builder (main.ts alone passes the UI to the app).
  assert.deepEqual(
    modules.filter((m) => /ui_bundle\.ts|\/ui\/entry\.tsx|@feast-dev|puppeteer/.test(m)),
    [],
  );
  // The full graph (with dynamic imports) does reach them: the walk would notice.
  const main = new URL("../../engine/offline_factory.ts", import.meta.url).pathname;
  assert.ok((await staticGraph(main)).some((m) => /duckdb/i.test(m)));
});

const TOKEN = "edge-test-token";

Deno.test({
  name: "createEdgeHandler() serves online reads from the Redis registry and online store",
  ignore: skipWithoutRedis("tests/server/edge_test.ts"),
  async fn() {
    const redis = await startRedisServer();
    const bridge = await startBridge({ port: 0, redisUrl: redis.url, token: TOKEN });
    const yaml = `project: edge_project
registry:
  type: redis
  url: \${REDIS_URL}
  token: \${REDIS_TOKEN}
  cache_ttl_seconds: 60
online_store:
  type: redis
  url: \${REDIS_URL}
  token: \${REDIS_TOKEN}
`;
    const repo = await tempRepo({ "larder.yaml": yaml, "features.ts": SERVER_FEATURES });
    const env = (name: string) =>
      ({ REDIS_URL: bridge.url, REDIS_TOKEN: TOKEN } as Record<string, string>)[
        name
      ];
    try {
      await writeStatsData(repo.dir);
      const store = await FeatureStore.open({ repo: repo.dir, env });
      await store.apply({ skipSourceValidation: true });
      await store.close();

      const handler = createEdgeHandler({ repo: repo.dir, env });
      const post = async (path: string, body: unknown) => {
        const res = await handler(
          new Request(`http://edge${path}`, { method: "POST", body: JSON.stringify(body) }),
        );
        return { status: res.status, json: await res.json() };
      };
      const write = await post("/write-to-online-store", {
        feature_view_name: "driver_hourly_stats",
        df: statsRows([1001, 1002]),
      });
      assert.equal(write.status, 200, JSON.stringify(write.json));
      const read = await post("/get-online-features", {
        feature_service: "driver_activity",
        entities: { driver_id: [1001, 1003] },
      });
      assert.equal(read.status, 200, JSON.stringify(read.json));
      assert.equal(read.json.results[1].values[0], 0.5);
      assert.deepEqual(read.json.results[1].statuses, ["PRESENT", "NOT_FOUND"]);
      const health = await handler(new Request("http://edge/health"));
      assert.equal(health.status, 200);
      assert.equal((await health.json()).registry.version, 1);
    } finally {
      await bridge.close();
      await redis.stop();
      await repo.remove();
    }
  },
});

Deno.test("createEdgeHandler() answers 503 while the store cannot be opened", async () => {
  const repo = await tempRepo({
    "larder.yaml": "project: [broken\n",
    "features.ts": SERVER_FEATURES,
  });
  try {
    const handler = createEdgeHandler({ repo: repo.dir });
    const { res, logged } = await withLog(() => handler(new Request("http://edge/health")));
    assert.equal(res.status, 503);
    const body = await res.json();
    // The reason (here the YAML error, elsewhere paths and store URLs) is logged, not answered.
    assert.deepEqual(body.error, {
      code: "UNAVAILABLE",
      message: "The feature server cannot start: see its log",
      details: {},
    });
    assert.ok(!JSON.stringify(body).includes(repo.dir));
    assert.match(String(logged[0]), /^larder edge: larder\.yaml: /);
  } finally {
    await repo.remove();
  }
});

Deno.test("createEdgeHandler() refuses Redis over TCP in larder.yaml (503, the reason logged)", async () => {
  const repo = await tempRepo({
    "larder.yaml": "project: p\nonline_store:\n  type: redis\n  url: redis://:pw@127.0.0.1:1\n",
    "features.ts": SERVER_FEATURES,
  });
  try {
    const handler = createEdgeHandler({ repo: repo.dir, env: () => undefined });
    const { res, logged } = await withLog(() => handler(new Request("http://edge/health")));
    assert.equal(res.status, 503);
    await res.body?.cancel();
    assert.equal(
      String(logged[0]),
      'larder edge: larder.yaml: online_store.url: The edge entry reaches Redis over HTTP only (the Upstash REST protocol): use an https:// REST URL and token, got "redis://:***@127.0.0.1:1"',
    );
  } finally {
    await repo.remove();
  }
});

Deno.test("createEdgeHandler() reads the registry from the s3 backend (over fetch)", async () => {
  const { startS3Double } = await import("../support/s3_double.ts");
  const s3 = await startS3Double({ buckets: ["edge-registry"] });
  const yaml = `project: edge_s3
registry:
  type: s3
  path: s3://edge-registry/edge_s3/registry.json
online_store:
  type: deno_kv
  path: data/online.kv
object_store:
  endpoint: ${s3.endpoint}
  access_key_id: test
  secret_access_key: test
`;
  const repo = await tempRepo({ "larder.yaml": yaml, "features.ts": SERVER_FEATURES });
  try {
    const store = await FeatureStore.open({ repo: repo.dir, env: () => undefined });
    await store.apply({ skipSourceValidation: true });
    await store.close();
    const handler = createEdgeHandler({ repo: repo.dir, env: () => undefined });
    const health = await handler(new Request("http://edge/health"));
    assert.equal(health.status, 200);
    assert.equal((await health.json()).registry.version, 1);
    assert.ok((s3.requests.GET ?? 0) >= 1, "the registry was read from the object");
  } finally {
    await s3.stop();
    await repo.remove();
  }
});
