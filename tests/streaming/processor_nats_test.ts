import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { FeatureStore } from "../../mod.ts";
import { consumerGroup, createBroker } from "../../engine/streaming/mod.ts";
import type { StreamSourceSpec } from "../../registry/mod.ts";
import { skipWithoutNats, startNatsServer } from "../support/nats_server.ts";
import {
  offlineRows,
  onlineValues,
  producer,
  streamRepo,
  tripEvent,
  waitFor,
} from "./_stream_repo.ts";
import {
  assertExactStores,
  gather,
  groupLag,
  killAll,
  offlineCounts,
  spawnDeno,
} from "./_processes.ts";

/** A loaded machine may take seconds over a first batch: nothing is redelivered meanwhile. */
const FAST = { blockMs: 50, offlineFlushMs: 100, reclaimIdleMs: 10_000 } as const;
const CHILD = fileURLToPath(new URL("./_crash_child.ts", import.meta.url));
const SCALE_CHILD = fileURLToPath(new URL("./_scale_child.ts", import.meta.url));

/** A line a `_scale_child.ts` printed. */
type ChildLine = {
  acking?: [string, number][];
  holding?: string[];
  result?: { pending: number; redelivered: number; offlineDuplicatesSkipped: number };
};

Deno.test({
  name: "FeatureStore.stream() on NATS JetStream",
  ignore: skipWithoutNats("stream processor on NATS"),
  fn: async (t) => {
    const nats = await startNatsServer();
    try {
      await t.step("published events are online and offline; bad ones dead-lettered", async () => {
        const repo = await streamRepo({ natsServer: nats.server }, {
          broker: "nats",
          stream: "TRIPS",
        });
        const store = await FeatureStore.open({ repo: repo.dir });
        const p = await producer(store);
        try {
          await p.open();
          const stop = new AbortController();
          const running = store.stream({ ...FAST, signal: stop.signal });
          await p.publish([
            ...[1, 2].flatMap((d) => [0, 1, 2].map((i) => tripEvent(d, i))),
            { ...tripEvent(3, 0), fare: "lots" },
          ]);
          await waitFor("the latest values online", async () => {
            const rows = await onlineValues(store, ["trip_stats:fare", "fares:fare_x2"], [1, 2]);
            return rows.every((r) => r.fare === 2 && r.fare_x2 === 4);
          });
          await waitFor(
            "every good event offline",
            async () => (await offlineRows(repo.dir)).length === 6,
          );
          await waitFor(
            "a dead letter",
            async () => (await p.deadLetters(10)).some((l) => l.view === "trip_stats"),
          );
          stop.abort();
          const result = await running;
          const stats = result.views.find((v) => v.view === "trip_stats")!;
          assert.equal(stats.events, 7);
          assert.equal(stats.acked, 7);
          assert.equal(stats.deadLetters, 1);
          const letter = (await p.deadLetters(10)).find((l) => l.view === "trip_stats")!;
          assert.match(letter.reason, /field "fare": .*"lots"/);
          assert.equal(JSON.parse(letter.payload).fare, "lots");
        } finally {
          await p.close();
          await store.close();
          await repo.remove();
        }
      });

      await t.step("a crash before the ack: redelivered, appended once", async () => {
        const repo = await streamRepo({ natsServer: nats.server }, {
          broker: "nats",
          stream: "CRASH",
        });
        const store = await FeatureStore.open({ repo: repo.dir });
        const p = await producer(store);
        const spec = (await store.registry.get("dataSource", "trips")).spec as StreamSourceSpec;
        const observer = await createBroker(spec, store.config.streaming, {
          group: consumerGroup(store.config.project, "trip_stats"),
          consumer: "observer",
        });
        try {
          await p.open();
          await p.publish([1, 2].flatMap((d) => [0, 1, 2, 3].map((i) => tripEvent(d, i))));
          const child = new Deno.Command(Deno.execPath(), {
            args: ["run", "-A", CHILD, repo.dir, "crasher"],
            stdout: "null",
            stderr: "piped",
          }).spawn();
          const [status, stderr] = await Promise.all([
            child.status,
            new Response(child.stderr).text(),
          ]);
          assert.equal(status.code, 3, stderr);
          assert.equal((await offlineRows(repo.dir)).length, 8);
          const stop = new AbortController();
          const running = store.stream({
            ...FAST,
            reclaimIdleMs: 1000,
            views: ["trip_stats"],
            consumer: "heir",
            signal: stop.signal,
          });
          await waitFor("everything acknowledged", async () => {
            const lag = await observer.lag();
            return lag.pending === 0 && lag.undelivered === 0;
          });
          stop.abort();
          const [stats] = (await running).views;
          // At least once: on a loaded machine the server may deliver some a third time.
          assert.ok(stats!.redelivered >= 8, `${stats!.redelivered} redelivered`);
          assert.ok(stats!.offlineDuplicatesSkipped >= 8);
          assert.equal((await offlineRows(repo.dir)).length, 8);
        } finally {
          await observer.close();
          await p.close();
          await store.close();
          await repo.remove();
        }
      });

      await t.step(
        "3 processes share the durable consumer; one killed mid-stream, the others get its entries",
        async () => {
          const repo = await streamRepo({ natsServer: nats.server }, {
            broker: "nats",
            stream: "SCALE",
          });
          const store = await FeatureStore.open({ repo: repo.dir });
          const p = await producer(store);
          await p.open();
          // p1 writes a batch to both stores and hangs before acknowledging it, its 2nd.
          const ACK_WAIT_MS = 3000;
          const children = [1, 2, 3].map((n) =>
            spawnDeno([
              SCALE_CHILD,
              repo.dir,
              `p${n}`,
              String(ACK_WAIT_MS),
              ...(n === 1 ? ["2"] : []),
            ])
          );
          const outputs = children.map(gather);
          const said = (n: number) => outputs[n]!.lines.map((l) => JSON.parse(l) as ChildLine);
          const acked = (n: number) => said(n).flatMap((l) => l.acking ?? []);
          const DRIVERS = 10;
          let rounds = 0;
          const publishRound = async () => {
            await p.publish(Array.from({ length: DRIVERS }, (_, d) => tripEvent(d + 1, rounds)));
            rounds++;
            await new Promise((r) => setTimeout(r, 20));
          };
          const publishUntil = async (what: string, done: () => boolean, atLeast = 0) => {
            const deadline = Date.now() + 60_000;
            for (let n = 0; n < atLeast || !done(); n++) {
              if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
              await publishRound();
            }
          };
          try {
            await publishUntil("p1 to hold a batch", () => said(0).some((l) => l.holding));
            children[0]!.kill("SIGKILL");
            assert.equal((await children[0]!.status).signal, "SIGKILL");
            const holding = said(0).find((l) => l.holding)!.holding!;
            assert.ok(holding.length > 0);
            await publishUntil(
              "both survivors to acknowledge entries",
              () => acked(1).length > 0 && acked(2).length > 0,
              30,
            );
            await waitFor("every entry acknowledged", async () => {
              const lag = await groupLag(store, "trip_stats");
              return lag.pending === 0 && lag.undelivered === 0;
            });
            await assertExactStores(store, repo.dir, { drivers: DRIVERS, rounds });

            // SIGTERM: the survivors finish, report and exit 0.
            const results = [];
            for (const n of [1, 2]) {
              children[n]!.kill("SIGTERM");
              const [status, stderr] = await Promise.all([
                children[n]!.status,
                outputs[n]!.ended,
              ]);
              assert.equal(status.code, 0, stderr);
              results.push(said(n).find((l) => l.result)!.result!);
            }
            assert.ok(results.every((r) => r.pending === 0));
            // The server gave p1's unacknowledged entries to the survivors after the ack wait;
            // p1 had appended their part, so they skipped it and acknowledged them.
            const again = new Set(
              [...acked(1), ...acked(2)].filter(([, d]) => d > 1).map(([id]) => id),
            );
            assert.deepEqual(holding.filter((id) => !again.has(id)), []);
            const skipped = results.reduce((n, r) => n + r.offlineDuplicatesSkipped, 0);
            assert.ok(skipped >= holding.length, `${skipped} < ${holding.length}`);
          } finally {
            await killAll(children);
            await Promise.all(outputs.map((o) => o.ended));
            await p.close();
            await store.close();
            await repo.remove();
          }
        },
      );

      // Fails today (rows appended twice): a held part is flushed only when a read returns,
      // so with blockMs past the ack wait the server gives live entries to another processor.
      await t.step({
        name: "entries a live processor holds longer than the ack wait are not given to another",
        ignore: true,
        fn: async () => {
          const repo = await streamRepo({ natsServer: nats.server }, {
            broker: "nats",
            stream: "SLOW",
          });
          const stores = await Promise.all(
            [0, 1].map(() => FeatureStore.open({ repo: repo.dir })),
          );
          const p = await producer(stores[0]!);
          const stop = new AbortController();
          // The held part is flushed only when a read returns, after blockMs: past the ack wait.
          const running = stores.map((store, i) =>
            store.stream({
              views: ["trip_stats"],
              consumer: `slow${i}`,
              signal: stop.signal,
              reclaimIdleMs: 3000,
              blockMs: 4000,
            })
          );
          try {
            await p.open();
            await p.publish(Array.from({ length: 20 }, (_, i) => tripEvent(1 + (i % 2), i)));
            await waitFor("every event acknowledged", async () => {
              const lag = await groupLag(stores[0]!, "trip_stats");
              return lag.pending === 0 && lag.undelivered === 0;
            });
            // One more ack wait (a server timer): anything given out again shows by then.
            await new Promise((r) => setTimeout(r, 3500));
            stop.abort();
            const results = (await Promise.all(running)).map((r) => r.views[0]!);
            const offline = offlineCounts(await offlineRows(repo.dir));
            assert.deepEqual([...offline.values()].filter((n) => n > 1), [], "none twice offline");
            assert.equal(offline.size, 20);
            assert.equal(results.reduce((n, r) => n + r.redelivered, 0), 0, "none redelivered");
          } finally {
            stop.abort();
            await Promise.allSettled(running);
            await p.close();
            await Promise.all(stores.map((s) => s.close()));
            await repo.remove();
          }
        },
      });
    } finally {
      await nats.stop();
    }
  },
});
