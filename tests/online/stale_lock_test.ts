/**
 * A materialization lock left by a crashed run: the blocked run says who holds it, since when
 * and until when; `larder unlock` breaks it when its holder has ended, refuses while the
 * holder runs (unless forced), and a run whose lock is forced away stops recording nothing.
 * On each backend (real SQLite and Deno KV files; Redis through the real bridge), with a real
 * child process killed with SIGKILL.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore, writeTable } from "../../engine/mod.ts";
import type { OnlineStore } from "../../engine/online/mod.ts";
import { type OnlineBackend, testEachOnlineBackend } from "../support/online_backends.ts";
import { tempRepo } from "../support/repo.ts";

const VIEW = "driver_hourly_stats";
const MAIN = new URL("../../cli/main.ts", import.meta.url).pathname;
const ENGINE = new URL("../../engine/mod.ts", import.meta.url).href;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const ISO = String.raw`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z`;

async function larder(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  // deno-lint-ignore no-control-regex -- stripping ANSI color codes is the point
  const strip = (b: Uint8Array) => new TextDecoder().decode(b).replace(/\x1b\[[0-9;]*m/g, "");
  return { code: out.code, stdout: strip(out.stdout), stderr: strip(out.stderr) };
}

async function writeStats(dir: string): Promise<void> {
  await writeTable(join(dir, "data/driver_stats.parquet"), {
    driver_id: [1001, 1002],
    event_timestamp: ["2024-01-01T01:00:00Z", "2024-01-01T01:00:00Z"],
    created: ["2024-01-01T01:00:01Z", "2024-01-01T01:00:01Z"],
    conv_rate: [0.5, 0.25],
    acc_rate: [0.75, 0.5],
  }, {
    driver_id: "int64",
    event_timestamp: "timestamp",
    created: "timestamp",
    conv_rate: "float32",
    acc_rate: "float32",
  });
}

/** A child process that takes the view's lock as a materialization would, then waits. */
async function lockHolder(repoDir: string): Promise<Deno.ChildProcess> {
  const script = join(repoDir, "hold_lock.ts");
  await Deno.writeTextFile(
    script,
    `import { FeatureStore } from "${ENGINE}";
const store = await FeatureStore.open({ repo: ${JSON.stringify(repoDir)} });
const online = await store.onlineStore();
const lease = await online.acquireLock("materialize:${VIEW}", 60_000);
console.log(lease ? "locked" : "busy");
setInterval(() => lease?.extend(60_000), 1_000);
`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, script],
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
  assert.equal(out.trim(), "locked");
  return child;
}

async function staleLock(backend: OnlineBackend): Promise<void> {
  const repo = await tempRepo({ "larder.yaml": `project: test_project\n${backend.yaml}` });
  let child: Deno.ChildProcess | undefined;
  try {
    await writeStats(repo.dir);
    const apply = await larder(["apply", "--repo", repo.dir]);
    assert.equal(apply.code, 0, apply.stderr);
    child = await lockHolder(repo.dir);
    const pid = child.pid;
    const host = Deno.hostname();
    const holder = `pid ${pid} on "${host}" since ${ISO}`;

    // The holder runs: unlock refuses, naming it.
    const refused = await larder(["unlock", VIEW, "--repo", repo.dir]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(
      refused.stderr.trim(),
      new RegExp(
        `^error: Cannot break the materialization lock of feature view "${VIEW}": it is held by ${holder} and expires at ${ISO} unless renewed; the holder is a process of this host that is still running: stop it first, or pass force$`,
      ),
    );

    // The holder crashes: its lock stays until it expires.
    child.kill("SIGKILL");
    await child.status;
    await child.stdout.cancel().catch(() => {});
    child = undefined;
    const blocked = await larder(["materialize", "2024-01-01", "2024-01-02", "--repo", repo.dir]);
    assert.equal(blocked.code, 1, blocked.stderr);
    assert.match(
      blocked.stderr.trim(),
      new RegExp(
        `^error: Feature view "${VIEW}" is already being materialized by ${holder} \\(its lock expires at ${ISO} unless that run renews it\\): try again when that run ends, or if it crashed, break its lock with "larder unlock ${VIEW}"$`,
      ),
    );
    const json = await larder([
      "materialize",
      "2024-01-01",
      "2024-01-02",
      "--repo",
      repo.dir,
      "--json",
    ]);
    const error = JSON.parse(json.stderr).error;
    assert.equal(error.code, "CONFLICT");

    // Its process has ended: unlock breaks it without --force, and the rerun succeeds.
    const unlocked = await larder(["unlock", VIEW, "--repo", repo.dir, "--json"]);
    assert.equal(unlocked.code, 0, unlocked.stderr);
    const [result] = JSON.parse(unlocked.stdout).views;
    assert.equal(result.status, "broken");
    assert.equal(result.reason, "its process has ended");
    assert.deepEqual([result.holder.pid, result.holder.host], [pid, host]);
    const rerun = await larder(["materialize", "2024-01-01", "2024-01-02", "--repo", repo.dir]);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stdout, new RegExp(`^${VIEW} +2024-01-01T00:00:00.000Z`, "m"));
    const again = await larder(["unlock", "--repo", repo.dir]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`^${VIEW} +free +- +-$`, "m"));
  } finally {
    if (child) {
      child.kill("SIGKILL");
      await child.status;
      await child.stdout.cancel().catch(() => {});
    }
    await repo.remove();
  }
}

testEachOnlineBackend(
  "a lock left by a killed process names its holder; larder unlock breaks it and the rerun succeeds",
  "tests/online/stale_lock_test.ts",
  staleLock,
);

/**
 * The real store, with writes held back until `gate` resolves, telling `onLost` when a
 * renewal of a lease finds its lock gone.
 */
function gated(online: OnlineStore, gate: () => Promise<void>, onLost: () => void): OnlineStore {
  return {
    name: online.name,
    capabilities: online.capabilities,
    read: (keys) => online.read(keys),
    write: async (view, rows) => {
      await gate();
      return await online.write(view, rows);
    },
    deleteViews: (views) => online.deleteViews(views),
    deleteAll: () => online.deleteAll(),
    viewsWithData: (options) => online.viewsWithData(options),
    acquireLock: async (name, ttlMs) => {
      const lease = await online.acquireLock(name, ttlMs);
      return lease && {
        name: lease.name,
        release: () => lease.release(),
        extend: async (ttl) => {
          const kept = await lease.extend(ttl);
          if (!kept) onLost();
          return kept;
        },
      };
    },
    inspectLock: (name) => online.inspectLock(name),
    breakLock: (name, token) => online.breakLock(name, token),
    close: () => online.close(),
  };
}

async function forcedBreak(backend: OnlineBackend): Promise<void> {
  const repo = await tempRepo({ "larder.yaml": `project: test_project\n${backend.yaml}` });
  let store: FeatureStore | undefined;
  let other: FeatureStore | undefined;
  let client: OnlineStore | undefined;
  try {
    await writeStats(repo.dir);
    client = await backend.client(repo.dir);
    let broken: Promise<unknown> | undefined;
    let lost = false;
    other = await FeatureStore.open({ repo: repo.dir });
    // The first write of the run waits until another process broke its lock by force, and
    // then until the run's renewal (every second) noticed: polled, not timed.
    const gate = () => {
      broken ??= (async () => {
        const live = await other!.breakMaterializationLocks({ views: [VIEW] }).then(
          () => "broken",
          (err: Error & { code?: string }) => err,
        );
        assert.ok(live instanceof Error && live.message.includes("still running"), String(live));
        const forced = await other!.breakMaterializationLocks({ views: [VIEW], force: true });
        assert.deepEqual(forced.map((f) => [f.view, f.status, f.reason]), [[
          VIEW,
          "broken",
          "forced",
        ]]);
        // Another run may take the lock now.
        const lease = await client!.acquireLock(`materialize:${VIEW}`, 30_000);
        assert.ok(lease);
        for (let i = 0; !lost && i < 1_500; i++) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        assert.ok(lost, "the run's renewal found its lock gone");
        await lease.release();
      })();
      return broken.then(() => {});
    };
    const real = await FeatureStore.open({ repo: repo.dir });
    store = await FeatureStore.open({
      repo: repo.dir,
      onlineStore: gated(await real.onlineStore(), gate, () => {
        lost = true;
      }),
    });
    await store.apply({ skipSourceValidation: true });
    // DuckDB starts now: its first query blocks the event loop for a second or more.
    await ((await store.offlineStore()) as unknown as { ready(): Promise<void> }).ready();
    const { materialize } = await import("../../engine/materialize/mod.ts");
    await assert.rejects(
      materialize({
        registry: store.registry,
        online: await store.onlineStore(),
        offline: () => store!.offlineStore(),
        repoDir: repo.dir,
      }, {
        start: new Date("2024-01-01"),
        end: new Date("2024-01-02"),
        views: [VIEW],
        // Renewed every second; wide enough that no stall of this process lets it expire.
        lockTtlMs: 3_000,
      }),
      {
        code: "CONFLICT",
        message: new RegExp(
          `Feature view "${VIEW}" lost its materialization lock \\(another process broke it, or it expired while this one stalled\\): stopped, and nothing was recorded for it`,
        ),
      },
    );
    assert.equal((await store.registry.read({ fresh: true })).materializations[VIEW], undefined);
    await real.close();
  } finally {
    await client?.close();
    await other?.close();
    await store?.close();
    await repo.remove();
  }
}

testEachOnlineBackend(
  "a run whose lock is broken by force stops and records nothing",
  "tests/online/stale_lock_test.ts",
  forcedBreak,
);

/** The real store, running `after` once, right after the first write of a run has landed. */
function breaksAfterWrite(online: OnlineStore, after: () => Promise<void>): OnlineStore {
  let done: Promise<void> | undefined;
  return {
    name: online.name,
    capabilities: online.capabilities,
    read: (keys) => online.read(keys),
    write: async (view, rows) => {
      const result = await online.write(view, rows);
      await (done ??= after());
      return result;
    },
    deleteViews: (views) => online.deleteViews(views),
    deleteAll: () => online.deleteAll(),
    viewsWithData: (options) => online.viewsWithData(options),
    acquireLock: (name, ttlMs) => online.acquireLock(name, ttlMs),
    inspectLock: (name) => online.inspectLock(name),
    breakLock: (name, token) => online.breakLock(name, token),
    close: () => online.close(),
  };
}

async function breakBeforeRecord(backend: OnlineBackend): Promise<void> {
  const repo = await tempRepo({ "larder.yaml": `project: test_project\n${backend.yaml}` });
  let store: FeatureStore | undefined;
  let other: FeatureStore | undefined;
  let real: FeatureStore | undefined;
  try {
    await writeStats(repo.dir);
    other = await FeatureStore.open({ repo: repo.dir });
    real = await FeatureStore.open({ repo: repo.dir });
    // All rows are written; before the run records its window, another process breaks its
    // lock by force. Its renewals (every 20 s) have not noticed: only the check before
    // recording can.
    const forced = breaksAfterWrite(await real.onlineStore(), async () => {
      const broken = await other!.breakMaterializationLocks({ views: [VIEW], force: true });
      assert.deepEqual(broken.map((b) => [b.view, b.status]), [[VIEW, "broken"]]);
    });
    store = await FeatureStore.open({ repo: repo.dir, onlineStore: forced });
    await store.apply({ skipSourceValidation: true });
    const { materialize } = await import("../../engine/materialize/mod.ts");
    await assert.rejects(
      materialize({
        registry: store.registry,
        online: forced,
        offline: () => store!.offlineStore(),
        repoDir: repo.dir,
      }, {
        start: new Date("2024-01-01"),
        end: new Date("2024-01-02"),
        views: [VIEW],
        lockTtlMs: 60_000,
      }),
      {
        code: "CONFLICT",
        message: new RegExp(
          `^Materialization of feature view "${VIEW}" failed, and nothing was recorded for it .*: Feature view "${VIEW}" lost its materialization lock`,
        ),
      },
    );
    assert.equal((await store.registry.read({ fresh: true })).materializations[VIEW], undefined);
  } finally {
    await real?.close();
    await other?.close();
    await store?.close();
    await repo.remove();
  }
}

testEachOnlineBackend(
  "a run whose lock is broken by force after its writes, before it records, records nothing",
  "tests/online/stale_lock_test.ts",
  breakBeforeRecord,
);
