/**
 * `FeatureStore.materialize()` and `materializeIncremental()` (the SDK's and the CLI's path)
 * hold the same per-view locks in the online store as the feature server, on each backend: a
 * real SQLite file, a real Deno KV file, and Redis through the real bridge to a real `redis-server`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore, LarderError, writeTable } from "../../engine/mod.ts";
import type { OnlineStore } from "../../engine/online/mod.ts";
import { type OnlineBackend, testEachOnlineBackend } from "../support/online_backends.ts";
import { assertHeldByThisProcess } from "../support/locks.ts";
import { tempRepo } from "../support/repo.ts";

const VIEW = "driver_hourly_stats";

async function lockedRuns(
  options: OnlineBackend,
): Promise<void> {
  const repo = await tempRepo({ "larder.yaml": `project: test_project\n${options.yaml}` });
  let store: FeatureStore | undefined;
  let other: OnlineStore | undefined;
  try {
    await writeTable(join(repo.dir, "data/driver_stats.parquet"), {
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
    store = await FeatureStore.open({ repo: repo.dir });
    await store.apply({ skipSourceValidation: true });
    other = await options.client(repo.dir);
    const lease = await other.acquireLock(`materialize:${VIEW}`, 30_000);
    assert.ok(lease);

    const window = { start: new Date("2024-01-01"), end: new Date("2024-01-02") };
    const conflict = (err: unknown) => {
      assert.ok(err instanceof LarderError);
      assertHeldByThisProcess(err, VIEW);
      return true;
    };
    await assert.rejects(store.materialize(window), conflict);
    await assert.rejects(store.materialize({ ...window, views: [VIEW] }), conflict);
    await assert.rejects(store.materializeIncremental({ end: window.end }), conflict);
    // Nothing ran: no rows, no recorded window.
    const before = await store.getOnlineFeatures({
      features: [`${VIEW}:conv_rate`],
      entities: { driver_id: [1001] },
    });
    assert.deepEqual(before.toRows(), [{ driver_id: 1001, conv_rate: null }]);
    assert.equal((await store.registry.read({ fresh: true })).materializations[VIEW], undefined);

    await lease.release();
    const done = await store.materialize(window);
    assert.deepEqual(done.views.map((v) => [v.view, v.written]), [[VIEW, 2]]);
    const after = await store.getOnlineFeatures({
      features: [`${VIEW}:conv_rate`],
      entities: { driver_id: [1001] },
    });
    assert.deepEqual(after.toRows(), [{ driver_id: 1001, conv_rate: 0.5 }]);
    // The run released its lock.
    const next = await other.acquireLock(`materialize:${VIEW}`, 30_000);
    assert.ok(next, "the run released its lock");
    await next.release();
    assert.equal((await store.materializeIncremental({ end: window.end })).views.length, 1);
  } finally {
    await other?.close();
    await store?.close();
    await repo.remove();
  }
}

testEachOnlineBackend(
  "FeatureStore.materialize() fails with CONFLICT while another run holds the view",
  "tests/online/materialize_lock_test.ts",
  lockedRuns,
);
