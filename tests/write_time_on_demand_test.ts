/**
 * On-demand views with `writeToOnlineStore: true`, end to end on a real repo: Parquet files,
 * DuckDB, a SQLite file, definitions imported from the repo. The transform counts its calls
 * in a counter the definitions module exports, so the tests see whether reads run it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { FeatureStore, LarderError, writeTable } from "../mod.ts";
import { getOnlineFeatures } from "../engine/online/mod.ts";
import { tempRepo } from "./support/repo.ts";

const HEADER = `
import { entity, featureView, fileSource, onDemandFeatureView, pushSource } from "larder";
export const calls = { count: 0 };
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
export const source = fileSource({
  name: "stats_source",
  path: "data/stats",
  timestampField: "event_timestamp",
  createdTimestampColumn: "created",
});
export const push = pushSource({ name: "stats_push", batchSource: source });
export const stats = featureView({
  name: "stats",
  entities: [driver],
  ttl: "2h",
  schema: { conv_rate: "float32", trips: "int64", tier: "string" },
  source: push,
});
`;

/** `derived` stored online (unless `writeToOnlineStore` says otherwise); `live` computed per read. */
function features(options: { derived?: "stored" | "computed" | "none" } = {}): string {
  const derived = options.derived ?? "stored";
  return HEADER + (derived === "none" ? "" : `
export const derived = onDemandFeatureView({
  name: "derived",
  sources: [stats],
  schema: { score: "float64", label: "string", busy: "bool", conv_pct: "float32" },
  writeToOnlineStore: ${derived === "stored"},
  transform: (c) => {
    calls.count++;
    if (c.tier.includes("boom")) throw new Error("boom tier");
    return {
      score: c.conv_rate.map((r, i) => {
        const trips = c.trips[i];
        return r === null || trips == null ? null : r * trips;
      }),
      label: c.tier.map((t, i) => t === null ? null : \`\${t}:\${c.trips[i] ?? "?"}\`),
      busy: c.trips.map((t) => t === null ? null : t > 5),
      conv_pct: c.conv_rate.map((r) => r === null ? null : r * 100),
    };
  },
});
`) + `
export const live = onDemandFeatureView({
  name: "live",
  sources: [stats.select(["trips"])],
  schema: { trips_x2: "int64" },
  transform: (c) => {
    calls.count++;
    return { trips_x2: c.trips.map((t) => t === null ? null : t * 2) };
  },
});
`;
}

const T = (time: string) => new Date(`2024-01-01T${time}Z`);

/** Source rows: driver 1 twice, drivers 2-4 once (with nulls), driver 5 never. */
async function writeStats(dir: string): Promise<void> {
  const rows = [
    { id: 1, ts: "00:00:00", conv: 0.1, trips: 3, tier: "gold" },
    { id: 1, ts: "02:00:00", conv: 0.25, trips: 8, tier: "gold" },
    { id: 2, ts: "00:30:00", conv: null, trips: 4, tier: "silver" },
    { id: 3, ts: "01:00:00", conv: 0.1, trips: null, tier: null },
    { id: 4, ts: "01:30:00", conv: 0.75, trips: 10, tier: "bronze" },
  ];
  await writeTable(join(dir, "data", "stats", "part-0.parquet"), {
    driver_id: rows.map((r) => r.id),
    event_timestamp: rows.map((r) => T(r.ts)),
    created: rows.map((r) => new Date(T(r.ts).getTime() + 1000)),
    conv_rate: rows.map((r) => r.conv),
    trips: rows.map((r) => r.trips),
    tier: rows.map((r) => r.tier),
  }, {
    driver_id: "int64",
    event_timestamp: "timestamp",
    created: "timestamp",
    conv_rate: "float32",
    trips: "int64",
    tier: "string",
  });
}

/** A repo with `features.ts`, applied, opened on the module the test also holds. */
async function openRepo(text: string) {
  const repo = await tempRepo({ "features.ts": text });
  await writeStats(repo.dir);
  const mod = await import(pathToFileURL(join(repo.dir, "features.ts")).href);
  const store = await FeatureStore.open({ repo: repo.dir, definitions: { "features.ts": mod } });
  await store.apply();
  return {
    repo,
    store,
    calls: mod.calls as { count: number },
    async [Symbol.asyncDispose]() {
      await store.close();
      await repo.remove();
    },
  };
}

const DERIVED = ["derived:score", "derived:label", "derived:busy", "derived:conv_pct"];
const IDS = [1, 2, 3, 4, 5];

Deno.test("writeToOnlineStore: materialize stores the outputs and online reads return them without running the transform", async () => {
  await using r = await openRepo(features());
  const { store, calls } = r;
  const result = await store.materialize({ start: T("00:00:00"), end: T("02:00:00") });
  assert.deepEqual(result.views.map((v) => [v.view, v.rows, v.onDemand]), [
    ["stats", 4, [{ view: "derived", written: 4, skipped: 0 }]],
  ]);
  assert.equal(calls.count, 1);

  // The online store holds the outputs, keyed and timed like the source rows.
  const online = await store.onlineStore();
  const [d1, d3, d5] = await online.read(
    [1, 3, 5].map((id) => ({ view: "derived", entityKey: `driver_id=${id}` })),
  );
  assert.deepEqual(d1, {
    eventMicros: T("02:00:00").getTime() * 1000,
    createdMicros: T("02:00:01").getTime() * 1000,
    values: { score: 2, label: "gold:8", busy: true, conv_pct: 25 },
  });
  assert.deepEqual(d3!.values, { score: null, label: null, busy: null, conv_pct: 10 });
  assert.equal(d5, null);

  // Read like a feature view: the source's join keys and ttl (2h), Feast's statuses.
  const res = await getOnlineFeatures(
    { registry: store.registry, online, now: () => T("03:00:00") },
    { features: DERIVED, entities: { driver_id: IDS } },
  );
  assert.deepEqual(res.toRows(), [
    { driver_id: 1, score: 2, label: "gold:8", busy: true, conv_pct: 25 },
    { driver_id: 2, score: null, label: "silver:4", busy: false, conv_pct: null },
    { driver_id: 3, score: null, label: null, busy: null, conv_pct: 10 },
    { driver_id: 4, score: 7.5, label: "bronze:10", busy: true, conv_pct: 75 },
    { driver_id: 5, score: null, label: null, busy: null, conv_pct: null },
  ]);
  const json = res.toJSON();
  assert.deepEqual(json.results[1]!.statuses, [
    "PRESENT",
    "NULL_VALUE",
    "NULL_VALUE",
    "PRESENT",
    "NOT_FOUND",
  ]);
  assert.deepEqual(json.results[2]!.statuses, [
    "PRESENT",
    "OUTSIDE_MAX_AGE", // 00:30 is 2.5 h before 03:00
    "NULL_VALUE",
    "PRESENT",
    "NOT_FOUND",
  ]);
  assert.deepEqual(json.results[2]!.event_timestamps, [
    "2024-01-01T02:00:00Z",
    "2024-01-01T00:30:00Z",
    "2024-01-01T01:00:00Z",
    "2024-01-01T01:30:00Z",
    "1970-01-01T00:00:00Z",
  ]);
  // Through the store too, with full names, mixed with a feature view.
  const rows = (await store.getOnlineFeatures({
    features: ["stats:trips", "derived:score"],
    entities: { driver_id: [4] },
    fullFeatureNames: true,
  })).toRows();
  assert.deepEqual(rows, [{ driver_id: 4, stats__trips: 10, derived__score: 7.5 }]);
  assert.equal(calls.count, 1, "online reads of a write-time view must not run its transform");

  // A request-time view over the same source does run per read (the counter works).
  await store.getOnlineFeatures({ features: ["live:trips_x2"], entities: { driver_id: [1] } });
  assert.equal(calls.count, 2);
});

Deno.test("writeToOnlineStore: the stored online value equals the historical value at the same time", async () => {
  await using r = await openRepo(features());
  const { store, calls } = r;
  await store.materialize({ start: T("00:00:00"), end: T("02:00:00") });
  const online =
    (await store.getOnlineFeatures({ features: DERIVED, entities: { driver_id: IDS } }))
      .toRows();
  const countAfterOnline = calls.count;
  const historical = await (await store.getHistoricalFeatures({
    features: DERIVED,
    entities: IDS.map((id) => ({ driver_id: id, event_timestamp: T("02:00:00") })),
  })).toRows();
  // Offline, the view is still computed after the join (Feast does the same).
  assert.ok(calls.count > countAfterOnline);
  const pick = (row: Record<string, unknown>) => ({
    score: row.score,
    label: row.label,
    busy: row.busy,
    conv_pct: row.conv_pct,
  });
  assert.equal(historical.length, IDS.length);
  for (const [i, id] of IDS.entries()) {
    assert.deepEqual(pick(online[i]!), pick(historical[i]!), `driver ${id}`);
  }
  assert.deepEqual(pick(online[0]!), { score: 2, label: "gold:8", busy: true, conv_pct: 25 });
  assert.equal(online[4]!.label, null);
});

Deno.test("writeToOnlineStore: push and writeToOnlineStore() store the outputs; a failing transform writes nothing", async () => {
  await using r = await openRepo(features());
  const { store, calls } = r;
  const read = async (ids: number[]) =>
    (await store.getOnlineFeatures({
      features: ["stats:trips", "derived:label"],
      entities: { driver_id: ids },
    })).toRows().map((row) => [row.trips, row.label]);

  const pushed = await store.push("stats_push", {
    driver_id: [1, 2],
    event_timestamp: [T("03:00:00"), T("04:00:00")],
    conv_rate: [0.5, 0.5],
    trips: [6, 1],
    tier: ["gold", "silver"],
  });
  assert.deepEqual(pushed.views, [
    { view: "stats", written: 2, skipped: 0 },
    { view: "derived", written: 2, skipped: 0 },
  ]);
  assert.deepEqual(await read([1, 2]), [[6, "gold:6"], [1, "silver:1"]]);

  // Older rows are skipped for the view and its outputs alike.
  const older = await store.push("stats_push", {
    driver_id: [1],
    event_timestamp: [T("02:00:00")],
    conv_rate: [0.5],
    trips: [99],
    tier: ["gold"],
  });
  assert.deepEqual(older.views, [
    { view: "stats", written: 0, skipped: 1 },
    { view: "derived", written: 0, skipped: 1 },
  ]);

  const written = await store.writeToOnlineStore("stats", [
    { driver_id: 3, event_timestamp: T("05:00:00"), conv_rate: 0.1, trips: 2, tier: "bronze" },
  ]);
  assert.deepEqual(written, {
    rows: 1,
    written: 1,
    skipped: 0,
    onDemand: [{ view: "derived", written: 1, skipped: 0 }],
  });
  assert.deepEqual(await read([3]), [[2, "bronze:2"]]);

  // The transform runs before anything is written: a failure leaves the view untouched too.
  const before = calls.count;
  await assert.rejects(
    store.push("stats_push", {
      driver_id: [1, 4],
      event_timestamp: [T("06:00:00"), T("06:00:00")],
      conv_rate: [0.5, 0.5],
      trips: [7, 7],
      tier: ["gold", "boom"],
    }),
    (err: unknown) =>
      err instanceof LarderError && err.code === "DEFINITION_INVALID" &&
      err.message === 'On-demand feature view "derived": the transform threw: boom tier',
  );
  assert.equal(calls.count, before + 1);
  assert.deepEqual(await read([1, 4]), [[6, "gold:6"], [null, null]]);
});

Deno.test("push to several views: a failing write-time transform of one writes none of them", async () => {
  // "counts" reads the same push source and has no on-demand views of its own; the views are
  // written in name order, so before the fix it was written before "stats" failed.
  await using r = await openRepo(
    features() + `
export const counts = featureView({
  name: "counts",
  entities: [driver],
  ttl: "2h",
  schema: { trips: "int64" },
  source: push,
});
`,
  );
  const { store } = r;
  await assert.rejects(
    store.push("stats_push", {
      driver_id: [4],
      event_timestamp: [T("06:00:00")],
      conv_rate: [0.5],
      trips: [7],
      tier: ["boom"],
    }),
    (err: unknown) => err instanceof LarderError && err.code === "DEFINITION_INVALID",
  );
  const read = async (feature: string) =>
    (await store.getOnlineFeatures({ features: [feature], entities: { driver_id: [4] } }))
      .toRows().map((row) => Object.values(row).slice(1));
  assert.deepEqual(await read("counts:trips"), [[null]]);
  assert.deepEqual(await read("stats:trips"), [[null]]);
  assert.deepEqual(await read("derived:label"), [[null]]);
});

Deno.test("writeToOnlineStore: apply deletes the stored outputs of a view removed or switched off", async () => {
  const repo = await tempRepo({
    "features.ts": features().replace(
      "export const live",
      `export const also = onDemandFeatureView({
  name: "also",
  sources: [stats.select(["trips"])],
  schema: { trips_x3: "int64" },
  writeToOnlineStore: true,
  transform: (c) => ({ trips_x3: c.trips.map((t) => t === null ? null : t * 3) }),
});
export const live`,
    ),
  });
  try {
    await writeStats(repo.dir);
    let store = await FeatureStore.open({ repo: repo.dir });
    await store.apply();
    await store.push("stats_push", {
      driver_id: [1],
      // Fresh: computed per request below, the view's 2h ttl would make an older input null.
      event_timestamp: [new Date()],
      conv_rate: [0.5],
      trips: [6],
      tier: ["gold"],
    });
    const stored = async () =>
      (await (await store.onlineStore()).read(
        ["stats", "derived", "also"].map((view) => ({ view, entityKey: "driver_id=1" })),
      )).map((record) => record?.values ?? null);
    assert.deepEqual(await stored(), [
      { conv_rate: 0.5, trips: 6, tier: "gold" },
      { score: 3, label: "gold:6", busy: true, conv_pct: 50 },
      { trips_x3: 18 },
    ]);
    await store.close();

    // "derived" now runs per request; "also" is gone.
    await repo.write("features.ts", features({ derived: "computed" }));
    store = await FeatureStore.open({ repo: repo.dir });
    const { plan } = await store.apply();
    assert.deepEqual(
      plan.changes.filter((c) => c.kind === "onDemandFeatureView" && c.action !== "unchanged")
        .map((c) => [c.name, c.action]),
      [["derived", "update"], ["also", "delete"]],
    );
    assert.deepEqual(await stored(), [{ conv_rate: 0.5, trips: 6, tier: "gold" }, null, null]);
    // Computed again from the stored source row.
    const rows = (await store.getOnlineFeatures({
      features: ["derived:label"],
      entities: { driver_id: [1] },
    })).toRows();
    assert.deepEqual(rows, [{ driver_id: 1, label: "gold:6" }]);
    await store.close();
  } finally {
    await repo.remove();
  }
});
