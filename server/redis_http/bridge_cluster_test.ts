/**
 * The bridge in front of a real Redis Cluster (three masters, started once for the file),
 * through the real `@upstash/redis` client: commands routed by slot, pipelines split by node
 * and answered in order, cross-slot `MGET` / `DEL` / `EXISTS` joined, `SCAN` across masters,
 * scripts loaded on every master, and cross-slot transactions refused with nothing applied.
 */
import assert from "node:assert/strict";
import { Redis } from "@upstash/redis";
import { startRedisCluster } from "../../tests/support/redis_cluster.ts";
import { skipWithoutRedis } from "../../tests/support/redis_server.ts";
import { clusterSlot } from "../../engine/mod.ts";
import { RedisOnlineStore } from "../../engine/online/mod.ts";
import { type RunningBridge, startBridge } from "./bridge.ts";
import { parseBridgeConfig } from "./main.ts";

const IGNORE = skipWithoutRedis("server/redis_http/bridge_cluster_test.ts");
const TOKEN = "bridge-cluster-token";

interface Harness {
  stop(): Promise<void>;
  bridge: RunningBridge;
  client: Redis;
  seeds: readonly string[];
}
let setup: Promise<Harness> | undefined;
function harness() {
  setup ??= (async () => {
    const cluster = await startRedisCluster({ masters: 3 });
    const bridge = await startBridge({
      port: 0,
      redisCluster: cluster.seeds.slice(0, 1),
      token: TOKEN,
      allowAdmin: true,
      allowScripts: true,
    });
    const client = new Redis({
      url: bridge.url,
      token: TOKEN,
      enableTelemetry: false,
      automaticDeserialization: false,
      retry: { retries: 0, backoff: () => 0 },
    });
    return {
      bridge,
      client,
      seeds: cluster.seeds,
      async stop() {
        await bridge.close();
        await cluster.stop();
      },
    };
  })();
  return setup;
}

function clusterTest(
  name: string,
  fn: (client: Redis, bridge: RunningBridge, seeds: readonly string[]) => Promise<void>,
) {
  Deno.test({
    name: `bridge in front of a Redis Cluster: ${name}`,
    ignore: IGNORE,
    async fn() {
      const { client, bridge, seeds } = await harness();
      await client.flushall();
      await fn(client, bridge, seeds);
    },
  });
}

/** Keys spread over many slots (so over every master). */
const KEYS = Array.from({ length: 30 }, (_, i) => `k${i}`);

clusterTest("single commands go to the master of their slot", async (client) => {
  assert.ok(new Set(KEYS.map(clusterSlot)).size > 20);
  for (const key of KEYS) assert.equal(await client.set(key, `v-${key}`), "OK");
  for (const key of KEYS) assert.equal(await client.get(key), `v-${key}`);
  assert.equal(await client.incr("counter"), 1);
  assert.equal(await client.hset("h", { a: "1" }), 1);
  assert.equal(await client.hget("h", "a"), "1");
  assert.equal(await client.dbsize(), KEYS.length + 2);
  await assert.rejects(client.hget(KEYS[0]!, "f"), /WRONGTYPE/);
});

clusterTest("a pipeline over many slots answers in order, errors per entry", async (client) => {
  const pipeline = client.pipeline();
  for (const key of KEYS) pipeline.set(key, key);
  pipeline.hget(KEYS[3]!, "f");
  for (const key of KEYS) pipeline.get(key);
  const results = await pipeline.exec({ keepErrors: true });
  assert.equal(results.length, KEYS.length * 2 + 1);
  assert.deepEqual(results.slice(KEYS.length + 1).map((r) => r.result), KEYS);
  assert.match(results[KEYS.length]?.error ?? "", /^WRONGTYPE/);
});

clusterTest("MGET, DEL, EXISTS across slots are split and joined", async (client) => {
  await client.set("a", "1");
  await client.set("b", "2");
  await client.set("{a}x", "3");
  assert.notEqual(clusterSlot("a"), clusterSlot("b"));
  assert.deepEqual(await client.mget("b", "missing", "a", "{a}x"), ["2", null, "1", "3"]);
  assert.equal(await client.exists("a", "b", "missing"), 2);
  assert.equal(await client.del("a", "b", "missing"), 2);
  assert.deepEqual(await client.mget("a", "b", "{a}x"), [null, null, "3"]);
});

clusterTest("SCAN walks every master, its cursor ends at 0", async (client) => {
  for (const key of KEYS) await client.set(key, "x");
  const seen = new Set<string>();
  let cursor: string | number = "0";
  let rounds = 0;
  do {
    const [next, keys]: [string | number, string[]] = await client.scan(cursor, { count: 1000 });
    for (const key of keys) seen.add(key);
    cursor = next;
    rounds++;
  } while (String(cursor) !== "0" && rounds < 100);
  assert.deepEqual([...seen].sort(), [...KEYS].sort());
  assert.ok(rounds >= 3, "one round per master at least");
});

clusterTest("scripts load on every master; EVALSHA runs wherever its key lives", async (client) => {
  const source = `return redis.call("GET", KEYS[1])`;
  for (const key of KEYS) await client.set(key, `v-${key}`);
  await client.scriptFlush();
  const sha = await client.scriptLoad(source);
  for (const key of KEYS) assert.equal(await client.evalsha(sha, [key], []), `v-${key}`);
  await assert.rejects(
    client.eval(`return redis.call("GET", KEYS[2])`, ["a", "b"], []),
    /CROSSSLOT/,
  );
});

clusterTest(
  "transactions run within one slot; across slots Redis refuses, nothing applied",
  async (client) => {
    assert.deepEqual(await client.multi().incr("{t}x").incr("{t}x").get("{t}x").exec(), [
      1,
      2,
      "2",
    ]);
    await assert.rejects(client.multi().set("a", "1").set("b", "2").exec(), /CROSSSLOT|EXECABORT/);
    assert.deepEqual(await client.mget("a", "b"), [null, null]);
  },
);

clusterTest(
  "Larder over HTTP (cluster: true) and over TCP (nodes) share rows",
  async (_c, bridge, seeds) => {
    const http = new RedisOnlineStore({
      project: "p",
      url: bridge.url,
      token: TOKEN,
      cluster: true,
    });
    const tcp = new RedisOnlineStore({ project: "p", nodes: seeds });
    try {
      const rows = Array.from({ length: 200 }, (_, k) => ({
        entityKey: `driver_id=${k}`,
        record: { eventMicros: 10 + k, createdMicros: null, values: { v: k } },
      }));
      assert.deepEqual(await http.write("a", rows), { written: 200, skipped: 0 });
      assert.deepEqual(await tcp.write("b", rows), { written: 200, skipped: 0 });
      assert.deepEqual(await tcp.write("a", rows), { written: 0, skipped: 200 });
      const keys = (view: string) => rows.map((r) => ({ view, entityKey: r.entityKey }));
      for (const store of [http, tcp]) {
        for (const view of ["a", "b"]) {
          assert.deepEqual(
            (await store.read(keys(view))).map((r) => r?.values.v),
            rows.map((_, k) => k),
          );
        }
      }
      assert.deepEqual(await http.viewsWithData(), { views: ["a", "b"], complete: true });
      await http.deleteViews(["a"]);
      assert.deepEqual(await tcp.viewsWithData(), { views: ["b"], complete: true });
      const lease = await http.acquireLock("view:a", 5000);
      assert.notEqual(lease, null);
      assert.equal(await tcp.acquireLock("view:a", 5000), null);
      await lease?.release();
    } finally {
      await http.close();
      await tcp.close();
    }
  },
);

Deno.test("parseBridgeConfig() reads --redis-cluster as node URLs, never with --redis-url", () => {
  const env = { LARDER_BRIDGE_TOKEN: "t" };
  const config = parseBridgeConfig(
    ["--redis-cluster", "10.0.0.1:7000, redis://:pw@10.0.0.2:7001"],
    env,
  );
  assert.deepEqual(config?.redisCluster, ["redis://10.0.0.1:7000", "redis://:pw@10.0.0.2:7001"]);
  assert.deepEqual(parseBridgeConfig([], env)?.redisCluster, []);
  assert.throws(
    () => parseBridgeConfig(["--redis-cluster", "a:1", "--redis-url", "redis://b:2"], env),
    /not both/,
  );
  assert.throws(
    () => parseBridgeConfig(["--redis-cluster", "http://a:1"], env),
    /Invalid --redis-cluster "http:\/\/a:1"/,
  );
});

Deno.test({
  name: "bridge in front of a Redis Cluster: stops its cluster",
  ignore: IGNORE,
  async fn() {
    if (setup !== undefined) await (await setup).stop();
  },
});
