/**
 * `breakViewLocks()` without `force` never breaks a lock whose holder may be alive: a holder in
 * another pid namespace (a container with the same host name), from another boot, or recorded
 * without either, is not judged ended from its pid; and a lock renewed between inspecting and
 * breaking it is left alone. On each backend (a real Deno KV file; Redis through the real bridge
 * in front of a real `redis-server`), with the locks as another process writes them, and a real
 * holder in a real separate pid namespace where `unshare` can make one.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { breakViewLocks } from "../../engine/materialize/mod.ts";
import {
  createUpstashClient,
  currentHolder,
  DenoKvOnlineStore,
  type LockHolder,
  type OnlineStore,
  RedisOnlineStore,
} from "../../engine/online/mod.ts";
import { startBridge } from "../../server/redis_http/bridge.ts";
import { skipWithoutRedis, startRedisServer } from "../support/redis_server.ts";
import { type OnlineBackend, testEachOnlineBackend } from "../support/online_backends.ts";
import { tempRepo } from "../support/repo.ts";

const VIEW = "driver_hourly_stats";
const LOCK = `materialize:${VIEW}`;
const TOKEN = "unlock-safety-token";

/** A store, and a way to write a lock into it as another process would. */
interface Harness {
  readonly online: OnlineStore;
  /** Writes lock `name` held by `holder` (its `renewals`-th renewal, same token each time). */
  plant(name: string, holder: LockHolder, renewals?: number): Promise<void>;
  close(): Promise<void>;
}

const PLANTED_TOKEN = "00000000-0000-4000-8000-000000000001";

async function kvHarness(): Promise<Harness> {
  const dir = await Deno.makeTempDir({ prefix: "larder-unlock-" });
  const path = join(dir, "online.kv");
  const online = await DenoKvOnlineStore.open({ project: "p", path });
  return {
    online,
    async plant(name, holder) {
      const kv = await Deno.openKv(path);
      try {
        const value = { token: PLANTED_TOKEN, expiresAt: Date.now() + 60_000, holder };
        await kv.set(["larder-lock", "p", name], value, { expireIn: 60_000 });
      } finally {
        kv.close();
      }
    },
    async close() {
      await online.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function redisHarness(): Promise<Harness> {
  const server = await startRedisServer();
  const bridge = await startBridge({ redisUrl: server.url, token: TOKEN });
  const online = new RedisOnlineStore({ project: "p", url: bridge.url, token: TOKEN, retries: 0 });
  const raw = createUpstashClient({ url: bridge.url, token: TOKEN, retries: 0 });
  return {
    online,
    async plant(name, holder, renewals = 0) {
      const value = JSON.stringify({ token: PLANTED_TOKEN, ...holder, renewals });
      await raw.set(`larder-lock:p:${name}`, value, { px: 60_000 });
    },
    async close() {
      await bridge.close();
      await server.stop();
    },
  };
}

/** The pid of a process that has run and ended (and been reaped). */
async function endedPid(): Promise<number> {
  const child = new Deno.Command("true", { stdout: "null", stderr: "null" }).spawn();
  await child.status;
  return child.pid;
}

function harnessTest(name: string, fn: (h: Harness) => Promise<void>): void {
  Deno.test(`${name} (Deno KV)`, async () => {
    const h = await kvHarness();
    try {
      await fn(h);
    } finally {
      await h.close();
    }
  });
  Deno.test({
    name: `${name} (Redis)`,
    ignore: skipWithoutRedis("tests/online/unlock_safety_test.ts"),
    fn: async () => {
      const h = await redisHarness();
      try {
        await fn(h);
      } finally {
        await h.close();
      }
    },
  });
}

const CANNOT_SEE = new RegExp(
  `^Cannot break the materialization lock of feature view "${VIEW}": it is held by pid \\d+ on "[^"]+" since .* the holder is a process Larder cannot see from here \\(another host or container, or no holder recorded\\): wait for the lock to expire, or pass force if you know that run is gone$`,
);

harnessTest(
  "breakViewLocks() judges a holder ended from its pid only in this pid namespace and boot",
  async ({ online, plant }) => {
    const self = currentHolder();
    const ended: LockHolder = { ...self, pid: await endedPid() };
    const { pidNamespace: _ns, bootId: _boot, ...bare } = ended;
    const unseen: [string, LockHolder][] = [
      // Another container with the same host name: that pid is not this namespace's.
      ["another pid namespace", { ...ended, pidNamespace: "pid:[4026532999]" }],
      ["another boot", { ...ended, bootId: "00000000-0000-0000-0000-000000000000" }],
      ["an older Larder (neither recorded)", bare],
    ];
    for (const [what, holder] of unseen) {
      await plant(LOCK, holder);
      await assert.rejects(breakViewLocks(online, { views: [VIEW] }), (err: Error) => {
        assert.equal((err as { code?: string }).code, "CONFLICT", what);
        assert.match(err.message, CANNOT_SEE, what);
        return true;
      });
      assert.ok(await online.inspectLock(LOCK), `${what}: still held`);
    }
    // Forced, it breaks.
    const [forced] = await breakViewLocks(online, { views: [VIEW], force: true });
    assert.deepEqual([forced?.status, forced?.reason], ["broken", "forced"]);
    // This host, namespace and boot, and the pid has ended: broken without force.
    await plant(LOCK, ended);
    const [broken] = await breakViewLocks(online, { views: [VIEW] });
    assert.deepEqual([broken?.status, broken?.reason], ["broken", "its process has ended"]);
    assert.equal(await online.inspectLock(LOCK), null);
  },
);

harnessTest(
  "breakViewLocks() leaves a lock its holder renewed while it was being broken, unless forced",
  async (h) => {
    const holder: LockHolder = { ...currentHolder(), pid: await endedPid() };
    // The holder renews right after each of the first `renewAfter` inspections.
    let renewAfter = 0;
    let renewals = 0;
    const online = h.online;
    const racing: OnlineStore = {
      name: online.name,
      capabilities: online.capabilities,
      write: (view, rows) => online.write(view, rows),
      read: (keys) => online.read(keys),
      deleteViews: (views) => online.deleteViews(views),
      deleteAll: () => online.deleteAll(),
      viewsWithData: (options) => online.viewsWithData(options),
      acquireLock: (name, ttlMs) => online.acquireLock(name, ttlMs),
      inspectLock: async (name) => {
        const state = await online.inspectLock(name);
        if (renewAfter > 0) {
          renewAfter--;
          await h.plant(name, holder, ++renewals);
        }
        return state;
      },
      breakLock: (name, token) => online.breakLock(name, token),
      close: () => online.close(),
    };
    await h.plant(LOCK, holder);
    renewAfter = 1;
    await assert.rejects(breakViewLocks(racing, { views: [VIEW] }), {
      code: "CONFLICT",
      message: new RegExp(
        `^Cannot break the materialization lock of feature view "${VIEW}": its holder pid ${holder.pid} on "[^"]+" since \\S+ renewed it while it was being broken, so that run is alive; nothing was broken for it$`,
      ),
    });
    assert.ok(await h.online.inspectLock(LOCK), "still held");
    // Forced: it follows the renewal and breaks the lock as renewed.
    renewAfter = 1;
    const [forced] = await breakViewLocks(racing, { views: [VIEW], force: true });
    assert.deepEqual([forced?.status, forced?.reason], ["broken", "its process has ended"]);
    assert.equal(await h.online.inspectLock(LOCK), null);
  },
);

const UNSHARE_PROBE = (() => {
  if (Deno.build.os !== "linux") return false;
  try {
    return new Deno.Command("unshare", {
      args: ["--pid", "--fork", "--mount-proc", "true"],
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
  } catch {
    return false;
  }
})();
if (!UNSHARE_PROBE) {
  console.warn(
    '\n!!! SKIPPING the pid namespace case of "tests/online/unlock_safety_test.ts": ' +
      "it needs `unshare --pid --mount-proc` (Linux, as root).\n",
  );
}

const ENGINE = new URL("../../engine/mod.ts", import.meta.url).href;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

/** A pid that no process of this namespace has now. */
function freePid(): number {
  for (let pid = 20_000;; pid++) {
    try {
      Deno.statSync(`/proc/${pid}`);
    } catch {
      return pid;
    }
  }
}

/**
 * A process in a pid namespace of its own (a container with this host name) holding the view's
 * lock as a materialization would, with a pid that no process of this namespace has.
 */
async function holderElsewhere(
  repoDir: string,
): Promise<{ child: Deno.ChildProcess; pid: number }> {
  const script = join(repoDir, "hold_lock.ts");
  await Deno.writeTextFile(
    script,
    `import { FeatureStore } from "${ENGINE}";
const store = await FeatureStore.open({ repo: ${JSON.stringify(repoDir)} });
const online = await store.onlineStore();
const lease = await online.acquireLock("${LOCK}", 60_000);
console.log(lease ? \`locked \${Deno.pid}\` : "busy");
setInterval(() => lease?.extend(60_000), 1_000);
`,
  );
  const pid = freePid();
  // In the new namespace: the next pid is set, then the holder is forked (so it gets that pid).
  const run = `echo ${pid - 1} > /proc/sys/kernel/ns_last_pid || exit 1
"$0" run -A --config "$1" "$2" & wait`;
  const child = new Deno.Command("unshare", {
    args: [
      "--pid",
      "--fork",
      "--mount-proc",
      "--kill-child",
      "sh",
      "-c",
      run,
      Deno.execPath(),
      CONFIG,
      script,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  reader.releaseLock();
  assert.equal(out.trim(), `locked ${pid}`);
  return { child, pid };
}

async function otherNamespace(backend: OnlineBackend): Promise<void> {
  const repo = await tempRepo({ "larder.yaml": `project: test_project\n${backend.yaml}` });
  let held: { child: Deno.ChildProcess; pid: number } | undefined;
  const online = await backend.client(repo.dir);
  try {
    held = await holderElsewhere(repo.dir);
    const state = await online.inspectLock(LOCK);
    assert.ok(state?.holder);
    assert.deepEqual([state.holder.host, state.holder.pid], [Deno.hostname(), held.pid]);
    assert.notEqual(state.holder.pidNamespace, currentHolder().pidNamespace);
    // Here, no process has that pid: yet the holder runs, so nothing is broken.
    await assert.rejects(breakViewLocks(online, { views: [VIEW] }), {
      code: "CONFLICT",
      message: CANNOT_SEE,
    });
    assert.ok(await online.inspectLock(LOCK), "still held");
  } finally {
    if (held) {
      held.child.kill("SIGKILL");
      await held.child.status;
      await held.child.stdout.cancel().catch(() => {});
    }
    await online.close();
    await repo.remove();
  }
}

if (UNSHARE_PROBE) {
  testEachOnlineBackend(
    "breakViewLocks() does not break a live lock held in another pid namespace of this host",
    "tests/online/unlock_safety_test.ts",
    otherNamespace,
  );
}
