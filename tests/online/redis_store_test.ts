/**
 * What only the Redis online store promises, tested with the real `@upstash/redis` client
 * through the real bridge to a real `redis-server`: request sizes, the NOSCRIPT fallback, the
 * key layout, failures, and one HTTP request per online read at the SDK level.
 */
import assert from "node:assert/strict";
import { LarderConfigSchema } from "../../engine/config.ts";
import { createOnlineStore } from "../../engine/online_factory.ts";
import {
  createUpstashClient,
  getOnlineFeatures,
  RedisOnlineStore,
  writeOnline,
} from "../../engine/online/mod.ts";
import { startBridge } from "../../server/redis_http/bridge.ts";
import type { RunningBridge, StartBridgeOptions } from "../../server/redis_http/bridge.ts";
import { LarderError } from "../../registry/mod.ts";
import { freePort, skipWithoutRedis, startRedisServer } from "../support/redis_server.ts";
import type { RedisServer } from "../support/redis_server.ts";
import { countFetches } from "./_support.ts";
import { documentWith, entity, featureView, fileSource, t } from "./_fixtures.ts";

const TOKEN = "redis-store-test-token";
const IGNORE = skipWithoutRedis("tests/online/redis_store_test.ts");

function redisTest(
  name: string,
  fn: (h: { server: RedisServer; bridge: RunningBridge; store: RedisOnlineStore }) => Promise<void>,
  bridgeOptions: Partial<StartBridgeOptions> = {},
): void {
  Deno.test({
    name,
    ignore: IGNORE,
    async fn() {
      const server = await startRedisServer();
      const bridge = await startBridge({
        port: 0,
        redisUrl: server.url,
        token: TOKEN,
        ...bridgeOptions,
      });
      try {
        const store = new RedisOnlineStore({
          project: "p",
          url: bridge.url,
          token: TOKEN,
          retries: 0,
        });
        await fn({ server, bridge, store });
      } finally {
        await bridge.close();
        await server.stop();
      }
    },
  });
}

const row = (k: number, ts = 1) => ({
  entityKey: `driver_id=${k}`,
  record: { eventMicros: ts, createdMicros: null, values: { v: k } },
});

redisTest(
  "RedisOnlineStore.write() sends pipelines of at most 1000 commands",
  async ({ bridge }) => {
    const store = new RedisOnlineStore({
      project: "p",
      url: bridge.url,
      token: TOKEN,
      retries: 0,
      rowsPerCommand: 1,
    });
    const counter = countFetches(bridge.url);
    try {
      const result = await store.write("v", Array.from({ length: 2_500 }, (_, k) => row(k)));
      assert.deepEqual(result, { written: 2_500, skipped: 0 });
      // SCRIPT LOAD once, then 3 pipelines of EVALSHA.
      const sizes = counter.bodies.map((b) => {
        const body = JSON.parse(b) as unknown[];
        return Array.isArray(body[0]) ? body.length : 1;
      });
      assert.deepEqual(sizes.sort((a, b) => a - b), [1, 500, 1000, 1000]);
      assert.equal(counter.count, 4);
    } finally {
      counter.restore();
    }
  },
);

redisTest(
  "RedisOnlineStore falls back to EVAL when Redis forgot the script (NOSCRIPT)",
  async ({ bridge, store }) => {
    await store.write("v", [row(1, 1)]);
    const raw = createUpstashClient({ url: bridge.url, token: TOKEN, retries: 0 });
    assert.equal(await raw.scriptFlush(), "OK");
    assert.deepEqual(await store.write("v", [row(1, 2), row(2, 1)]), { written: 2, skipped: 0 });
    assert.deepEqual(await store.write("v", [row(1, 2)]), { written: 0, skipped: 1 });
  },
  // SCRIPT FLUSH is an admin command.
  { allowAdmin: true },
);

redisTest(
  "RedisOnlineStore keys are <prefix>:<project>:<view>:<entity key>, optionally expiring",
  async ({ bridge }) => {
    const store = new RedisOnlineStore({
      project: "demo",
      url: bridge.url,
      token: TOKEN,
      keyPrefix: "feat",
      keyTtlSeconds: 3600,
    });
    await store.write("driver_stats", [{
      entityKey: "driver_id=1001",
      record: {
        eventMicros: 1_700_000_000_000_001,
        createdMicros: 1_700_000_000_500_000,
        values: { conv_rate: 0.5 },
      },
    }]);
    const raw = createUpstashClient({ url: bridge.url, token: TOKEN });
    assert.equal(await raw.dbsize(), 1);
    assert.equal(
      await raw.get("feat:demo:driver_stats:driver_id=1001"),
      '2;1700000000000001;1700000000500000;{"conv_rate":0.5}',
    );
    const ttl = await raw.ttl("feat:demo:driver_stats:driver_id=1001");
    assert.ok(ttl > 3590 && ttl <= 3600, `ttl ${ttl}`);
  },
);

redisTest(
  "getOnlineFeatures() of 100 entities x 5 views is one HTTP request",
  async ({ store }) => {
    const views = ["v1", "v2", "v3", "v4", "v5"];
    const registry = documentWith({
      entities: [entity("driver", ["driver_id"])],
      sources: [fileSource("src", "data/x.parquet")],
      views: views.map((name) =>
        featureView(name, {
          entities: ["driver"],
          source: "src",
          features: [{ name: `${name}_a`, type: "float64" }, { name: `${name}_b`, type: "string" }],
        })
      ),
    }, "p");
    const ids = Array.from({ length: 100 }, (_, i) => 1000 + i);
    for (const view of views) {
      await writeOnline({ registry, online: store }, view, {
        driver_id: ids,
        event_timestamp: ids.map(() => t("2024-01-01")),
        [`${view}_a`]: ids.map((i) => i / 2),
        [`${view}_b`]: ids.map((i) => `${view}-${i}`),
      });
    }
    const counter = countFetches(store.name.slice("redis ".length));
    try {
      const res = await getOnlineFeatures({ registry, online: store }, {
        features: views.flatMap((v) => [`${v}:${v}_a`, `${v}:${v}_b`]),
        entities: { driver_id: ids },
      });
      assert.equal(counter.count, 1);
      const rows = res.toRows();
      assert.equal(rows.length, 100);
      assert.deepEqual(rows[7], {
        driver_id: 1007,
        ...Object.fromEntries(views.flatMap((v) => [[`${v}_a`, 503.5], [`${v}_b`, `${v}-1007`]])),
      });
    } finally {
      counter.restore();
    }
  },
);

redisTest(
  "RedisOnlineStore fails with UNAVAILABLE or UNAUTHENTICATED naming the store",
  async ({ bridge, server }) => {
    const wrongToken = new RedisOnlineStore({
      project: "p",
      url: bridge.url,
      token: "wrong",
      retries: 0,
    });
    await assert.rejects(wrongToken.read([{ view: "v", entityKey: "k" }]), (err: unknown) => {
      assert.ok(err instanceof LarderError);
      assert.equal(err.code, "UNAUTHENTICATED");
      assert.equal(
        err.message,
        `Cannot read from the online store (redis ${bridge.url}): Unauthorized`,
      );
      return true;
    });
    await server.kill();
    const store = new RedisOnlineStore({ project: "p", url: bridge.url, token: TOKEN, retries: 0 });
    await assert.rejects(store.write("v", [row(1)]), (err: unknown) => {
      assert.ok(err instanceof LarderError);
      assert.equal(err.code, "UNAVAILABLE");
      assert.match(
        err.message,
        /^Cannot write to the online store \(redis http:\/\/127\.0\.0\.1:\d+\): Redis is unreachable at redis:\/\//,
      );
      assert.ok(!err.message.includes("command was"), err.message);
      return true;
    });
    const closedPort = freePort();
    const nobody = new RedisOnlineStore({
      project: "p",
      url: `http://127.0.0.1:${closedPort}`,
      token: TOKEN,
      retries: 1,
    });
    const attempts = countFetches(`http://127.0.0.1:${closedPort}`);
    try {
      await assert.rejects(nobody.read([{ view: "v", entityKey: "k" }]), {
        code: "UNAVAILABLE",
        message: new RegExp(
          `^Cannot read from the online store \\(redis http://127.0.0.1:${closedPort}\\): `,
        ),
      });
    } finally {
      attempts.restore();
    }
    assert.equal(attempts.count, 2, "retries: 1 means one try and one retry, not the client's 5");
  },
);

redisTest(
  "createOnlineStore() builds the redis store from larder.yaml or the environment",
  async ({ bridge }) => {
    const config = LarderConfigSchema.parse({ project: "p", online_store: { type: "redis" } });
    const env = (name: string) =>
      ({ UPSTASH_REDIS_REST_URL: bridge.url, UPSTASH_REDIS_REST_TOKEN: TOKEN })[name];
    const store = await createOnlineStore(config, "/tmp", { env });
    assert.equal(store.name, `redis ${bridge.url}`);
    assert.deepEqual(await store.write("v", [row(1)]), { written: 1, skipped: 0 });
    await assert.rejects(createOnlineStore(config, "/tmp", { env: () => undefined }), {
      code: "CONFIG_INVALID",
      message:
        'larder.yaml: online_store: type "redis" needs online_store.url (or UPSTASH_REDIS_REST_URL) and online_store.token (or UPSTASH_REDIS_REST_TOKEN)',
    });
  },
);
