import assert from "node:assert/strict";
import { DenoKvOnlineStore } from "../../engine/online/mod.ts";
import { ReadBatcher } from "../../server/mod.ts";

const record = (n: number) => ({ eventMicros: n, createdMicros: null, values: { x: n } });

Deno.test("ReadBatcher.read() merges concurrent reads and answers each caller in order", async () => {
  const store = await DenoKvOnlineStore.open({ project: "p", path: ":memory:" });
  try {
    await store.write("v", [1, 2, 3].map((n) => ({ entityKey: `k${n}`, record: record(n) })));
    const calls: number[] = [];
    const counted = {
      read: (keys: Parameters<typeof store.read>[0]) => {
        calls.push(keys.length);
        return store.read(keys);
      },
    };
    const batcher = new ReadBatcher(counted, { maxInFlight: 1 });
    const key = (k: string) => ({ view: "v", entityKey: k });
    const results = await Promise.all([
      batcher.read([key("k1")]),
      batcher.read([key("k2"), key("nope")]),
      batcher.read([key("k3"), key("k1")]),
      batcher.read([]),
    ]);
    assert.deepEqual(results[0], [record(1)]);
    assert.deepEqual(results[1], [record(2), null]);
    assert.deepEqual(results[2], [record(3), record(1)]);
    assert.deepEqual(results[3], []);
    // The first read went alone; the three queued behind it went as one, keys deduplicated.
    assert.deepEqual(calls, [1, 4]);
    assert.deepEqual(await batcher.read([key("k2")]), [record(2)], "at rest: no waiting");
  } finally {
    await store.close();
  }
});

Deno.test("ReadBatcher.read() fails every caller of a failed read, then recovers", async () => {
  let fail = true;
  const batcher = new ReadBatcher({
    read: (keys) =>
      fail ? Promise.reject(new Error("down")) : Promise.resolve(keys.map(() => null)),
  }, { maxInFlight: 1 });
  const k = { view: "v", entityKey: "a" };
  const all = await Promise.allSettled([batcher.read([k]), batcher.read([k]), batcher.read([k])]);
  assert.deepEqual(all.map((r) => r.status), ["rejected", "rejected", "rejected"]);
  fail = false;
  assert.deepEqual(await batcher.read([k, k]), [null, null]);
});
