/**
 * Materialization against real Parquet files (written with `writeTable`), the real DuckDB
 * offline engine, Deno KV files, and for the failure test Redis over HTTP (real bridge, real
 * `redis-server` killed mid-run).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  incrementalStart,
  materialize,
  materializeIncremental,
  type MaterializeProgress,
  progressLine,
  terminalProgress,
} from "../../engine/materialize/mod.ts";
import { DuckDBOfflineStore } from "../../engine/offline/mod.ts";
import {
  DenoKvOnlineStore,
  getOnlineFeatures,
  type OnlineStore,
  RedisOnlineStore,
} from "../../engine/online/mod.ts";
import { writeTable } from "../../engine/table_writer.ts";
import { startBridge } from "../../server/redis_http/bridge.ts";
import type { LoadedTransform } from "../../engine/mod.ts";
import {
  emptyDocument,
  LarderError,
  type OnDemandFeatureViewSpec,
  type Registry,
  type RegistryDocument,
} from "../../registry/mod.ts";
import { skipWithoutRedis, startRedisServer } from "../support/redis_server.ts";
import {
  documentWith,
  entity,
  featureView,
  fileSource,
  pushSource,
  registryWith,
  t,
} from "./_fixtures.ts";

const offline = new DuckDBOfflineStore({ memoryLimit: "512MB" });
const HOUR = 3_600_000;

function document(options: { ttlSeconds?: number } = {}): RegistryDocument {
  return documentWith({
    entities: [entity("driver", ["driver_id"])],
    sources: [
      fileSource("stats_src", "data/stats.parquet", { createdTimestampColumn: "created" }),
      pushSource("stats_push", "stats_src"),
    ],
    views: [
      featureView("stats", {
        entities: ["driver"],
        source: "stats_src",
        ttlSeconds: options.ttlSeconds ?? 0,
        features: [{ name: "value", type: "int64" }, { name: "rate", type: "float64" }],
      }),
      featureView("stats_pushed", {
        entities: ["driver"],
        source: "stats_push",
        features: [{ name: "value", type: "int64" }],
      }),
      featureView("stats_offline", {
        entities: ["driver"],
        source: "stats_src",
        online: false,
        features: [{ name: "value", type: "int64" }],
      }),
    ],
  });
}

interface Row {
  driver_id: number;
  event_timestamp: Date;
  created: Date | null;
  value: number;
}

async function writeStats(dir: string, rows: Row[]): Promise<void> {
  await writeTable(join(dir, "data", "stats.parquet"), {
    driver_id: rows.map((r) => r.driver_id),
    event_timestamp: rows.map((r) => r.event_timestamp),
    created: rows.map((r) => r.created),
    value: rows.map((r) => r.value),
    rate: rows.map((r) => r.value / 10),
  }, {
    driver_id: "int64",
    event_timestamp: "timestamp",
    created: "timestamp",
    value: "int64",
    rate: "float64",
  });
}

interface Harness {
  dir: string;
  registry: Registry;
  online: OnlineStore;
  deps: {
    registry: Registry;
    online: OnlineStore;
    offline: () => Promise<DuckDBOfflineStore>;
    repoDir: string;
    now: () => Date;
  };
}

async function harness(
  rows: Row[],
  options: {
    ttlSeconds?: number;
    now?: Date;
    online?: OnlineStore;
    onDemand?: OnDemandFeatureViewSpec[];
  } = {},
): Promise<Harness & { [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "larder-materialize-" });
  await writeStats(dir, rows);
  const doc = document(options);
  for (const spec of options.onDemand ?? []) {
    doc.objects.onDemandFeatureView[spec.name] = {
      spec,
      meta: {
        createdAt: "2024-01-01T00:00:00.000Z",
        updatedAt: "2024-01-01T00:00:00.000Z",
        hash: "",
      },
    };
  }
  const registry = await registryWith(dir, doc);
  const online = options.online ??
    await DenoKvOnlineStore.open({ project: "test_project", path: join(dir, "data", "online.kv") });
  const now = options.now ?? t("2024-01-10T00:00:00");
  return {
    dir,
    registry,
    online,
    deps: {
      registry,
      online,
      offline: () => Promise.resolve(offline),
      repoDir: dir,
      now: () => now,
    },
    async [Symbol.asyncDispose]() {
      await online.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function values(h: Harness, ids: number[], view = "stats"): Promise<unknown[]> {
  const res = await getOnlineFeatures(
    { registry: h.registry, online: h.online, now: h.deps.now },
    { features: [`${view}:value`], entities: { driver_id: ids } },
  );
  return res.toRows().map((r) => r.value);
}

Deno.test("materialize() copies the newest row per key in an inclusive window; ties go to created", async () => {
  await using h = await harness([
    { driver_id: 1, event_timestamp: t("2024-01-01T23:59:59.999"), created: null, value: 10 },
    { driver_id: 1, event_timestamp: t("2024-01-02T00:00:00"), created: null, value: 11 },
    { driver_id: 1, event_timestamp: t("2024-01-03T00:00:00"), created: null, value: 12 },
    { driver_id: 1, event_timestamp: t("2024-01-03T00:00:00.001"), created: null, value: 13 },
    {
      driver_id: 2,
      event_timestamp: t("2024-01-02T12:00:00"),
      created: t("2024-01-02T13:00:00"),
      value: 21,
    },
    {
      driver_id: 2,
      event_timestamp: t("2024-01-02T12:00:00"),
      created: t("2024-01-02T14:00:00"),
      value: 22,
    },
    { driver_id: 2, event_timestamp: t("2024-01-02T12:00:00"), created: null, value: 23 },
    { driver_id: 3, event_timestamp: t("2024-01-02T00:00:00"), created: null, value: 31 },
    { driver_id: 4, event_timestamp: t("2024-01-01T00:00:00"), created: null, value: 41 },
    { driver_id: 5, event_timestamp: t("2024-01-04T00:00:00"), created: null, value: 51 },
  ]);
  const result = await materialize(h.deps, {
    start: t("2024-01-02T00:00:00"),
    end: t("2024-01-03T00:00:00"),
    views: ["stats"],
  });
  assert.equal(result.views.length, 1);
  assert.deepEqual(
    { ...result.views[0]!, seconds: 0 },
    {
      view: "stats",
      start: t("2024-01-02T00:00:00"),
      end: t("2024-01-03T00:00:00"),
      rows: 3,
      written: 3,
      skipped: 0,
      nullKeyRows: 0,
      seconds: 0,
      emptyWindow: false,
    },
  );
  assert.deepEqual(await values(h, [1, 2, 3, 4, 5]), [12, 22, 31, null, null]);
  const res = await getOnlineFeatures(h.deps, {
    features: ["stats:rate"],
    entities: { driver_id: [1] },
  });
  assert.deepEqual(res.toJSON().results[1]!.event_timestamps, ["2024-01-03T00:00:00Z"]);
  const doc = await h.registry.read({ fresh: true });
  assert.deepEqual({ ...doc.materializations }, {
    stats: [{
      start: "2024-01-02T00:00:00.000Z",
      end: "2024-01-03T00:00:00.000Z",
      recordedAt: "2024-01-10T00:00:00.000Z",
    }],
  });
});

Deno.test("materialize() again is idempotent; an older window never overwrites newer rows", async () => {
  await using h = await harness([
    { driver_id: 1, event_timestamp: t("2024-01-02T00:00:00"), created: null, value: 1 },
    { driver_id: 1, event_timestamp: t("2024-01-05T00:00:00"), created: null, value: 2 },
  ]);
  const window = { start: t("2024-01-01"), end: t("2024-01-06"), views: ["stats"] };
  await materialize(h.deps, window);
  const again = await materialize(h.deps, window);
  assert.deepEqual([again.views[0]!.written, again.views[0]!.skipped], [0, 1]);
  const older = await materialize(h.deps, {
    start: t("2024-01-01"),
    end: t("2024-01-03"),
    views: ["stats"],
  });
  assert.deepEqual([older.views[0]!.rows, older.views[0]!.written], [1, 0]);
  assert.deepEqual(await values(h, [1]), [2]);
  const doc = await h.registry.read({ fresh: true });
  assert.equal(doc.materializations.stats?.length, 3);
});

Deno.test("materialize() selects online views, reads push sources' batch sources, checks names", async () => {
  await using h = await harness([
    { driver_id: 7, event_timestamp: t("2024-01-02T00:00:00"), created: null, value: 70 },
  ]);
  const result = await materialize(h.deps, { start: t("2024-01-01"), end: t("2024-01-03") });
  assert.deepEqual(result.views.map((v) => [v.view, v.rows]), [["stats", 1], ["stats_pushed", 1]]);
  assert.deepEqual(await values(h, [7], "stats_pushed"), [70]);
  await assert.rejects(
    materialize(h.deps, { start: t("2024-01-01"), end: t("2024-01-03"), views: ["nope"] }),
    (err: unknown) =>
      err instanceof LarderError && err.code === "NOT_FOUND" &&
      err.message ===
        'Cannot find feature view "nope": the registry has "stats", "stats_offline", "stats_pushed"',
  );
  await assert.rejects(
    materialize(h.deps, { start: t("2024-01-01"), end: t("2024-01-03"), views: ["stats_offline"] }),
    { code: "INPUT_INVALID" },
  );
  await assert.rejects(
    materialize(h.deps, { start: t("2024-01-03"), end: t("2024-01-01") }),
    { code: "INPUT_INVALID", message: /start 2024-01-03T00:00:00.000Z is after end/ },
  );
});

Deno.test("materialize() with disableEventTimestamp takes the window from 1970 to now, as Feast does", async () => {
  // now is 2024-01-10T00:00:00Z (the harness clock).
  await using h = await harness([
    { driver_id: 1, event_timestamp: t("1969-12-31T23:00:00"), created: null, value: 10 },
    { driver_id: 1, event_timestamp: t("2024-01-01T00:00:00"), created: null, value: 11 },
    { driver_id: 1, event_timestamp: t("2024-01-05T00:00:00"), created: null, value: 12 },
    { driver_id: 2, event_timestamp: t("1969-12-31T23:00:00"), created: null, value: 20 },
    { driver_id: 3, event_timestamp: t("2024-01-11T00:00:00"), created: null, value: 30 },
  ]);
  const result = await materialize(h.deps, { disableEventTimestamp: true, views: ["stats"] });
  const view = result.views[0]!;
  assert.deepEqual([view.start, view.end, view.rows], [
    t("1970-01-01T00:00:00"),
    t("2024-01-10T00:00:00"),
    1,
  ]);
  // Rows keep their event times; before the epoch or after now they are outside the window.
  assert.deepEqual(await values(h, [1, 2, 3]), [12, null, null]);
  const res = await getOnlineFeatures(h.deps, {
    features: ["stats:value"],
    entities: { driver_id: [1] },
  });
  assert.deepEqual(res.toJSON().results[1]!.event_timestamps, ["2024-01-05T00:00:00Z"]);
  const doc = await h.registry.read({ fresh: true });
  assert.deepEqual({ ...doc.materializations }, {
    stats: [{
      start: "1970-01-01T00:00:00.000Z",
      end: "2024-01-10T00:00:00.000Z",
      recordedAt: "2024-01-10T00:00:00.000Z",
    }],
  });
  // So the next incremental run starts at that now.
  const next = await materializeIncremental(h.deps, { end: t("2024-01-12"), views: ["stats"] });
  assert.deepEqual([next.views[0]!.start, next.views[0]!.rows], [t("2024-01-10T00:00:00"), 1]);
  assert.deepEqual(await values(h, [3]), [30]);
});

Deno.test("materialize() leaves out source rows with a NULL join key and counts them per view", async () => {
  const noKey = null as unknown as number;
  await using h = await harness([
    { driver_id: 1, event_timestamp: t("2024-01-02T00:00:00"), created: null, value: 10 },
    { driver_id: noKey, event_timestamp: t("2024-01-02T01:00:00"), created: null, value: 99 },
    { driver_id: noKey, event_timestamp: t("2024-01-02T02:00:00"), created: null, value: 98 },
    // Outside the window: not counted.
    { driver_id: noKey, event_timestamp: t("2024-01-05T00:00:00"), created: null, value: 97 },
    { driver_id: 2, event_timestamp: t("2024-01-02T03:00:00"), created: null, value: 20 },
  ]);
  const result = await materialize(h.deps, { start: t("2024-01-01"), end: t("2024-01-03") });
  assert.deepEqual(
    result.views.map((v) => [v.view, v.rows, v.written, v.nullKeyRows]),
    [["stats", 2, 2, 2], ["stats_pushed", 2, 2, 2]],
  );
  assert.deepEqual(await values(h, [1, 2]), [10, 20]);
  const doc = await h.registry.read({ fresh: true });
  assert.equal(doc.materializations.stats?.length, 1, "the window was recorded");
});

Deno.test("materialize() and materializeIncremental() fail with NOT_FOUND on an empty registry", async () => {
  await using h = await harness([]);
  const doc = await h.registry.read({ fresh: true });
  const empty = emptyDocument(doc.project);
  await h.registry.update((d) => ({ ...d, objects: empty.objects }));
  const emptyRegistry = {
    code: "NOT_FOUND",
    message: "Cannot materialize: the registry is empty: run apply first",
  };
  await assert.rejects(
    materialize(h.deps, { start: t("2024-01-01"), end: t("2024-01-03") }),
    emptyRegistry,
  );
  await assert.rejects(
    materialize(h.deps, { start: t("2024-01-01"), end: t("2024-01-03"), views: [] }),
    emptyRegistry,
  );
  await assert.rejects(materializeIncremental(h.deps, { end: t("2024-01-03") }), emptyRegistry);
  // Entities alone: there are still no feature views to materialize.
  await h.registry.update((d) => ({
    ...d,
    objects: { ...d.objects, entity: doc.objects.entity },
  }));
  await assert.rejects(materialize(h.deps, { start: t("2024-01-01"), end: t("2024-01-03") }), {
    code: "NOT_FOUND",
    message: "Cannot materialize: the registry has no feature views: run apply first",
  });
});

Deno.test("materializeIncremental() starts at the last end, else now - ttl, else now - 52 weeks", async () => {
  const now = t("2024-06-01T00:00:00");
  const rows: Row[] = [
    { driver_id: 1, event_timestamp: new Date(now.getTime() - 3 * HOUR), created: null, value: 1 },
    { driver_id: 2, event_timestamp: new Date(now.getTime() - 1 * HOUR), created: null, value: 2 },
    {
      driver_id: 3,
      event_timestamp: new Date(now.getTime() - 53 * 7 * 24 * HOUR),
      created: null,
      value: 3,
    },
    {
      driver_id: 4,
      event_timestamp: new Date(now.getTime() - 51 * 7 * 24 * HOUR),
      created: null,
      value: 4,
    },
  ];
  {
    // ttl 2h: start = now - 2h.
    await using h = await harness(rows, { ttlSeconds: 7200, now });
    const result = await materializeIncremental(h.deps, { end: now, views: ["stats"] });
    assert.deepEqual(result.views[0]!.start, new Date(now.getTime() - 2 * HOUR));
    assert.deepEqual(await values(h, [1, 2, 3, 4]), [null, 2, null, null]);
    // Next run starts where this one ended (inclusive).
    const doc = await h.registry.read({ fresh: true });
    const view = doc.objects.featureView.stats!.spec;
    assert.deepEqual(
      incrementalStart(view, {
        intervals: doc.materializations.stats ?? [],
        now: t("2030-01-01"),
      }),
      now,
    );
    const later = new Date(now.getTime() + HOUR);
    const next = await materializeIncremental(h.deps, { end: later, views: ["stats"] });
    assert.deepEqual([next.views[0]!.start, next.views[0]!.end, next.views[0]!.rows], [
      now,
      later,
      0,
    ]);
    // End before the last recorded end: nothing runs, nothing is recorded.
    const stale = await materializeIncremental(h.deps, { end: t("2024-05-01"), views: ["stats"] });
    assert.equal(stale.views[0]!.emptyWindow, true);
    assert.equal((await h.registry.read({ fresh: true })).materializations.stats?.length, 2);
  }
  {
    // ttl 0: start = now - 52 weeks.
    await using h = await harness(rows, { ttlSeconds: 0, now });
    const result = await materializeIncremental(h.deps, { end: now, views: ["stats"] });
    assert.deepEqual(result.views[0]!.start, new Date(now.getTime() - 52 * 7 * 24 * HOUR));
    assert.deepEqual(await values(h, [1, 2, 3, 4]), [1, 2, null, 4]);
  }
});

Deno.test("materialize() streams batches and reports progress", async () => {
  const rows: Row[] = Array.from({ length: 2_500 }, (_, i) => ({
    driver_id: i,
    event_timestamp: t("2024-01-02T00:00:00"),
    created: null,
    value: i,
  }));
  await using h = await harness(rows);
  const events: MaterializeProgress[] = [];
  await materialize(h.deps, {
    start: t("2024-01-01"),
    end: t("2024-01-03"),
    views: ["stats"],
    batchRows: 1000,
    onProgress: (p) => events.push(p),
  });
  assert.deepEqual(
    events.map((e) => [e.phase, e.rows, e.totalRows]),
    [["start", 0, 2500], ["rows", 1000, 2500], ["rows", 2000, 2500], ["rows", 2500, 2500], [
      "done",
      2500,
      2500,
    ]],
  );
  assert.deepEqual(await values(h, [0, 1234, 2499]), [0, 1234, 2499]);
  assert.match(
    progressLine({ ...events[2]!, elapsedMs: 1000 }),
    /^\[1\/1\] stats: 2,000\/2,500 rows \(80%\), 2,000 rows\/s, ETA 0s$/,
  );
});

Deno.test("terminalProgress() draws on a terminal and stays silent otherwise", () => {
  const written: string[] = [];
  const output = (terminal: boolean) => ({
    isTerminal: () => terminal,
    writeSync: (bytes: Uint8Array) => {
      written.push(new TextDecoder().decode(bytes));
      return bytes.length;
    },
  });
  assert.equal(terminalProgress({ output: output(false) }), undefined);
  const draw = terminalProgress({ output: output(true), columns: 120, intervalMs: 0 })!;
  const base = {
    view: "stats",
    viewIndex: 1,
    viewCount: 2,
    rows: 500,
    totalRows: 1000,
    elapsedMs: 500,
    start: t("2024-01-01"),
    end: t("2024-01-02"),
  };
  draw({ ...base, phase: "rows" });
  draw({ ...base, phase: "done", rows: 1000, elapsedMs: 1000 });
  assert.deepEqual(written, [
    "\r\x1b[2K[1/2] stats: 500/1,000 rows (50%), 1,000 rows/s, ETA 1s",
    "\r\x1b[2K[1/2] stats: 1,000/1,000 rows (100%), 1,000 rows/s, done in 1s\n",
  ]);
});

/** A write-time on-demand view over "stats" and a loader of its transform that counts calls. */
function doubled(options: { failAt?: number } = {}) {
  const spec: OnDemandFeatureViewSpec = {
    name: "stats_doubled",
    description: "",
    tags: {},
    owner: "",
    sources: [{ kind: "featureView", name: "stats", features: ["value"] }],
    features: [{ name: "value_x2", type: "int64" }, { name: "label", type: "string" }],
    transformHash: "",
    writeToOnlineStore: true,
  };
  const calls = { transform: 0, rows: 0 };
  const transform: LoadedTransform = {
    name: spec.name,
    features: spec.features,
    transform: (c) => {
      calls.transform++;
      const value = c.value as readonly (number | null)[];
      if (options.failAt !== undefined && value.includes(options.failAt)) {
        throw new Error(`value ${options.failAt}`);
      }
      calls.rows += value.length;
      return {
        value_x2: value.map((v) => v === null ? null : v * 2),
        label: value.map((v) => v === null ? null : `v${v}`),
      };
    },
  };
  return {
    spec,
    calls,
    transforms: (names: readonly string[]) => {
      assert.deepEqual(names, [spec.name]);
      return Promise.resolve(new Map([[spec.name, transform]]));
    },
  };
}

Deno.test("materialize() writes write-time on-demand outputs with each batch, same keys and timestamps", async () => {
  const od = doubled();
  const rows: Row[] = Array.from({ length: 2_500 }, (_, i) => ({
    driver_id: i,
    event_timestamp: new Date(t("2024-01-02T00:00:00").getTime() + i),
    created: i === 7 ? t("2024-01-05T00:00:00") : null,
    value: i,
  }));
  await using h = await harness(rows, { onDemand: [od.spec] });
  const deps = { ...h.deps, transforms: od.transforms };
  const window = {
    start: t("2024-01-01"),
    end: t("2024-01-03"),
    views: ["stats"],
    batchRows: 1000,
  };
  const result = await materialize(deps, window);
  assert.deepEqual(result.views[0]!.onDemand, [{
    view: "stats_doubled",
    written: 2500,
    skipped: 0,
  }]);
  assert.deepEqual([od.calls.transform, od.calls.rows], [3, 2500]);

  // The store holds the outputs under the on-demand view's name, with the source row's times.
  const [stored, created] = await h.online.read([
    { view: "stats_doubled", entityKey: "driver_id=1234" },
    { view: "stats_doubled", entityKey: "driver_id=7" },
  ]);
  assert.deepEqual(stored, {
    eventMicros: (t("2024-01-02T00:00:00").getTime() + 1234) * 1000,
    createdMicros: null,
    values: { value_x2: 2468, label: "v1234" },
  });
  assert.equal(created!.createdMicros, t("2024-01-05T00:00:00").getTime() * 1000);

  // Reads take the stored values: this caller cannot even run transforms.
  const res = await getOnlineFeatures(
    { registry: h.registry, online: h.online, now: h.deps.now },
    {
      features: ["stats_doubled:value_x2", "stats:value"],
      entities: { driver_id: [0, 2499, 9999] },
    },
  );
  assert.deepEqual(res.toRows(), [
    { driver_id: 0, value_x2: 0, value: 0 },
    { driver_id: 2499, value_x2: 4998, value: 2499 },
    { driver_id: 9999, value_x2: null, value: null },
  ]);
  assert.deepEqual(res.toJSON().results[1]!.statuses, ["PRESENT", "PRESENT", "NOT_FOUND"]);
  assert.equal(od.calls.transform, 3);

  // Again: the outputs are skipped as not newer, like the view's rows.
  const again = await materialize(deps, window);
  assert.deepEqual(again.views[0]!.onDemand, [{
    view: "stats_doubled",
    written: 0,
    skipped: 2500,
  }]);
});

Deno.test("materialize() records nothing when a write-time transform fails or cannot be loaded", async () => {
  const od = doubled({ failAt: 1500 });
  const rows: Row[] = Array.from({ length: 2_000 }, (_, i) => ({
    driver_id: i,
    event_timestamp: t("2024-01-02T00:00:00"),
    created: null,
    value: i,
  }));
  await using h = await harness(rows, { onDemand: [od.spec] });
  const window = {
    start: t("2024-01-01"),
    end: t("2024-01-03"),
    views: ["stats"],
    batchRows: 1000,
  };
  await assert.rejects(
    materialize({ ...h.deps, transforms: od.transforms }, window),
    (err: unknown) =>
      err instanceof LarderError && err.code === "DEFINITION_INVALID" &&
      err.message ===
        'Materialization of feature view "stats" failed, and nothing was recorded for it (run it again: rows already written are skipped): On-demand feature view "stats_doubled": the transform threw: value 1500',
  );
  assert.deepEqual(Object.keys((await h.registry.read({ fresh: true })).materializations), []);

  // Without a transform loader, the view is not written at all (its outputs would go stale).
  await using fresh = await harness(rows, { onDemand: [od.spec] });
  await assert.rejects(
    materialize(fresh.deps, window),
    (err: unknown) =>
      err instanceof LarderError && err.code === "INPUT_INVALID" &&
      err.message.includes(
        'Feature view "stats" feeds on-demand feature view "stats_doubled" that writes to the online store: running its transform needs the repo\'s definitions',
      ),
  );
  assert.deepEqual(await fresh.online.read([{ view: "stats", entityKey: "driver_id=1" }]), [null]);
  assert.deepEqual(Object.keys((await fresh.registry.read({ fresh: true })).materializations), []);
});

const TOKEN = "materialize-test-token";

Deno.test({
  name:
    "materialize() fails with UNAVAILABLE when Redis dies mid-run, records nothing, and a rerun completes",
  ignore: skipWithoutRedis("tests/online/materialize_test.ts"),
  async fn() {
    const server = await startRedisServer();
    const bridge = await startBridge({ port: 0, redisUrl: server.url, token: TOKEN });
    try {
      const online = new RedisOnlineStore({
        project: "test_project",
        url: bridge.url,
        token: TOKEN,
        retries: 0,
        commandsPerRequest: 5,
        rowsPerCommand: 100,
        writeConcurrency: 1,
      });
      const count = 20_000;
      await using h = await harness(
        Array.from({ length: count }, (_, i) => ({
          driver_id: i,
          event_timestamp: t("2024-01-02T00:00:00"),
          created: null,
          value: i,
        })),
        { online },
      );
      const window = {
        start: t("2024-01-01"),
        end: t("2024-01-03"),
        views: ["stats"],
        batchRows: 2000,
      };
      let killed = false;
      await assert.rejects(
        materialize(h.deps, {
          ...window,
          onProgress: (p) => {
            if (p.phase === "rows" && !killed) {
              killed = true;
              void server.kill();
            }
          },
        }),
        (err: unknown) => {
          assert.ok(err instanceof LarderError, String(err));
          assert.equal(err.code, "UNAVAILABLE", err.message);
          assert.match(
            err.message,
            /^Materialization of feature view "stats" failed, and nothing was recorded for it/,
          );
          assert.ok(err.message.includes(`online store (redis ${bridge.url})`), err.message);
          return true;
        },
      );
      assert.ok(killed);
      assert.deepEqual(Object.keys((await h.registry.read({ fresh: true })).materializations), []);

      await server.restart();
      // Wait until the bridge has reconnected.
      for (let i = 0;; i++) {
        try {
          await online.read([{ view: "stats", entityKey: "driver_id=0" }]);
          break;
        } catch (err) {
          if (i > 100) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      const rerun = await materialize(h.deps, window);
      assert.deepEqual([rerun.views[0]!.rows, rerun.views[0]!.written], [count, count]);
      const ids = Array.from({ length: count }, (_, i) => i);
      assert.deepEqual(await values(h, ids), ids);
      assert.equal((await h.registry.read({ fresh: true })).materializations.stats?.length, 1);
    } finally {
      await bridge.close();
      await server.stop();
    }
  },
});

Deno.test("offline store closes", async () => {
  await offline.close();
});
