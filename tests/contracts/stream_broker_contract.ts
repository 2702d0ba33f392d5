/**
 * The contract every stream broker passes (see `engine/streaming/broker.ts`): a consumer group
 * made from the start of the stream, events read in order and decoded, acknowledged entries
 * never delivered again, unacknowledged entries of a consumer that died delivered again to
 * another (through `reclaim()` or, for brokers that redeliver by themselves, `read()`), the
 * entries of a group shared between its consumers, a consumer that leaves the group keeping
 * what it did not acknowledge for the others, dead letters read back with their reason
 * and payload, and the group's lag.
 */
import assert from "node:assert/strict";
import type { BrokerOptions, StreamBroker, StreamEntry } from "../../engine/streaming/mod.ts";
import type { StreamSourceSpec } from "../../registry/mod.ts";

/** A broker under test. */
export interface StreamBrokerUnderTest {
  /** A stream source on a stream that no other test uses. */
  readonly source: (name: string) => StreamSourceSpec;
  /** Opens a consumer (unopened: the contract calls `open()`). */
  readonly consumer: (source: StreamSourceSpec, options: BrokerOptions) => Promise<StreamBroker>;
  /** How long an unacknowledged entry waits before another consumer may have it. */
  readonly idleMs: number;
}

/** Reads until `n` entries came (or `timeoutMs` passed), reclaiming as the processor does. */
async function collect(
  broker: StreamBroker,
  n: number,
  options: { reclaimIdleMs?: number; timeoutMs?: number } = {},
): Promise<StreamEntry[]> {
  const out: StreamEntry[] = [];
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  while (out.length < n && Date.now() < deadline) {
    if (options.reclaimIdleMs !== undefined) {
      out.push(...await broker.reclaim(options.reclaimIdleMs, n - out.length));
    }
    if (out.length < n) out.push(...await broker.read(n - out.length, 100));
  }
  return out;
}

const events = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({
    driver_id: String(from + i),
    ts: new Date(1_700_000_000_000 + from + i).toISOString(),
    fare: String((from + i) / 2),
  }));

/** Runs the contract as steps of test `t`. */
export async function streamBrokerContract(
  t: Deno.TestContext,
  under: StreamBrokerUnderTest,
): Promise<void> {
  let streams = 0;
  const fresh = async (group = "g", consumer = "c1") => {
    const source = under.source(`contract${++streams}`);
    const broker = await under.consumer(source, { group, consumer, ackWaitMs: under.idleMs });
    return { source, broker };
  };
  const opened: StreamBroker[] = [];
  const open = async (source: StreamSourceSpec, consumer: string, group = "g") => {
    const b = await under.consumer(source, { group, consumer, ackWaitMs: under.idleMs });
    opened.push(b);
    await b.open();
    return b;
  };

  try {
    await t.step("a group made after events were published reads them all, in order", async () => {
      const { source, broker: producer } = await fresh();
      opened.push(producer);
      await producer.open();
      const ids = await producer.publish(events(5));
      assert.equal(new Set(ids).size, 5);
      const reader = await open(source, "reader", "late_group");
      await reader.open(); // a second open is no error
      const got = await collect(reader, 5);
      assert.deepEqual(got.map((e) => e.id), ids);
      assert.deepEqual(got.map((e) => e.event?.driver_id), ["0", "1", "2", "3", "4"]);
      assert.equal(got[0]!.event?.fare, "0");
      assert.ok(got.every((e) => e.deliveries === 1));
      assert.ok(got.every((e) => Math.abs(e.timeMs - Date.now()) < 60_000));
      assert.equal(JSON.parse(got[1]!.payload).driver_id, "1");
      const started = performance.now();
      assert.deepEqual(await reader.read(10, 150), []);
      assert.ok(performance.now() - started < 2000);
      await reader.ack(got);
    });

    await t.step("acknowledged entries are never delivered again", async () => {
      const { source, broker } = await fresh();
      opened.push(broker);
      await broker.open();
      await broker.publish(events(4));
      const got = await collect(broker, 4);
      assert.equal(got.length, 4);
      await broker.ack(got);
      await broker.close();
      const again = await open(source, "c1");
      const other = await open(source, "c2");
      await new Promise((r) => setTimeout(r, under.idleMs + 100));
      assert.deepEqual(await other.reclaim(0, 10), []);
      assert.deepEqual(await again.read(10, 200), []);
      assert.deepEqual(await other.read(10, 200), []);
      assert.deepEqual(await again.lag(), { undelivered: 0, pending: 0 });
    });

    await t.step("entries a dead consumer did not acknowledge go to another", async () => {
      const { source, broker: dying } = await fresh("g", "dying");
      opened.push(dying);
      await dying.open();
      await dying.publish(events(5));
      const got = await collect(dying, 5);
      assert.equal(got.length, 5);
      await dying.ack(got.slice(0, 2));
      await dying.close(); // the 3 others stay pending
      const heir = await open(source, "heir");
      const taken = await collect(heir, 3, { reclaimIdleMs: under.idleMs, timeoutMs: 10_000 });
      assert.deepEqual(taken.map((e) => e.id).sort(), got.slice(2).map((e) => e.id).sort());
      assert.ok(taken.every((e) => e.deliveries >= 2), "taken-over entries count as redelivered");
      assert.deepEqual(taken.map((e) => e.event?.driver_id).sort(), ["2", "3", "4"]);
      await heir.ack(taken);
      await new Promise((r) => setTimeout(r, under.idleMs + 100));
      assert.deepEqual(await collect(heir, 1, { reclaimIdleMs: 0, timeoutMs: 300 }), []);
      assert.equal((await heir.lag()).pending, 0);
    });

    await t.step("renew() keeps entries from being taken over", async () => {
      const { source, broker: holder } = await fresh("g", "holder");
      opened.push(holder);
      await holder.open();
      await holder.publish(events(3));
      const got = await collect(holder, 3);
      const other = await open(source, "other");
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, under.idleMs * 0.6));
        assert.equal((await holder.renew(got)).length, 3);
      }
      await new Promise((r) => setTimeout(r, under.idleMs * 0.6));
      assert.deepEqual(
        await collect(other, 1, { reclaimIdleMs: under.idleMs, timeoutMs: 100 }),
        [],
      );
      await holder.ack(got);
      assert.deepEqual(await holder.renew(got), []);
      if (!holder.capabilities.redeliversByItself) {
        // Taken over while not renewed: the old holder is told it holds none of them.
        await holder.publish(events(2, 10));
        const mine = await collect(holder, 2);
        const taken = await collect(other, 2, { reclaimIdleMs: under.idleMs, timeoutMs: 5000 });
        assert.equal(taken.length, 2);
        assert.deepEqual(await holder.renew(mine), []);
        await other.ack(taken);
      }
    });

    await t.step("a restarted consumer gets back what it had not acknowledged", async () => {
      const { source, broker: first } = await fresh("g", "same");
      opened.push(first);
      await first.open();
      await first.publish(events(3));
      const got = await collect(first, 3);
      await first.ack(got.slice(0, 1));
      await first.close();
      const restarted = await open(source, "same");
      const back = await collect(restarted, 2, {
        reclaimIdleMs: under.idleMs,
        timeoutMs: 10_000,
      });
      assert.deepEqual(back.map((e) => e.id).sort(), got.slice(1).map((e) => e.id).sort());
      await restarted.ack(back);
    });

    await t.step("leave() keeps unacknowledged entries for the group", async () => {
      const { source, broker: leaving } = await fresh("g", "leaving");
      opened.push(leaving);
      await leaving.open();
      await leaving.publish(events(3));
      const got = await collect(leaving, 3);
      await leaving.ack(got.slice(0, 1));
      assert.equal(await leaving.leave(), false);
      await leaving.close();
      const heir = await open(source, "heir");
      const taken = await collect(heir, 2, { reclaimIdleMs: under.idleMs, timeoutMs: 10_000 });
      assert.deepEqual(taken.map((e) => e.id).sort(), got.slice(1).map((e) => e.id).sort());
      await heir.ack(taken);
      assert.equal(await heir.leave(), true);
      assert.deepEqual(await heir.lag(), { undelivered: 0, pending: 0 });
      // The group goes on without it.
      await heir.publish(events(1, 20));
      const next = await open(source, "next");
      const after = await collect(next, 1, { reclaimIdleMs: under.idleMs });
      assert.deepEqual(after.map((e) => e.event?.driver_id), ["20"]);
      await next.ack(after);
    });

    await t.step("consumers of one group share its entries, each entry to one", async () => {
      const { source, broker: a } = await fresh("g", "a");
      opened.push(a);
      await a.open();
      const b = await open(source, "b");
      const ids = await a.publish(events(40));
      const seen: StreamEntry[] = [];
      const deadline = Date.now() + 5000;
      while (seen.length < 40 && Date.now() < deadline) {
        for (const c of [a, b]) {
          const batch = await c.read(7, 50);
          await c.ack(batch);
          seen.push(...batch);
        }
      }
      assert.deepEqual(seen.map((e) => e.id).sort(), [...ids].sort());
    });

    await t.step("dead letters keep the reason and the original payload", async () => {
      const { broker } = await fresh();
      opened.push(broker);
      await broker.open();
      await broker.publish(events(2));
      const got = await collect(broker, 2);
      await broker.deadLetter(
        got.map((entry, i) => ({ entry, view: "v", reason: `bad ${i}` })),
      );
      await broker.ack(got);
      const letters = await broker.deadLetters(10);
      assert.deepEqual(letters.map((l) => [l.id, l.view, l.reason]), [
        [got[0]!.id, "v", "bad 0"],
        [got[1]!.id, "v", "bad 1"],
      ]);
      assert.equal(letters[0]!.payload, got[0]!.payload);
    });

    await t.step("lag counts undelivered and pending entries", async () => {
      const { broker } = await fresh();
      opened.push(broker);
      await broker.open();
      assert.deepEqual(await broker.lag(), { undelivered: 0, pending: 0 });
      await broker.publish(events(6));
      assert.deepEqual(await broker.lag(), { undelivered: 6, pending: 0 });
      const got = await collect(broker, 6);
      assert.deepEqual(await broker.lag(), { undelivered: 0, pending: 6 });
      await broker.ack(got);
      assert.deepEqual(await broker.lag(), { undelivered: 0, pending: 0 });
    });
  } finally {
    for (const b of opened) await b.close().catch(() => {});
  }
}
