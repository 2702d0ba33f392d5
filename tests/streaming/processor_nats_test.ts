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

/** A loaded machine may take seconds over a first batch: nothing is redelivered meanwhile. */
const FAST = { blockMs: 50, offlineFlushMs: 100, reclaimIdleMs: 10_000 } as const;
const CHILD = fileURLToPath(new URL("./_crash_child.ts", import.meta.url));

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
    } finally {
      await nats.stop();
    }
  },
});
