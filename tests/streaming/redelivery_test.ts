/**
 * Crashes and scale-out with real processes on a real redis-server: a processor that dies
 * between writing a batch and acknowledging it, three processors sharing a stream while one
 * of them is killed (SIGKILL), and a clean stop on SIGTERM. The stores end exact: every event
 * once offline, the newest value of each key online.
 */
import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { FeatureStore } from "../../mod.ts";
import { createRedisTransport } from "../../engine/online/mod.ts";
import { consumerGroup } from "../../engine/streaming/mod.ts";
import { skipWithoutRedis, startRedisServer } from "../support/redis_server.ts";
import {
  offlineRows,
  onlineValues,
  producer,
  streamRepo,
  tripEvent,
  waitFor,
} from "./_stream_repo.ts";
import { assertExactStores, groupLag, killAll, offlineCounts, spawnDeno } from "./_processes.ts";

const CHILD = fromFileUrl(new URL("./_crash_child.ts", import.meta.url));

Deno.test({
  name: "stream processors survive crashes and share streams exactly",
  ignore: skipWithoutRedis("stream processor redelivery"),
  fn: async (t) => {
    const redis = await startRedisServer();
    try {
      await t.step(
        "a batch written but not acknowledged before a crash is not appended twice",
        async () => {
          const repo = await streamRepo({ redisUrl: redis.url }, { stream: "crash" });
          const store = await FeatureStore.open({ repo: repo.dir });
          const p = await producer(store);
          try {
            const events = [1, 2].flatMap((d) => [0, 1, 2, 3, 4].map((i) => tripEvent(d, i)));
            await p.publish(events);
            const child = spawnDeno([CHILD, repo.dir, "crasher"]);
            const status = await child.status;
            const stderr = await new Response(child.stderr).text();
            await child.stdout.cancel();
            assert.equal(status.code, 3, stderr);
            // It died with everything written and nothing acknowledged.
            assert.equal((await offlineRows(repo.dir)).length, 10);
            assert.equal((await groupLag(store, "trip_stats")).pending, 10);

            const stop = new AbortController();
            const running = store.stream({
              views: ["trip_stats"],
              consumer: "heir",
              signal: stop.signal,
              blockMs: 50,
              offlineFlushMs: 100,
              reclaimIdleMs: 1000,
            });
            await waitFor(
              "the orphaned entries acknowledged",
              async () => (await groupLag(store, "trip_stats")).pending === 0,
            );
            stop.abort();
            const [stats] = (await running).views;
            assert.equal(stats!.redelivered, 10);
            assert.equal(stats!.offlineDuplicatesSkipped, 10);
            assert.equal(stats!.offlineRows, 0);
            const offline = offlineCounts(await offlineRows(repo.dir));
            assert.equal(offline.size, 10);
            assert.ok(
              [...offline.values()].every((n) => n === 1),
              "each event once offline",
            );
            const online = await onlineValues(store, ["trip_stats:fare"], [1, 2]);
            assert.deepEqual(online.map((r) => r.fare), [4, 4]);
          } finally {
            await p.close();
            await store.close();
            await repo.remove();
          }
        },
      );

      await t.step(
        "3 processes share a stream; one killed, the others take over its entries",
        async () => {
          const repo = await streamRepo({ redisUrl: redis.url }, { stream: "scale" });
          const store = await FeatureStore.open({ repo: repo.dir });
          const p = await producer(store);
          const redisCli = createRedisTransport({ url: redis.url });
          const processes = [1, 2, 3].map((n) =>
            spawnDeno([
              "cli/main.ts",
              "stream",
              "--repo",
              repo.dir,
              "--views",
              "trip_stats",
              "--consumer",
              `p${n}`,
              "--batch-size",
              "25",
              "--reclaim-idle-ms",
              "1200",
              "--json",
            ])
          );
          const group = consumerGroup(store.config.project, "trip_stats");
          const pendingOf = async (consumer: string) => {
            const [reply] = await redisCli.pipeline([["XPENDING", "scale", group]]);
            const perConsumer = ((reply?.result as unknown[] | undefined)?.[3] ?? []) as [
              string,
              string,
            ][];
            return Number(perConsumer.find(([c]) => c === consumer)?.[1] ?? 0);
          };
          const DRIVERS = 10;
          const ROUNDS = 60;
          const publishRound = async (i: number) => {
            await p.publish(Array.from({ length: DRIVERS }, (_, d) => tripEvent(d + 1, i)));
          };
          try {
            let round = 0;
            // Until p1 holds entries, publish: then kill it mid-stream.
            for (; round < ROUNDS / 2 || (await pendingOf("p1")) === 0; round++) {
              await publishRound(round);
              await new Promise((r) => setTimeout(r, 15));
              if (round > ROUNDS * 4) throw new Error("p1 never took entries");
            }
            processes[0]!.kill("SIGKILL");
            const killed = await processes[0]!.status;
            assert.equal(killed.signal, "SIGKILL");
            const orphaned = await pendingOf("p1");
            for (; round < ROUNDS * 1.5; round++) await publishRound(round);
            await waitFor("every entry acknowledged", async () => {
              const lag = await groupLag(store, "trip_stats");
              return lag.pending === 0 && lag.undelivered === 0;
            }, 30_000);
            assert.equal(await pendingOf("p1"), 0, "p1's entries were taken over");
            await assertExactStores(store, repo.dir, { drivers: DRIVERS, rounds: round });

            // SIGTERM: the survivors finish, report and exit 0.
            const reports = [];
            for (const child of processes.slice(1)) {
              child.kill("SIGTERM");
              const [status, out, err] = await Promise.all([
                child.status,
                new Response(child.stdout).text(),
                new Response(child.stderr).text(),
              ]);
              assert.equal(status.code, 0, err);
              reports.push(JSON.parse(out).views[0]);
            }
            await processes[0]!.stdout.cancel().catch(() => {});
            await processes[0]!.stderr.cancel().catch(() => {});
            const redelivered = reports.reduce((n, r) => n + r.redelivered, 0);
            if (orphaned > 0) assert.ok(redelivered >= orphaned, `${redelivered} < ${orphaned}`);
            assert.ok(reports.every((r) => r.pending === 0));
            // The survivors left the group as they stopped; the killed one could not.
            const [info] = await redisCli.pipeline([["XINFO", "CONSUMERS", "scale", group]]);
            assert.deepEqual((info!.result as unknown[][]).map((c) => c[1]), ["p1"]);
          } finally {
            await killAll(processes);
            await redisCli.close();
            await p.close();
            await store.close();
            await repo.remove();
          }
        },
      );
    } finally {
      await redis.stop();
    }
  },
});
