/**
 * `server/workers.ts` on a real edge runtime: a repo with the registry and the online store in
 * Redis (over HTTP, through the real bridge to a real `redis-server`), built with
 * `buildWorker` and served by `workerd serve`, answers the same requests as the Deno server
 * built from the same repo, with the same bodies.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore } from "../../engine/mod.ts";
import { createApp, depsFromFeatureStore } from "../../server/mod.ts";
import { startBridge } from "../../server/redis_http/bridge.ts";
import { buildWorker } from "../../server/workers_build.ts";
import { freePort, skipWithoutRedis, startRedisServer } from "../support/redis_server.ts";
import { tempRepo } from "../support/repo.ts";
import { startWorkerd, workerdUnavailable } from "../support/workerd.ts";
import { SERVER_FEATURES_ON_DEMAND, statsRows } from "./_harness.ts";

const TOKEN = "workerd-test-token";
const YAML = `project: workerd_project
registry:
  type: redis
  url: \${REDIS_URL}
  token: \${REDIS_TOKEN}
  cache_ttl_seconds: 1
online_store:
  type: redis
  url: \${REDIS_URL}
  token: \${REDIS_TOKEN}
`;

const unavailable = await workerdUnavailable();
if (unavailable !== undefined) {
  console.warn(
    `\n!!! SKIPPING tests/server/workerd_test.ts: the workerd binary cannot run: ${unavailable}\n`,
  );
}

interface Answer {
  readonly status: number;
  readonly type: string | null;
  readonly body: string;
}

async function answer(res: Response): Promise<Answer> {
  return { status: res.status, type: res.headers.get("content-type"), body: await res.text() };
}

/** The requests both servers answer, as [path, body] (no body: a GET). */
const REQUESTS: readonly (readonly [string, unknown?])[] = [
  ["/get-online-features", {
    features: ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"],
    entities: { driver_id: [1001, 1002, 1003] },
  }],
  ["/get-online-features", {
    feature_service: "driver_activity",
    entities: { driver_id: [1001, 1003] },
    full_feature_names: true,
  }],
  ["/get-online-features", {
    features: ["scaled:x", "driver_hourly_stats:conv_rate"],
    entities: { driver_id: [1001, 1002], k: [2, 10] },
  }],
  ["/get-online-features", {
    features: ["driver_hourly_stats:no_such_feature"],
    entities: { driver_id: [1001] },
  }],
  ["/get-online-features", { feature_service: "no_such_service", entities: { driver_id: [1] } }],
  ["/list-feature-views"],
];

Deno.test({
  name: "workerd serves the built Worker's online answers as the Deno server does",
  ignore: unavailable !== undefined || skipWithoutRedis("tests/server/workerd_test.ts"),
  async fn() {
    const redis = await startRedisServer();
    const bridge = await startBridge({ port: 0, redisUrl: redis.url, token: TOKEN });
    const repo = await tempRepo({ "larder.yaml": YAML, "features.ts": SERVER_FEATURES_ON_DEMAND });
    const vars: Record<string, string> = { REDIS_URL: bridge.url, REDIS_TOKEN: TOKEN };
    const env = (name: string) => vars[name];
    const store = await FeatureStore.open({ repo: repo.dir, env });
    let workerd: Awaited<ReturnType<typeof startWorkerd>> | undefined;
    let wired: Awaited<ReturnType<typeof depsFromFeatureStore>> | undefined;
    try {
      await store.apply({ skipSourceValidation: true });
      await store.writeToOnlineStore("driver_hourly_stats", statsRows([1001, 1002]));
      wired = await depsFromFeatureStore(store, { logError: () => {} });
      const app = createApp(wired.deps);

      const built = await buildWorker({ repo: repo.dir, out: join(repo.dir, "dist") });
      assert.deepEqual(built.variables, [
        "REDIS_TOKEN",
        "REDIS_URL",
        "UPSTASH_REDIS_REST_TOKEN",
        "UPSTASH_REDIS_REST_URL",
      ]);
      workerd = await startWorkerd(built.capnp, { port: freePort(), env: vars });
      const fromWorker = (path: string, init?: RequestInit) =>
        fetch(`${workerd!.url}${path}`, init).then(answer);
      const fromDeno = (path: string, init?: RequestInit) =>
        Promise.resolve(app.request(`http://deno${path}`, init)).then(answer);

      const init = (body?: unknown): RequestInit =>
        body === undefined ? {} : {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        };
      for (const [path, body] of REQUESTS) {
        const [worker, deno] = [
          await fromWorker(path, init(body)),
          await fromDeno(path, init(body)),
        ];
        assert.deepEqual(worker, deno, `${path} ${JSON.stringify(body)}\n${workerd.output()}`);
      }
      // The answers are the real ones, not two equal failures.
      const read = JSON.parse((await fromWorker(...[REQUESTS[2]![0], init(REQUESTS[2]![1])])).body);
      assert.deepEqual(read.results[1].values, [1, 6]);
      assert.equal((await fromWorker(REQUESTS[3]![0], init(REQUESTS[3]![1]))).status, 404);

      // A push through the Worker is read back by the Deno server.
      const push = await fromWorker(
        "/push",
        init({
          push_source_name: "driver_stats_push",
          df: statsRows([1003], undefined, 0.75),
          to: "online",
        }),
      );
      assert.equal(push.status, 200, push.body);
      const after = await fromDeno(...[REQUESTS[0]![0], init(REQUESTS[0]![1])] as const);
      assert.deepEqual(JSON.parse(after.body).results[1].values, [0.5, 0.6, 0.75]);
      assert.deepEqual(
        await fromWorker(REQUESTS[0]![0], init(REQUESTS[0]![1])),
        after,
      );

      // What the bundle leaves out is named, not a module-resolution failure (500).
      const materialize = await fromWorker(
        "/materialize",
        init({
          feature_views: ["driver_hourly_stats"],
          start_ts: "2026-01-01T00:00:00Z",
          end_ts: "2026-01-02T00:00:00Z",
        }),
      );
      assert.equal(materialize.status, 503, materialize.body);
      assert.match(materialize.body, /Materialization is not part of this deployment/);

      // /health: the same checks; the registry's age differs by when each read it.
      const [wh, dh] = [await fromWorker("/health"), await fromDeno("/health")];
      assert.equal(wh.status, 200, wh.body);
      const strip = (a: Answer) => {
        const json = JSON.parse(a.body);
        delete json.registry?.age_seconds;
        return { ...a, body: json };
      };
      assert.deepEqual(strip(wh), strip(dh));

      // An apply reaches the running Worker: a request finding the registry older than
      // cache_ttl_seconds re-reads it in the background.
      await repo.write(
        "more.ts",
        `import { featureService } from "larder";\nimport { trips } from "./features.ts";\n` +
          `export const more = featureService({ name: "more", features: [trips] });\n`,
      );
      const again = await FeatureStore.open({ repo: repo.dir, env });
      try {
        assert.equal((await again.apply({ skipSourceValidation: true })).version, 2);
      } finally {
        await again.close();
      }
      await new Promise((r) => setTimeout(r, 1100));
      // Online reads take the registry from memory (a /health check would read it).
      const more = init({ feature_service: "more", entities: { driver_id: [1001] } });
      let status = 0;
      for (let i = 0; i < 40 && status !== 200; i++) {
        status = (await fromWorker("/get-online-features", more)).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(status, 200, workerd.output());
    } finally {
      await workerd?.stop();
      wired?.close();
      await store.close();
      await bridge.close();
      await redis.stop();
      await repo.remove();
    }
  },
});

Deno.test({
  name: "workerd answers 503 and logs the reason while the Worker's settings are incomplete",
  ignore: unavailable !== undefined,
  async fn() {
    const repo = await tempRepo({ "larder.yaml": YAML, "features.ts": SERVER_FEATURES_ON_DEMAND });
    let workerd: Awaited<ReturnType<typeof startWorkerd>> | undefined;
    try {
      const built = await buildWorker({ repo: repo.dir, out: join(repo.dir, "dist") });
      // REDIS_TOKEN is not set in workerd's environment.
      workerd = await startWorkerd(built.capnp, {
        port: freePort(),
        env: { REDIS_URL: "http://127.0.0.1:9" },
      });
      const res = await fetch(`${workerd.url}/health`);
      assert.equal(res.status, 503);
      assert.equal((await res.json()).error.code, "UNAVAILABLE");
      await new Promise((r) => setTimeout(r, 100));
      assert.match(
        workerd.output(),
        /larder workers: LARDER_CONFIG: registry\.token: environment variable "REDIS_TOKEN" is not set/,
      );
    } finally {
      await workerd?.stop();
      await repo.remove();
    }
  },
});
