/**
 * A separate process on a shared SQLite online store, for `sqlite_store_test.ts`:
 * `deno run -A _sqlite_child.ts <path> <role> <arg> <tag>`. Once its store is open, it creates
 * `<path>.ready-<tag>` and waits for `<path>.go`, so that both processes start together.
 *
 * - `write <stamps>`: writes keys 0..199 of view "v" once per event time in the comma-separated
 *   list, in that order, and prints the rows written.
 * - `count <times>`: increments the counter row `c` of view "counter" that many times, each
 *   time under the lock "m" (read, pause, write the next value at the next event time): without
 *   an exclusive lock, two processes lose increments.
 */
import { SqliteOnlineStore } from "../../engine/online/mod.ts";

const [path, role, arg, tag] = Deno.args;
const store = await SqliteOnlineStore.open({ project: "p", path: path! });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
await Deno.writeTextFile(`${path}.ready-${tag}`, "");
for (;;) {
  try {
    await Deno.stat(`${path}.go`);
    break;
  } catch {
    await sleep(2);
  }
}
try {
  if (role === "write") {
    let written = 0;
    for (const stamp of arg!.split(",").map(Number)) {
      const rows = Array.from({ length: 200 }, (_, k) => ({
        entityKey: `id=${k}`,
        record: { eventMicros: stamp, createdMicros: null, values: { v: `${Deno.pid}@${stamp}` } },
      }));
      written += (await store.write("v", rows)).written;
    }
    console.log(JSON.stringify({ written }));
  } else if (role === "count") {
    for (let i = 0; i < Number(arg); i++) {
      let lease = await store.acquireLock("m", 10_000);
      while (lease === null) {
        await sleep(1);
        lease = await store.acquireLock("m", 10_000);
      }
      const [current] = await store.read([{ view: "counter", entityKey: "c" }]);
      const n = current?.eventMicros ?? 0;
      await sleep(1);
      await store.write("counter", [{
        entityKey: "c",
        record: { eventMicros: n + 1, createdMicros: null, values: { n: n + 1 } },
      }]);
      await lease.release();
    }
    console.log(JSON.stringify({ done: true }));
  }
} finally {
  await store.close();
}
