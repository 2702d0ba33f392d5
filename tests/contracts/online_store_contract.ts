/**
 * The contract every online store passes: round trips of every value type, skip-if-not-newer
 * (older and equal skipped, newer wins, also between concurrent writers), compound and
 * canonical entity keys, deletes by view and by project, key expiry where the backend offers it,
 * (for backends that say so) one round trip per read, and locks shared by every client of the
 * storage (exclusive, expiring, extended and released only by their holder).
 */
import assert from "node:assert/strict";
import {
  canonicalKeyValue,
  decodeValue,
  entityKey,
  type JoinKey,
  type OnlineRecord,
  type OnlineRow,
  type OnlineStore,
  toOnlineRows,
} from "../../engine/online/mod.ts";
import { type FieldSpec, LarderError, type ValueType } from "../../registry/mod.ts";

/** A store under test and how to open more clients on the same storage. */
export interface OnlineStoreUnderTest {
  /** A store of project `project` on the test's storage. */
  readonly open: (project: string, options?: { keyTtlSeconds?: number }) => Promise<OnlineStore>;
  /** HTTP requests sent so far, for backends that speak HTTP. */
  readonly requests?: () => number;
  /** Stores a record the way earlier versions did (times in epoch milliseconds). */
  readonly writeMillisRecord?: (
    project: string,
    view: string,
    entityKey: string,
    record: { eventTs: number; createdTs: number | null; values: Record<string, unknown> },
  ) => Promise<void>;
  readonly cleanup: () => Promise<void>;
}

const ID: JoinKey = { name: "driver_id", type: "int64", entity: "driver" };

const ALL_TYPES: Record<ValueType, unknown[]> = {
  int32: [0, -2147483648, 2147483647, null],
  int64: [1001, -5, 9007199254740993n, -(2n ** 63n), null],
  float32: [0.5, -1.25, NaN, Infinity, null],
  float64: [Math.PI, 1e-300, -Infinity, 123456789.123, null],
  string: ["", "plain", "semi;colon|pipe\nnewline", "ünïcødé 🚕", null],
  bool: [true, false, null],
  bytes: [new Uint8Array(Array.from({ length: 256 }, (_, i) => i)), new Uint8Array(0), null],
  timestamp: [new Date("2021-12-31T23:00:00.123Z"), new Date(0), new Date(-86_400_000), null],
  "int32[]": [[1, 2, null, -3], [], null],
  "int64[]": [[1001, 9007199254740993n, null], null],
  "float32[]": [[0.25, NaN, null], null],
  "float64[]": [[1.5, -Infinity, 2.75], null],
  "string[]": [["a", "", null, "ü;"], null],
  "bool[]": [[true, false, null], null],
  "bytes[]": [[new Uint8Array([0, 255]), null], null],
  "timestamp[]": [[new Date("2024-02-29T12:00:00Z"), null], null],
};

const FIELDS: FieldSpec[] = Object.keys(ALL_TYPES).map((type) => ({
  name: `f_${type.replace("[]", "_list")}`,
  type: type as ValueType,
}));

function record(
  eventMicros: number,
  values: Record<string, string | number | null>,
): OnlineRecord {
  return { eventMicros, createdMicros: null, values };
}

function row(id: number | string, eventMicros: number, value: string): OnlineRow {
  return {
    entityKey: entityKey([ID], [canonicalKeyValue(ID, id)]),
    record: record(eventMicros, { v: value }),
  };
}

async function readOne(
  store: OnlineStore,
  view: string,
  key: string,
): Promise<OnlineRecord | null> {
  const [found] = await store.read([{ view, entityKey: key }]);
  return found ?? null;
}

/** Registers the contract tests for one backend. */
export function onlineStoreContract(
  name: string,
  setup: () => Promise<OnlineStoreUnderTest>,
  options: { ignore?: boolean } = {},
): void {
  const test = (what: string, fn: (t: OnlineStoreUnderTest) => Promise<void>) =>
    Deno.test({
      name: `${name}: ${what}`,
      ignore: options.ignore ?? false,
      fn: async () => {
        const t = await setup();
        try {
          await fn(t);
        } finally {
          await t.cleanup();
        }
      },
    });

  test("write() then read() round-trips every value type and null", async ({ open }) => {
    const store = await open("p");
    const rowCount = Math.max(...Object.values(ALL_TYPES).map((v) => v.length));
    const features = FIELDS.map((f) =>
      Array.from({ length: rowCount }, (_, r) => ALL_TYPES[f.type][r % ALL_TYPES[f.type].length])
    );
    const ids = Array.from({ length: rowCount }, (_, r) => 1 + r);
    const rows = toOnlineRows(
      { name: "all_types", joinKeys: [ID], features: FIELDS },
      { keys: [ids], features, eventTs: ids.map((i) => new Date(1_700_000_000_000 + i)) },
    );
    assert.deepEqual(await store.write("all_types", rows), { written: rowCount, skipped: 0 });
    const records = await store.read(
      rows.map((r) => ({ view: "all_types", entityKey: r.entityKey })),
    );
    for (let r = 0; r < rowCount; r++) {
      const rec = records[r];
      assert.ok(rec, `row ${r} is missing`);
      assert.equal(rec.eventMicros, (1_700_000_000_000 + ids[r]!) * 1000);
      FIELDS.forEach((f, i) => {
        assert.deepEqual(
          decodeValue(rec.values[f.name]!, f.type),
          features[i]![r],
          `${f.name} row ${r}`,
        );
      });
    }
    assert.deepEqual(await store.read([{ view: "all_types", entityKey: "driver_id=999" }]), [null]);
    assert.deepEqual(await store.read([]), []);
  });

  test("write() keeps microsecond timestamps and created timestamps", async ({ open }) => {
    const store = await open("p");
    const rec = {
      eventMicros: 1_700_000_000_000_123,
      createdMicros: 1_700_000_000_500_001,
      values: { v: 1 },
    };
    await store.write("v", [{ entityKey: "driver_id=1", record: rec }]);
    assert.deepEqual(await readOne(store, "v", "driver_id=1"), rec);
    // 1 µs later is newer.
    const later = { ...rec, eventMicros: 1_700_000_000_000_124, values: { v: 2 } };
    assert.deepEqual(await store.write("v", [{ entityKey: "driver_id=1", record: later }]), {
      written: 1,
      skipped: 0,
    });
  });

  test("skip-if-not-newer compares event times at microseconds, from text and from Arrow", async ({ open }) => {
    const store = await open("p");
    const shape = { name: "v", joinKeys: [ID], features: [{ name: "v", type: "string" as const }] };
    const write = (eventTs: unknown, v: string, timestampUnit: "ms" | "us" = "ms") =>
      store.write(
        "v",
        toOnlineRows(shape, { keys: [[1]], features: [[v]], eventTs: [eventTs], timestampUnit }),
      );
    // As materialization hands them over: integer microseconds from an Arrow column.
    const base = Date.UTC(2024, 0, 1, 0, 0, 2) * 1000;
    assert.deepEqual(await write(base + 1, "arrow", "us"), { written: 1, skipped: 0 });
    // As pushes hand them over: text. The same microsecond is not newer; the next one is.
    assert.deepEqual(await write("2024-01-01T00:00:02.000001Z", "equal"), {
      written: 0,
      skipped: 1,
    });
    assert.deepEqual(await write("2024-01-01T00:00:02Z", "older"), { written: 0, skipped: 1 });
    assert.deepEqual(await write("2024-01-01T00:00:02.000002Z", "later"), {
      written: 1,
      skipped: 0,
    });
    // Digits beyond microseconds are dropped: .0000029 is .000002, not newer.
    assert.deepEqual(await write("2024-01-01T00:00:02.0000029Z", "ns"), {
      written: 0,
      skipped: 1,
    });
    const stored = await readOne(store, "v", "driver_id=1");
    assert.equal(stored?.values.v, "later");
    assert.equal(stored?.eventMicros, base + 2);
  });

  test("records stored by earlier versions (milliseconds) are read and compared at microseconds", async (t) => {
    if (!t.writeMillisRecord) return;
    const store = await t.open("p");
    const ms = Date.UTC(2024, 0, 1, 0, 0, 2);
    await t.writeMillisRecord("p", "v", "driver_id=1", {
      eventTs: ms + 0.001,
      createdTs: ms + 500,
      values: { v: "old" },
    });
    assert.deepEqual(await readOne(store, "v", "driver_id=1"), {
      eventMicros: ms * 1000 + 1,
      createdMicros: (ms + 500) * 1000,
      values: { v: "old" },
    });
    assert.deepEqual(await store.write("v", [row(1, ms * 1000 + 1, "equal")]), {
      written: 0,
      skipped: 1,
    });
    assert.deepEqual(await store.write("v", [row(1, ms * 1000 + 2, "later")]), {
      written: 1,
      skipped: 0,
    });
    assert.equal((await readOne(store, "v", "driver_id=1"))?.values.v, "later");
  });

  test("write() skips older and equal rows; a newer row wins", async ({ open }) => {
    const store = await open("p");
    assert.deepEqual(await store.write("v", [row(1, 100, "first")]), { written: 1, skipped: 0 });
    assert.deepEqual(await store.write("v", [row(1, 50, "older")]), { written: 0, skipped: 1 });
    assert.deepEqual(await store.write("v", [row(1, 100, "equal")]), { written: 0, skipped: 1 });
    assert.equal((await readOne(store, "v", "driver_id=1"))?.values.v, "first");
    assert.deepEqual(await store.write("v", [row(1, 101, "newer"), row(2, 1, "other")]), {
      written: 2,
      skipped: 0,
    });
    assert.equal((await readOne(store, "v", "driver_id=1"))?.values.v, "newer");
  });

  test("concurrent writers never replace newer rows with older ones", async ({ open }) => {
    const a = await open("p");
    const b = await open("p");
    try {
      const keys = 150;
      const stamps = Array.from({ length: 12 }, (_, i) => i + 1);
      // Each client writes every timestamp for every key, in opposite orders, all at once.
      const writes = stamps.flatMap((ts, i) => [
        a.write("v", Array.from({ length: keys }, (_, k) => row(k, ts, `a${ts}`))),
        b.write(
          "v",
          Array.from({ length: keys }, (_, k) => row(k, stamps[stamps.length - 1 - i]!, `b`)),
        ),
      ]);
      const results = await Promise.all(writes);
      const written = results.reduce((n, r) => n + r.written, 0);
      assert.ok(written >= keys, `wrote ${written} rows`);
      const records = await a.read(
        Array.from({ length: keys }, (_, k) => ({ view: "v", entityKey: `driver_id=${k}` })),
      );
      for (const rec of records) assert.equal(rec?.eventMicros, 12);
      // Older writes arriving after the newest are all skipped.
      const late = await b.write("v", Array.from({ length: keys }, (_, k) => row(k, 11, "late")));
      assert.deepEqual(late, { written: 0, skipped: keys });
    } finally {
      await b.close();
      await a.close();
    }
  });

  test("compound entity keys address distinct rows", async ({ open }) => {
    const store = await open("p");
    const keys: JoinKey[] = [
      { name: "customer_id", type: "string", entity: "customer" },
      { name: "driver_id", type: "int64", entity: "driver" },
    ];
    const k1 = entityKey(keys, ["c=1&x", 1001]);
    const k2 = entityKey(keys, ["c=1", 1001]);
    const k3 = entityKey(keys, ["c=1&x", 1002]);
    assert.equal(new Set([k1, k2, k3]).size, 3);
    await store.write("pair", [
      { entityKey: k1, record: record(1, { v: "one" }) },
      { entityKey: k2, record: record(1, { v: "two" }) },
      { entityKey: k3, record: record(1, { v: "three" }) },
    ]);
    const found = await store.read([k3, k1, k2].map((entityKey) => ({ view: "pair", entityKey })));
    assert.deepEqual(found.map((r) => r?.values.v), ["three", "one", "two"]);
  });

  test('canonical keys: int64 1001, 1001n and "1001" name one row', async ({ open }) => {
    const store = await open("p");
    await store.write("v", [row(1001, 5, "x")]);
    for (const id of ["1001", 1001n, " 1001", 1001.0]) {
      const key = entityKey([ID], [canonicalKeyValue(ID, id)]);
      assert.equal((await readOne(store, "v", key))?.values.v, "x", `id ${String(id)}`);
    }
    for (const bad of ["abc", 1001.5, true, null]) {
      assert.throws(() => canonicalKeyValue(ID, bad), (err: unknown) => {
        assert.ok(err instanceof LarderError);
        assert.equal(err.code, "INPUT_INVALID");
        assert.match(err.message, /join key "driver_id"/i);
        if (bad !== null) assert.ok(err.message.includes(JSON.stringify(bad)), err.message);
        return true;
      });
    }
  });

  test("deleteViews() removes only those views; deleteAll() only this project", async ({ open }) => {
    const store = await open("p");
    const other = await open("other_project");
    try {
      await store.write("v1", [row(1, 1, "a"), row(2, 1, "b")]);
      await store.write("v2", [row(1, 1, "c")]);
      await store.write("v10", [row(1, 1, "d")]);
      await other.write("v1", [row(1, 1, "e")]);
      await store.deleteViews(["v1"]);
      const keys = ["v1", "v2", "v10"].map((view) => ({ view, entityKey: "driver_id=1" }));
      assert.deepEqual((await store.read(keys)).map((r) => r?.values.v ?? null), [null, "c", "d"]);
      assert.equal((await readOne(other, "v1", "driver_id=1"))?.values.v, "e");
      await store.deleteAll();
      assert.deepEqual(await store.read(keys), [null, null, null]);
      assert.equal((await readOne(other, "v1", "driver_id=1"))?.values.v, "e");
      // A deleted row can be written again at any timestamp.
      assert.deepEqual(await store.write("v1", [row(1, 0, "again")]), { written: 1, skipped: 0 });
      await store.deleteViews([]);
      await store.deleteViews(["never_written"]);
    } finally {
      await other.close();
    }
  });

  test("viewsWithData() names the views holding rows of this project, never locks", async ({ open }) => {
    const store = await open("p");
    const other = await open("p_other");
    const lease = store.capabilities.locks
      ? await store.acquireLock("materialize:v3", 10_000)
      : null;
    try {
      assert.deepEqual(await store.viewsWithData(), { views: [], complete: true });
      await store.write("v1", [row(1, 1, "a"), row(2, 1, "b")]);
      await store.write("v10", [row(1, 1, "c")]);
      await store.write("v2", Array.from({ length: 3000 }, (_, i) => row(i, 1, "d")));
      await other.write("elsewhere", [row(1, 1, "e")]);
      assert.deepEqual(await store.viewsWithData(), { views: ["v1", "v10", "v2"], complete: true });
      // A small budget: what is found is right, and an incomplete look says so.
      const partial = await store.viewsWithData({ maxKeys: 1 });
      assert.ok(partial.views.every((v) => ["v1", "v10", "v2"].includes(v)), String(partial.views));
      if (partial.complete) assert.deepEqual(partial.views, ["v1", "v10", "v2"]);
      await store.deleteViews(["v1"]);
      assert.deepEqual((await store.viewsWithData()).views, ["v10", "v2"]);
      await store.deleteAll();
      assert.deepEqual(await store.viewsWithData(), { views: [], complete: true });
      assert.deepEqual((await other.viewsWithData()).views, ["elsewhere"]);
    } finally {
      await lease?.release();
      await other.close();
    }
  });

  test("rows expire key_ttl_seconds after they are written (when supported)", async ({ open }) => {
    const probe = await open("p");
    if (!probe.capabilities.ttl) return;
    const store = await open("p", { keyTtlSeconds: 1 });
    try {
      await store.write("v", [row(1, 1, "short-lived")]);
      assert.equal((await readOne(store, "v", "driver_id=1"))?.values.v, "short-lived");
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      assert.equal(await readOne(store, "v", "driver_id=1"), null);
    } finally {
      await store.close();
    }
  });

  test("a read of 100 entities x 5 views is one round trip (when supported)", async (t) => {
    const store = await t.open("p");
    if (!store.capabilities.singleRoundTripRead) return;
    assert.ok(t.requests, "a backend claiming single-round-trip reads must count its requests");
    const views = ["v1", "v2", "v3", "v4", "v5"];
    for (const view of views) {
      await store.write(view, Array.from({ length: 100 }, (_, k) => row(k, 1, `${view}-${k}`)));
    }
    const keys = views.flatMap((view) =>
      Array.from({ length: 100 }, (_, k) => ({ view, entityKey: `driver_id=${k}` }))
    );
    const before = t.requests();
    const records = await store.read(keys);
    assert.equal(t.requests() - before, 1);
    assert.deepEqual(
      records.map((r) => r?.values.v),
      keys.map((k) => `${k.view}-${k.entityKey.slice(10)}`),
    );
  });

  test("write() of many rows stores them all", async ({ open }) => {
    const store = await open("p");
    const rows = Array.from({ length: 5_000 }, (_, k) => row(k, 10, `value-${k}`));
    assert.deepEqual(await store.write("big", rows), { written: 5_000, skipped: 0 });
    assert.deepEqual(await store.write("big", rows), { written: 0, skipped: 5_000 });
    const records = await store.read(rows.map((r) => ({ view: "big", entityKey: r.entityKey })));
    assert.equal(records.filter((r, k) => r?.values.v === `value-${k}`).length, 5_000);
  });

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  test("acquireLock() is exclusive across clients until release()", async ({ open }) => {
    const a = await open("p");
    if (!a.capabilities.locks) return;
    const b = await open("p");
    const other = await open("other_project");
    try {
      const lease = await a.acquireLock("materialize:v", 10_000);
      assert.ok(lease);
      assert.equal(lease.name, "materialize:v");
      assert.equal(await b.acquireLock("materialize:v", 10_000), null);
      assert.equal(await a.acquireLock("materialize:v", 10_000), null, "not re-entrant");
      const elsewhere = await other.acquireLock("materialize:v", 10_000);
      assert.ok(elsewhere, "locks are per project");
      const otherName = await b.acquireLock("materialize:w", 10_000);
      assert.ok(otherName, "locks are per name");
      // Concurrent takers: exactly one wins.
      const race = await Promise.all([a, b, a, b].map((s) => s.acquireLock("race", 10_000)));
      assert.equal(race.filter((l) => l !== null).length, 1);
      await lease.release();
      const next = await b.acquireLock("materialize:v", 10_000);
      assert.ok(next, "a released lock is free");
      await lease.release();
      assert.equal(
        await a.acquireLock("materialize:v", 10_000),
        null,
        "a second release is a no-op",
      );
      for (const l of [next, elsewhere, otherName, ...race]) await l?.release();
    } finally {
      await other.close();
      await b.close();
    }
  });

  test("an expired lock is free, and its stale lease cannot extend or release the new one", async ({ open }) => {
    const a = await open("p");
    if (!a.capabilities.locks) return;
    const b = await open("p");
    try {
      const stale = await a.acquireLock("m", 200);
      assert.ok(stale);
      await sleep(400);
      const fresh = await b.acquireLock("m", 10_000);
      assert.ok(fresh, "the expired lock was taken");
      assert.equal(await stale.extend(10_000), false);
      await stale.release();
      assert.equal(await a.acquireLock("m", 10_000), null, "the stale release freed nothing");
      assert.equal(await fresh.extend(10_000), true);
      await fresh.release();
      const again = await a.acquireLock("m", 10_000);
      assert.ok(again);
      await again.release();
    } finally {
      await b.close();
    }
  });

  test("extend() keeps a lock past its first expiry", async ({ open }) => {
    const a = await open("p");
    if (!a.capabilities.locks) return;
    const b = await open("p");
    try {
      // Wide margins: the extend (an HTTP round trip on Redis) must land before the first
      // expiry on a busy machine, and the check well after it.
      const lease = await a.acquireLock("m", 1_000);
      assert.ok(lease);
      await sleep(100);
      assert.equal(await lease.extend(5_000), true);
      await sleep(1_200);
      assert.equal(await b.acquireLock("m", 10_000), null, "extended past the first 1000 ms");
      await lease.release();
      const next = await b.acquireLock("m", 10_000);
      assert.ok(next);
      await next.release();
    } finally {
      await b.close();
    }
  });

  test("inspectLock() names the holder and the expiry; breakLock() breaks only that holding", async ({ open }) => {
    const a = await open("p");
    if (!a.capabilities.locks) return;
    const b = await open("p");
    try {
      assert.equal(await b.inspectLock("m"), null, "free");
      const before = Date.now();
      const lease = await a.acquireLock("m", 10_000);
      assert.ok(lease);
      const state = await b.inspectLock("m");
      assert.ok(state);
      assert.equal(state.name, "m");
      assert.deepEqual(
        { host: state.holder?.host, pid: state.holder?.pid },
        { host: Deno.hostname(), pid: Deno.pid },
      );
      assert.ok(state.holder!.since >= before - 1000 && state.holder!.since <= Date.now());
      assert.ok(state.expiresAt > Date.now() && state.expiresAt <= Date.now() + 10_000 + 1000);
      // Breaking a holding that is gone does nothing: the lock taken since stays.
      await lease.release();
      assert.equal(await b.inspectLock("m"), null, "released");
      const next = await a.acquireLock("m", 10_000);
      assert.ok(next);
      assert.equal(await b.breakLock("m", state.token), false, "a stale token breaks nothing");
      assert.equal(await b.acquireLock("m", 10_000), null, "still held");
      // Breaking the current holding frees the lock; the broken lease can no longer extend it.
      const current = await b.inspectLock("m");
      assert.ok(current);
      assert.equal(await b.breakLock("m", current.token), true);
      assert.equal(await next.extend(10_000), false, "the broken lease lost the lock");
      const taken = await b.acquireLock("m", 10_000);
      assert.ok(taken, "a broken lock is free");
      await next.release();
      assert.ok(await a.inspectLock("m"), "the broken lease's release left the new lock");
      await taken.release();
    } finally {
      await b.close();
    }
  });

  test("breakLock() breaks nothing when the holder renewed the lock since inspectLock()", async ({ open }) => {
    const a = await open("p");
    if (!a.capabilities.locks) return;
    const b = await open("p");
    try {
      const lease = await a.acquireLock("m", 10_000);
      assert.ok(lease);
      const state = await b.inspectLock("m");
      assert.ok(state);
      // The holder is alive: it renews after the inspection, before the break.
      assert.equal(await lease.extend(10_000), true);
      assert.equal(await b.breakLock("m", state.token), false, "renewed since inspected");
      assert.equal(await b.acquireLock("m", 10_000), null, "still held");
      assert.equal(await lease.extend(10_000), true, "the holder still holds it");
      // Inspected again after the renewal, it breaks.
      const renewed = await b.inspectLock("m");
      assert.ok(renewed);
      assert.notEqual(renewed.token, state.token);
      assert.deepEqual(renewed.holder, state.holder);
      assert.equal(await b.breakLock("m", renewed.token), true);
      assert.equal(await lease.extend(10_000), false, "the broken lease lost the lock");
      // A renewed lease still releases its own lock.
      const again = await a.acquireLock("m", 10_000);
      assert.ok(again);
      assert.equal(await again.extend(10_000), true);
      assert.equal(await again.extend(10_000), true);
      await again.release();
      assert.equal(await b.inspectLock("m"), null, "released after renewals");
    } finally {
      await b.close();
    }
  });

  test("deleteViews() and deleteAll() remove rows, never locks", async ({ open }) => {
    const store = await open("p");
    if (!store.capabilities.locks) return;
    const lease = await store.acquireLock("materialize:v", 10_000);
    assert.ok(lease);
    await store.write("v", [row(1, 1, "a")]);
    await store.deleteViews(["v", "materialize", "_locks"]);
    await store.deleteAll();
    assert.equal(await readOne(store, "v", "driver_id=1"), null);
    assert.equal(await store.acquireLock("materialize:v", 10_000), null, "still held");
    await lease.release();
  });
}
