import assert from "node:assert/strict";
import { DenoKvOnlineStore } from "./deno_kv_store.ts";
import { withLocks } from "./with_locks.ts";

const lost = (name: string) => new Error(`lost "${name}"`);
const conflict = (name: string) => new Error(`"${name}" is held`);

Deno.test("withLocks() verify() renews every lock now and rejects once one was broken", async () => {
  const store = await DenoKvOnlineStore.open({ project: "p", path: ":memory:" });
  try {
    const result = await withLocks(
      store,
      // Renewals every 20 s: none runs during the test, only verify() looks.
      { names: ["b", "a"], ttlMs: 60_000, conflict, lost },
      async (signal, verify) => {
        await verify();
        const state = await store.inspectLock("b");
        assert.ok(state);
        assert.equal(await store.breakLock("b", state.token), true);
        assert.equal(signal.aborted, false, "no renewal has noticed yet");
        await assert.rejects(verify(), { message: 'lost "b"' });
        assert.equal(signal.aborted, true);
        assert.equal((signal.reason as Error).message, 'lost "b"');
        await assert.rejects(verify(), { message: 'lost "b"' }, "and stays lost");
        return "done";
      },
    );
    assert.equal(result, "done");
    // Released on the way out: both are free.
    assert.equal(await store.inspectLock("a"), null);
    assert.equal(await store.inspectLock("b"), null);
  } finally {
    await store.close();
  }
});

Deno.test("withLocks() verify() rejects with the store's error when a lock cannot be renewed", async () => {
  const store = await DenoKvOnlineStore.open({ project: "p", path: ":memory:" });
  await withLocks(store, { names: ["a"], ttlMs: 60_000, conflict }, async (_signal, verify) => {
    // The store goes away: whether the lock is still held cannot be known.
    await store.close();
    await assert.rejects(verify(), { code: "UNAVAILABLE", message: /^Cannot extend the lock "a"/ });
  });
});
