/**
 * Failover on a real Redis Cluster (three masters, a replica each, started once for the file):
 * a master killed (SIGKILL) while the feature server reads, and while a materialization writes.
 * Requests during the failover get 503s that say Redis is unavailable (never 500s), serving
 * resumes by itself once the replica is promoted, and a rerun of the materialization leaves
 * exactly the rows (values and timestamps) of a run that never failed. The same through the HTTP
 * bridge in front of the cluster.
 */
import assert from "node:assert/strict";
import { FeatureStore } from "../../engine/mod.ts";
import {
  clusterBucket,
  type OnlineRow,
  type OnlineStore,
  RedisOnlineStore,
} from "../../engine/online/mod.ts";
import { LarderError } from "../../registry/mod.ts";
import { startBridge } from "../../server/redis_http/bridge.ts";
import { SERVER_FEATURES, startServer, statsRows, writeStatsData } from "../server/_harness.ts";
import { tempRepo } from "../support/repo.ts";
import { type RedisCluster, startRedisCluster } from "../support/redis_cluster.ts";
import { skipWithoutRedis } from "../support/redis_server.ts";

const IGNORE = skipWithoutRedis("tests/online/redis_cluster_failover_test.ts");
const DRIVERS = 30;
const WINDOW = { start: new Date("2023-12-31T00:00:00Z"), end: new Date("2024-01-02T00:00:00Z") };
const IDS = Array.from({ length: DRIVERS }, (_, d) => 1001 + d);
const REQUEST = {
  features: ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"],
  entities: { driver_id: IDS },
};

let started: Promise<RedisCluster> | undefined;
async function cluster(): Promise<RedisCluster> {
  started ??= startRedisCluster({ masters: 3, replicasPerMaster: 1, nodeTimeoutMs: 500 });
  const c = await started;
  await c.waitUntilOk();
  await c.flush();
  return c;
}

const yamlFor = (c: RedisCluster) =>
  `online_store:\n  type: redis\n  nodes: [${c.seeds.map((s) => JSON.stringify(s)).join(", ")}]\n`;

Deno.test({
  name: "a master killed mid-read-loop: 503s while it fails over, then serving resumes by itself",
  ignore: IGNORE,
  async fn() {
    const c = await cluster();
    const server = await startServer({ yaml: yamlFor(c), data: false });
    let victimPort: number | undefined;
    try {
      const pushed = await server.request("POST", "/write-to-online-store", {
        body: { feature_view_name: "driver_hourly_stats", df: statsRows(IDS) },
      });
      assert.equal(pushed.status, 200, pushed.text);
      const ok = await server.request("POST", "/get-online-features", { body: REQUEST });
      assert.equal(ok.status, 200, ok.text);
      const expected = ok.json;
      // Every replica holds the rows before a master dies (replication is asynchronous).
      await c.waitUntilOk();

      const victim = await c.masterOf(`{${clusterBucket("driver_id=1001")}}`);
      victimPort = victim;
      const statuses: number[] = [];
      const errors = new Set<string>();
      let killedAt = 0;
      let resumedAt = 0;
      for (let i = 0; Date.now() - (killedAt || Date.now()) < 15_000; i++) {
        if (i === 5) {
          c.kill(victim);
          killedAt = Date.now();
        }
        const res = await server.request("POST", "/get-online-features", { body: REQUEST });
        statuses.push(res.status);
        if (res.status === 200) {
          assert.deepEqual(res.json, expected);
          if (killedAt > 0 && statuses.includes(503)) {
            resumedAt = Date.now();
            break;
          }
        } else {
          assert.equal(res.json.error?.code, "UNAVAILABLE", res.text);
          errors.add(res.json.error.message);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.deepEqual([...new Set(statuses)].sort(), [200, 503], JSON.stringify(statuses));
      assert.ok(resumedAt > 0, `serving resumed after the failover: ${JSON.stringify(statuses)}`);
      for (const error of errors) {
        assert.match(
          error,
          /Cannot read from the online store \(redis cluster .*\): .*(unreachable|CLUSTERDOWN|answers)/,
        );
      }
      // The loop stopped at the first good answer; the ones after stay good.
      for (let i = 0; i < 5; i++) {
        const res = await server.request("POST", "/get-online-features", { body: REQUEST });
        assert.equal(res.status, 200, res.text);
      }
    } finally {
      await server.close();
      if (victimPort !== undefined) await c.restart(victimPort).catch(() => {});
    }
  },
});

Deno.test({
  name: "a master killed mid-materialize: the run fails UNAVAILABLE, a rerun is exact",
  ignore: IGNORE,
  async fn() {
    const c = await cluster();
    // A master that holds neither view's lock (a lock on the lost master would outlive the run
    // on its promoted replica until it expires, and the rerun would wait for it).
    const lockMasters = new Set(
      await Promise.all(
        ["driver_hourly_stats", "driver_trips"].map((view) =>
          c.masterOf(`larder-lock:test_project:materialize:${view}`)
        ),
      ),
    );
    const victim = (await c.masterPorts()).find((port) => !lockMasters.has(port));
    assert.ok(victim !== undefined);

    const repo = await tempRepo({
      "larder.yaml": "project: test_project\n",
      "features.ts": SERVER_FEATURES,
    });
    const redis = new RedisOnlineStore({ project: "test_project", nodes: c.seeds });
    let armed = false;
    let killed = false;
    // The real store; armed, its next write stores half its rows, then the master dies.
    const killing = new Proxy(redis, {
      get(target, prop) {
        if (prop === "write") {
          return async (view: string, rows: readonly OnlineRow[]) => {
            if (!armed || killed) return await target.write(view, rows);
            killed = true;
            const half = Math.ceil(rows.length / 2);
            const first = await target.write(view, rows.slice(0, half));
            c.kill(victim);
            const rest = await target.write(view, rows.slice(half));
            return { written: first.written + rest.written, skipped: first.skipped + rest.skipped };
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    }) as OnlineStore;
    const store = await FeatureStore.open({ repo: repo.dir, onlineStore: killing });
    const keys = ["driver_hourly_stats", "driver_trips"].flatMap((view) =>
      IDS.map((id) => ({ view, entityKey: `driver_id=${id}` }))
    );
    try {
      await writeStatsData(repo.dir, DRIVERS);
      await store.apply({ skipSourceValidation: true });
      // The state of a run that never failed: every row, with its timestamps.
      await store.materialize(WINDOW);
      const want = await redis.read(keys);
      assert.equal(want.filter((r) => r !== null).length, DRIVERS + 2);
      await redis.deleteAll();

      armed = true;
      await assert.rejects(
        () => store.materialize(WINDOW),
        (err: unknown) => {
          assert.ok(err instanceof LarderError, String(err));
          assert.equal(err.code, "UNAVAILABLE", err.message);
          assert.match(err.message, /Cannot write to the online store \(redis cluster /);
          return true;
        },
      );
      assert.ok(killed);
      await c.waitUntilOk();

      // The same run again, on the same store, nothing cleaned up in between.
      await store.materialize(WINDOW);
      assert.deepEqual(await redis.read(keys), want);
    } finally {
      if (killed) await c.restart(victim).catch(() => {});
      await store.close();
      await redis.close();
      await repo.remove();
    }
  },
});

Deno.test({
  name:
    "the bridge in front of the cluster: a master killed mid-read-loop, UNAVAILABLE, then reads resume",
  ignore: IGNORE,
  async fn() {
    const c = await cluster();
    const bridge = await startBridge({ port: 0, redisCluster: c.seeds, token: "t" });
    const store = new RedisOnlineStore({
      project: "p",
      url: bridge.url,
      token: "t",
      cluster: true,
      retries: 0,
    });
    const victim = await c.masterOf(`{${clusterBucket("driver_id=1001")}}`);
    let killed = false;
    try {
      const rows = IDS.map((id) => ({
        entityKey: `driver_id=${id}`,
        record: { eventMicros: id, createdMicros: null, values: { v: id } },
      }));
      await store.write("v", rows);
      await c.waitUntilOk();
      const keys = IDS.map((id) => ({ view: "v", entityKey: `driver_id=${id}` }));
      const outcomes: string[] = [];
      const deadline = Date.now() + 15_000;
      for (let i = 0; Date.now() < deadline; i++) {
        if (i === 3) {
          c.kill(victim);
          killed = true;
        }
        try {
          const read = await store.read(keys);
          assert.deepEqual(read.map((r) => r?.values.v), IDS);
          outcomes.push("ok");
          if (outcomes.includes("unavailable")) break;
        } catch (err) {
          assert.ok(err instanceof LarderError, String(err));
          assert.equal(err.code, "UNAVAILABLE", err.message);
          assert.match(err.message, /Cannot read from the online store \(redis cluster http:/);
          outcomes.push("unavailable");
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.ok(outcomes.includes("unavailable"), outcomes.join(","));
      assert.equal(outcomes.at(-1), "ok", outcomes.join(","));
    } finally {
      await store.close();
      await bridge.close();
      if (killed) {
        await c.restart(victim).catch(() => {});
        await c.waitUntilOk().catch(() => {});
      }
    }
  },
});

Deno.test({
  name: "redis cluster failover test file: stops its cluster",
  ignore: IGNORE,
  async fn() {
    if (started !== undefined) await (await started).stop();
  },
});
