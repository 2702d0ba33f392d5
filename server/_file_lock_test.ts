import assert from "node:assert/strict";
import { join } from "node:path";
import { withFileLock } from "./_file_lock.ts";

/** Runs `n` holders of the lock on `path` at once; the most that ever held it together. */
async function mostAtOnce(path: string, n: number): Promise<number> {
  let holding = 0;
  let most = 0;
  await Promise.all(Array.from({ length: n }, () =>
    withFileLock(path, async () => {
      most = Math.max(most, ++holding);
      await new Promise((resolve) => setTimeout(resolve, 20));
      holding--;
    }, { pollMs: 5 })));
  return most;
}

Deno.test("withFileLock() lets one holder in at a time, even past a lock file a killed builder left", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "ui.lock");
    assert.equal(await mostAtOnce(path, 8), 1);
    // A lock file that has not been touched for minutes, as a builder killed mid-build leaves
    // it: waiters must not both take it over.
    await Deno.writeTextFile(path, "");
    const old = new Date(Date.now() - 600_000);
    await Deno.utime(path, old, old);
    assert.equal(await mostAtOnce(path, 8), 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("withFileLock() waits while another process holds the lock, and gets it when that process dies", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "ui.lock");
  const holder = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const f = await Deno.open(${
        JSON.stringify(path)
      }, { read: true, write: true, create: true });
       await f.lock(true);
       console.log("locked");
       await new Promise(() => setInterval(() => {}, 1000));`,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = holder.stdout.getReader();
    const { value } = await reader.read();
    assert.match(new TextDecoder().decode(value), /locked/);
    reader.releaseLock();
    let got = false;
    const waiting = withFileLock(path, () => Promise.resolve(got = true), { pollMs: 20 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(got, false, "held by a live process: it waits");
    holder.kill("SIGKILL");
    await holder.status;
    await waiting;
    assert.equal(got, true);
    const abort = new AbortController();
    abort.abort(new Error("stopped"));
    // Free now: an aborted signal does not stop a caller that gets the lock at once.
    assert.equal(await withFileLock(path, () => Promise.resolve(1), { signal: abort.signal }), 1);
  } finally {
    try {
      holder.kill("SIGKILL");
    } catch {
      // already gone
    }
    await holder.stdout.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
