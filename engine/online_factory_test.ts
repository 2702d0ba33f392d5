import assert from "node:assert/strict";
import { join } from "node:path";
import { parseConfig } from "./config.ts";
import { DenoKvOnlineStore, type OnlineStore } from "./online/mod.ts";
import { createOnlineStore } from "./online_factory.ts";

async function withStore(
  yaml: string,
  fn: (store: OnlineStore, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "larder-online-factory-" });
  const config = parseConfig(`project: demo\n${yaml}`, { env: () => undefined });
  const store = await createOnlineStore(config, dir);
  try {
    await fn(store, dir);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const ROW = {
  entityKey: "id=1",
  record: { eventMicros: 5, createdMicros: null, values: { v: 1 } },
};

Deno.test("createOnlineStore() opens data/online.sqlite in the repo by default", async () => {
  await withStore("", async (store, dir) => {
    assert.equal(store.name, `sqlite ${join(dir, "data/online.sqlite")}`);
    await store.write("v", [ROW]);
    assert.ok((await Deno.stat(join(dir, "data/online.sqlite"))).isFile);
  });
});

Deno.test("createOnlineStore() passes deno_kv consistency to the reads", async () => {
  await withStore("online_store:\n  type: deno_kv\n  consistency: eventual\n", async (store) => {
    assert.ok(store instanceof DenoKvOnlineStore);
    assert.equal(store.consistency, "eventual");
    // A local KV file has one copy: an eventual read after a write in this process sees it.
    assert.deepEqual(await store.write("v", [ROW]), { written: 1, skipped: 0 });
    assert.deepEqual(await store.read([{ view: "v", entityKey: "id=1" }]), [ROW.record]);
  });
  await withStore("online_store:\n  type: deno_kv\n", (store) => {
    assert.equal((store as DenoKvOnlineStore).consistency, "strong");
    return Promise.resolve();
  });
});

Deno.test("createOnlineStore() opens sqlite :memory: without a file", async () => {
  await withStore("online_store:\n  type: sqlite\n  path: ':memory:'\n", async (store, dir) => {
    assert.equal(store.name, "sqlite :memory:");
    await store.write("v", [ROW]);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
});
