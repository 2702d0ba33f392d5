import assert from "node:assert/strict";
import { FeatureStore } from "../../mod.ts";
import { main } from "../../cli/main.ts";
import { freePort } from "../support/redis_server.ts";
import { tempRepo } from "../support/repo.ts";
import { skipWithoutRedis, startRedisServer } from "../support/redis_server.ts";
import {
  offlineRows,
  onlineValues,
  producer,
  streamRepo,
  tripEvent,
  waitFor,
} from "./_stream_repo.ts";

/** A loaded machine may take seconds over a first batch: nothing is taken over meanwhile. */
const FAST = { blockMs: 50, offlineFlushMs: 100, reclaimIdleMs: 10_000 } as const;

Deno.test({
  name: "FeatureStore.stream() on Redis Streams",
  ignore: skipWithoutRedis("stream processor on Redis"),
  fn: async (t) => {
    const redis = await startRedisServer();
    try {
      await t.step("events XADDed are readable online and appended offline, once", async () => {
        const repo = await streamRepo({ redisUrl: redis.url }, { stream: "e2e" });
        const store = await FeatureStore.open({ repo: repo.dir });
        const p = await producer(store);
        try {
          const stop = new AbortController();
          const running = store.stream({ ...FAST, signal: stop.signal });
          const events = [1, 2, 3].flatMap((d) => [0, 1, 2, 3].map((i) => tripEvent(d, i)));
          await p.publish(events);
          await waitFor("the latest values online", async () => {
            const rows = await onlineValues(store, ["trip_stats:fare", "fares:fare_x2"], [1, 2, 3]);
            return rows.every((r) => r.fare === 3 && r.fare_x2 === 6);
          });
          await waitFor(
            "every event offline",
            async () => (await offlineRows(repo.dir)).length >= 12,
          );
          stop.abort();
          const result = await running;
          const stats = Object.fromEntries(result.views.map((v) => [v.view, v]));
          assert.equal(stats.trip_stats?.events, 12);
          assert.equal(stats.trip_stats?.acked, 12);
          assert.equal(stats.trip_stats?.offlineRows, 12);
          assert.equal(stats.fares?.offlineRows, 0);
          assert.equal(stats.fares?.acked, 12);
          assert.equal(stats.trip_stats?.pending, 0);
          assert.equal(stats.trip_stats?.undelivered, 0);

          const offline = await offlineRows(repo.dir);
          assert.equal(offline.length, 12);
          assert.deepEqual(
            offline.map((r) => `${r.driver_id}:${r.fare}`).sort(),
            events.map((e) => `${e.driver_id}:${e.fare}`).sort(),
          );
        } finally {
          await p.close();
          await store.close();
          await repo.remove();
        }
      });

      await t.step(
        "bad events go to the dead-letter stream with the reason; the rest flow",
        async () => {
          const repo = await streamRepo({ redisUrl: redis.url }, { stream: "bad" });
          const store = await FeatureStore.open({ repo: repo.dir });
          const p = await producer(store);
          try {
            const stop = new AbortController();
            const running = store.stream({ ...FAST, signal: stop.signal, views: ["trip_stats"] });
            await p.publish([
              tripEvent(1, 1),
              { ...tripEvent(2, 1), fare: "not a number" },
              { ts: tripEvent(3, 1).ts, fare: 1, trips: 1 },
              { driver_id: 4, fare: 1, trips: 1 },
              { ...tripEvent(5, 1), ts: "yesterday" },
              { ...tripEvent(6, 1), trips: 1.5 },
              tripEvent(7, 1),
            ]);
            await waitFor("the good events online", async () => {
              const rows = await onlineValues(store, ["trip_stats:fare"], [1, 7]);
              return rows.every((r) => r.fare === 1);
            });
            await waitFor("5 dead letters", async () => (await p.deadLetters(10)).length === 5);
            stop.abort();
            const result = await running;
            assert.equal(result.views[0]!.deadLetters, 5);
            assert.equal(result.views[0]!.acked, 7);
            const letters = await p.deadLetters(10);
            const byDriver = Object.fromEntries(
              letters.map((l) => [String(JSON.parse(l.payload).driver_id ?? "none"), l]),
            );
            assert.match(byDriver["2"]!.reason, /field "fare": .*"not a number"/);
            assert.match(byDriver["none"]!.reason, /missing join key "driver_id"/);
            assert.match(byDriver["4"]!.reason, /missing event timestamp "ts"/);
            assert.match(byDriver["5"]!.reason, /field "ts": .*"yesterday"/);
            assert.match(byDriver["6"]!.reason, /field "trips": .*1\.5/);
            assert.ok(letters.every((l) => l.view === "trip_stats"));
            assert.equal(JSON.parse(byDriver["2"]!.payload).fare, "not a number");
            // Nothing of the bad events reached the stores.
            const rows = await onlineValues(store, ["trip_stats:fare"], [2, 3, 4, 5, 6]);
            assert.ok(rows.every((r) => r.fare === null));
            assert.deepEqual((await offlineRows(repo.dir)).map((r) => Number(r.driver_id)).sort(), [
              1,
              7,
            ]);
          } finally {
            await p.close();
            await store.close();
            await repo.remove();
          }
        },
      );

      await t.step("a transform that throws dead-letters only the events it fails on", async () => {
        const repo = await streamRepo({ redisUrl: redis.url }, { stream: "boom" });
        const store = await FeatureStore.open({ repo: repo.dir });
        const p = await producer(store);
        try {
          const stop = new AbortController();
          const running = store.stream({ ...FAST, signal: stop.signal, views: ["fares"] });
          await p.publish([tripEvent(1, 2), { ...tripEvent(2, 2), fare: "boom" }, tripEvent(3, 2)]);
          await waitFor("a dead letter", async () => (await p.deadLetters(10)).length === 1);
          await waitFor("the others online", async () => {
            const rows = await onlineValues(store, ["fares:fare_x2"], [1, 3]);
            return rows.every((r) => r.fare_x2 === 4);
          });
          stop.abort();
          await running;
          const [letter] = await p.deadLetters(10);
          assert.equal(letter!.view, "fares");
          assert.match(letter!.reason, /the transform of stream feature view "fares" threw: boom/);
          assert.equal(JSON.parse(letter!.payload).driver_id, "2");
        } finally {
          await p.close();
          await store.close();
          await repo.remove();
        }
      });

      await t.step("larder stream serves metrics, stops on SIGTERM with exit 0", async () => {
        const repo = await streamRepo({ redisUrl: redis.url }, { stream: "cli" });
        const store = await FeatureStore.open({ repo: repo.dir });
        const p = await producer(store);
        const port = freePort();
        const output: string[] = [];
        const log = console.log;
        console.log = (...args: unknown[]) => output.push(args.join(" "));
        try {
          const exit = main([
            "stream",
            "--repo",
            repo.dir,
            "--metrics-port",
            String(port),
            "--json",
          ]);
          await p.publish([tripEvent(1, 1), { ...tripEvent(2, 1), trips: "many" }]);
          let metrics = "";
          await waitFor("the events counted in /metrics", async () => {
            try {
              metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
            } catch {
              return false;
            }
            return /larder_stream_dead_letters_total\{view="trip_stats"\} 1/.test(metrics) &&
              /larder_stream_events_total\{view="fares"\} 2/.test(metrics);
          });
          assert.match(metrics, /# TYPE larder_stream_batch_duration_seconds histogram/);
          assert.match(metrics, /larder_stream_lag_pending\{view="trip_stats"\} \d+/);
          Deno.kill(Deno.pid, "SIGTERM");
          assert.equal(await exit, 0);
          const report = JSON.parse(output.join("\n"));
          const stats = report.views.find((v: { view: string }) => v.view === "trip_stats");
          assert.equal(stats.events, 2);
          assert.equal(stats.deadLetters, 1);
          assert.equal(stats.pending, 0);
        } finally {
          console.log = log;
          await p.close();
          await store.close();
          await repo.remove();
        }
      });

      await t.step("larder stream without stream views exits 1 saying so", async () => {
        const repo = await tempRepo();
        const errors: string[] = [];
        const error = console.error;
        console.error = (...args: unknown[]) => errors.push(args.join(" "));
        try {
          assert.equal(await main(["stream", "--repo", repo.dir]), 1);
          assert.equal(await main(["stream", "--repo", repo.dir, "--batch-size", "0"]), 1);
        } finally {
          console.error = error;
          await repo.remove();
        }
        assert.match(errors[0]!, /The registry has no stream feature views/);
        assert.match(errors[1]!, /--batch-size: expected a positive whole number/);
      });

      await t.step("a changed transform is DRIFT before anything is read", async () => {
        const repo = await streamRepo({ redisUrl: redis.url }, { stream: "drift" });
        const text = (await repo.read("features.ts"))!;
        await repo.write("features.ts", text.replace("Number(f) * 2", "Number(f) * 3"));
        const store = await FeatureStore.open({ repo: repo.dir });
        try {
          await assert.rejects(() => store.stream({ ...FAST, views: ["fares"] }), {
            code: "DRIFT",
            message: /Stream feature view "fares": the loaded transform .* differs/,
          });
          await assert.rejects(() => store.stream({ ...FAST, views: ["nope"] }), {
            code: "NOT_FOUND",
            message:
              /Cannot find stream feature view "nope": the registry has "fares", "trip_stats"/,
          });
        } finally {
          await store.close();
          await repo.remove();
        }
      });
    } finally {
      await redis.stop();
    }
  },
});
