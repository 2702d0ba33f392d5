/**
 * `SqliteOnlineStore` beyond the contract: several processes on one file (skip-if-not-newer and
 * locks decided by SQLite across processes), and failures to open that name the path.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { SqliteOnlineStore } from "../../engine/online/mod.ts";
import { LarderError } from "../../registry/mod.ts";

const CHILD = new URL("./_sqlite_child.ts", import.meta.url).pathname;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs `_sqlite_child.ts` once per argument list, all starting together; their answers. */
async function children(path: string, ...runs: string[][]): Promise<unknown[]> {
  const outputs = runs.map((args, i) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CHILD, path, ...args, String(i)],
      stdout: "piped",
      stderr: "piped",
    }).output()
  );
  const ready = () => Promise.all(runs.map((_, i) => exists(`${path}.ready-${i}`)));
  const deadline = Date.now() + 30_000;
  while (!(await ready()).every(Boolean) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await Deno.writeTextFile(`${path}.go`, "");
  return await Promise.all(outputs.map(async (pending) => {
    const out = await pending;
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return JSON.parse(new TextDecoder().decode(out.stdout));
  }));
}

Deno.test("SqliteOnlineStore: two processes writing the same keys keep the newest row", async () => {
  const dir = await Deno.makeTempDir({ prefix: "larder-sqlite-2p-" });
  const path = join(dir, "data", "online.sqlite");
  try {
    // Interleaved event times, each process in its own order: the newest is 200, from "a".
    const a = Array.from({ length: 100 }, (_, i) => 2 * i + 2).reverse().join(",");
    const b = Array.from({ length: 100 }, (_, i) => 2 * i + 1).join(",");
    await Deno.mkdir(join(dir, "data"));
    const [ra, rb] = await children(path, ["write", a], ["write", b]);
    const written = (ra as { written: number }).written + (rb as { written: number }).written;
    // Every key was written at least once, and never more often than its times increase.
    assert.ok(written >= 200 && written <= 200 * 200, `written ${written}`);
    const store = await SqliteOnlineStore.open({ project: "p", path });
    try {
      const records = await store.read(
        Array.from({ length: 200 }, (_, k) => ({ view: "v", entityKey: `id=${k}` })),
      );
      for (const r of records) {
        assert.equal(r?.eventMicros, 200);
        assert.match(String(r?.values.v), /@200$/);
      }
      // Each write counted exactly: a later pass at older times writes nothing.
      const again = await store.write(
        "v",
        Array.from({ length: 200 }, (_, k) => ({
          entityKey: `id=${k}`,
          record: { eventMicros: 199, createdMicros: null, values: { v: "late" } },
        })),
      );
      assert.deepEqual(again, { written: 0, skipped: 200 });
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteOnlineStore: a lock is exclusive across processes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "larder-sqlite-lock-" });
  const path = join(dir, "online.sqlite");
  try {
    await children(path, ["count", "40"], ["count", "40"]);
    const store = await SqliteOnlineStore.open({ project: "p", path });
    try {
      const [counter] = await store.read([{ view: "counter", entityKey: "c" }]);
      assert.equal(counter?.values.n, 80, "no increment lost: the lock was never held twice");
      assert.equal(await store.inspectLock("m"), null, "released");
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteOnlineStore.open() names the path of a file that is not a SQLite database", async () => {
  const dir = await Deno.makeTempDir({ prefix: "larder-sqlite-bad-" });
  const path = join(dir, "online.sqlite");
  try {
    await Deno.writeTextFile(path, "not a database, just text that is long enough to be read\n");
    await assert.rejects(SqliteOnlineStore.open({ project: "p", path }), (err: unknown) => {
      assert.ok(err instanceof LarderError);
      assert.equal(err.code, "UNAVAILABLE");
      assert.equal(
        err.message,
        `Cannot open the online store (sqlite) at "${path}": the file is not a SQLite database`,
      );
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteOnlineStore.open() names the path it cannot create", async () => {
  const dir = await Deno.makeTempDir({ prefix: "larder-sqlite-unwritable-" });
  try {
    // A file where the store's folder should be: no folder can be made there (even as root).
    await Deno.writeTextFile(join(dir, "data"), "a file, not a folder");
    const path = join(dir, "data", "online.sqlite");
    await assert.rejects(SqliteOnlineStore.open({ project: "p", path }), (err: unknown) => {
      assert.ok(err instanceof LarderError);
      assert.equal(err.code, "IO_FAILED");
      assert.ok(err.message.includes(`"${path}"`), err.message);
      assert.match(err.message, /online store \(sqlite\)/);
      assert.match(err.message, /a part of the path is a file, not a folder/);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteOnlineStore: :memory: is a store of its own", async () => {
  const store = await SqliteOnlineStore.open({ project: "p", path: ":memory:" });
  try {
    const row = { entityKey: "id=1", record: { eventMicros: 1, createdMicros: null, values: {} } };
    assert.deepEqual(await store.write("v", [row]), { written: 1, skipped: 0 });
    assert.deepEqual((await store.read([{ view: "v", entityKey: "id=1" }]))[0], row.record);
    assert.equal(store.name, "sqlite :memory:");
  } finally {
    await store.close();
  }
});

Deno.test("SqliteOnlineStore.write() counts a repeated key once: its newest row, the first of equals", async () => {
  const store = await SqliteOnlineStore.open({ project: "p", path: ":memory:" });
  const row = (micros: number, v: string) => ({
    entityKey: "id=1",
    record: { eventMicros: micros, createdMicros: null, values: { v } },
  });
  try {
    assert.deepEqual(await store.write("v", [row(1, "old"), row(3, "new"), row(2, "mid")]), {
      written: 1,
      skipped: 2,
    });
    assert.equal((await store.read([{ view: "v", entityKey: "id=1" }]))[0]?.values.v, "new");
    assert.deepEqual(await store.write("v", [row(5, "first"), row(5, "second")]), {
      written: 1,
      skipped: 1,
    });
    assert.equal((await store.read([{ view: "v", entityKey: "id=1" }]))[0]?.values.v, "first");
  } finally {
    await store.close();
  }
});
