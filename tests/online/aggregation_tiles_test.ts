/**
 * Online window aggregations from tiles against the brute-force oracle, on every online store:
 * events written in batches (two of them concurrently, so that tile rings race), read at tile
 * boundaries (exact for every function; approx_count_distinct within its error) and between
 * them (the value at the tile end). Then, on the default store, the parity of the paths: the
 * same events pushed online and stored offline give the same value at T; and materialize
 * backfills the tiles from the batch source without counting pushed events twice.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore } from "../../engine/mod.ts";
import { materialize } from "../../engine/materialize/mod.ts";
import { DuckDBOfflineStore, writeParquetFile } from "../../engine/offline/mod.ts";
import { tableFromRows } from "../../engine/offline/_values.ts";
import {
  getOnlineFeatures,
  type OnlineStore,
  SqliteOnlineStore,
  writeOnline,
} from "../../engine/online/mod.ts";
import type {
  AggregationFunction,
  AggregationSpec,
  FeatureViewSpec,
  RegistryDocument,
} from "../../registry/mod.ts";
import { oracleAggregate, type OracleEvent, sameValue } from "../support/aggregation_oracle.ts";
import { type OnlineBackend, testEachOnlineBackend } from "../support/online_backends.ts";
import { prng } from "../support/prng.ts";
import { tempRepo } from "../support/repo.ts";
import { documentWith, entity, featureView, fileSource, registryWith } from "./_fixtures.ts";

type Row = Record<string, unknown>;

const T0 = Date.UTC(2024, 0, 1);
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DRIVERS = 6;

function aggregations(): AggregationSpec[] {
  const out: AggregationSpec[] = [];
  const add = (fn: AggregationFunction, column: string, type: AggregationSpec["type"]) => {
    for (const [w, label] of [[3600, "1h"], [12 * 3600, "12h"]] as const) {
      out.push({ name: `${fn}_${column}_${label}`, column, function: fn, windowSeconds: w, type });
    }
  };
  for (const fn of ["count", "sum", "mean", "stddev", "var"] as const) {
    add(fn, "x", fn === "count" ? "int64" : "float64");
  }
  add("min", "x", "float64");
  add("max", "x", "float64");
  add("last", "x", "float64");
  add("sum", "n", "int64");
  add("max", "n", "int64");
  add("approx_count_distinct", "n", "int64");
  add("min", "s", "string");
  add("last", "s", "string");
  add("approx_count_distinct", "s", "int64");
  return out;
}

const driver = entity("driver", ["driver_id"]);
const source = fileSource("s_trips", "data/trips", { createdTimestampColumn: "created" });
const view: FeatureViewSpec = {
  ...featureView("trips", {
    entities: ["driver"],
    source: source.name,
    features: [
      { name: "x", type: "float64" },
      { name: "n", type: "int64" },
      { name: "s", type: "string" },
    ],
  }),
  aggregations: aggregations(),
  tileSeconds: 3600,
};
const doc: RegistryDocument = documentWith({
  entities: [driver],
  sources: [source],
  views: [view],
});

/**
 * Events over ten hours in three batches; rows that tie on (driver, event time) are in one
 * batch (created-time dedup is per write online), with equal, different and NULL created times.
 */
function makeBatches(seed: number): Row[][] {
  const rand = prng(seed);
  const int = (k: number) => Math.floor(rand() * k);
  const maybe = <T>(p: number, v: T): T | null => (rand() < p ? null : v);
  const groups = new Map<string, Row[]>();
  for (let i = 0; i < 700; i++) {
    const ts = T0 + int(10 * 60) * MINUTE;
    const row = {
      driver_id: int(DRIVERS),
      event_timestamp: new Date(ts),
      created: maybe(0.2, new Date(ts + int(3) * MINUTE)),
      x: maybe(0.1, Math.round(rand() * 2e5) / 100 - 500),
      n: maybe(0.1, int(40) - 10),
      s: maybe(0.1, `s${int(25)}`),
    };
    const id = `${row.driver_id}/${ts}`;
    groups.set(id, [...(groups.get(id) ?? []), row]);
  }
  const batches: Row[][] = [[], [], []];
  for (const rows of groups.values()) batches[int(3)]!.push(...rows);
  return batches;
}

function columns(rows: Row[]): Record<string, unknown[]> {
  const names = ["driver_id", "event_timestamp", "created", "x", "n", "s"];
  return Object.fromEntries(names.map((n) => [n, rows.map((r) => r[n] ?? null)]));
}

function eventsOf(rows: Row[], id: number): OracleEvent[] {
  return rows.filter((r) => r.driver_id === id).map((r) => ({
    ts: (r.event_timestamp as Date).getTime(),
    created: r.created instanceof Date ? r.created.getTime() : null,
    values: r,
  }));
}

async function readAt(online: OnlineStore, at: number, ids: number[]) {
  const res = await getOnlineFeatures(
    { registry: doc, online, now: () => new Date(at) },
    { features: view.aggregations!.map((a) => `trips:${a.name}`), entities: { driver_id: ids } },
  );
  return { rows: res.toRows() as Row[], res };
}

/** Checks the online values at `at` against the oracle evaluated at `oracleAt`. */
function check(rows: Row[], events: Row[], at: number, oracleAt: number, ids: number[]): void {
  ids.forEach((id, r) => {
    for (const a of view.aggregations!) {
      const expected = oracleAggregate(eventsOf(events, id), {
        t: oracleAt,
        windowMs: a.windowSeconds * 1000,
        fn: a.function,
        column: a.column,
      });
      const got = rows[r]![a.name] ?? null;
      const ok = a.function === "approx_count_distinct"
        ? Math.abs(Number(got) - Number(expected)) <= Math.max(1, 0.1 * Number(expected))
        : sameValue(got, expected);
      assert.ok(
        ok,
        `driver ${id}, ${a.name} read at ${new Date(at).toISOString()}: got ${
          String(got)
        }, expected ${String(expected)}`,
      );
    }
  });
}

async function tilesOnEveryStore(backend: OnlineBackend): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "larder_tiles_" });
  await Deno.mkdir(join(dir, "data"));
  const online = await backend.client(dir);
  try {
    const batches = makeBatches(21);
    const deps = { registry: doc, online };
    // Two writers at once on the same entities' rings, then a third.
    await Promise.all([
      writeOnline(deps, "trips", columns(batches[0]!)),
      writeOnline(deps, "trips", columns(batches[1]!)),
    ]);
    const result = await writeOnline(deps, "trips", columns(batches[2]!));
    assert.equal(result.tiles?.rings, DRIVERS);
    const all = batches.flat();
    const ids = [...Array(DRIVERS).keys(), 99];
    // Tile boundaries: exact. The 12h windows hold every tile from T0 + 11h on.
    for (const hours of [1, 4, 7, 10, 11]) {
      const at = T0 + hours * HOUR;
      const { rows } = await readAt(online, at, ids);
      check(rows, all, at, at, ids);
    }
    // Between boundaries: the value at the tile's end (its tile counts whole).
    for (const at of [T0 + 5 * HOUR + 17 * MINUTE, T0 + 9 * HOUR + 1]) {
      const { rows } = await readAt(online, at, ids);
      check(rows, all, at, Math.ceil(at / HOUR) * HOUR, ids);
    }
    // No tiles for driver 99: counts are 0 and NOT_FOUND, other functions NULL.
    const { res } = await readAt(online, T0 + 10 * HOUR, ids);
    const json = res.toJSON() as { results: { values: unknown[]; statuses: string[] }[] };
    const count = json.results[1]!;
    assert.equal(count.values.at(-1), 0);
    assert.equal(count.statuses.at(-1), "NOT_FOUND");
    assert.equal(count.statuses[0], "PRESENT");
  } finally {
    await online.close();
    await Deno.remove(dir, { recursive: true });
  }
}

testEachOnlineBackend(
  "online aggregations from tiles match the oracle at tile boundaries",
  "tests/online/aggregation_tiles_test.ts",
  tilesOnEveryStore,
);

Deno.test("aggregations: events pushed online and stored offline give the same value at T; materialize backfills tiles without counting twice", async () => {
  const dir = await Deno.makeTempDir({ prefix: "larder_tiles_parity_" });
  await Deno.mkdir(join(dir, "data", "trips"), { recursive: true });
  const offline = new DuckDBOfflineStore({ memoryLimit: "512MB" });
  const online = await SqliteOnlineStore.open({
    project: doc.project,
    path: join(dir, "data", "online.sqlite"),
  });
  try {
    const batches = makeBatches(22);
    const all = batches.flat();
    await writeParquetFile(join(dir, "data", "trips", "part-0.parquet"), tableFromRows(all));
    for (const batch of batches) {
      await writeOnline({ registry: doc, online }, "trips", columns(batch));
    }
    const ids = [...Array(DRIVERS).keys()];
    const compare = async (hours: readonly number[]) => {
      const times = hours.map((h) => new Date(T0 + h * HOUR));
      const job = await offline.getHistoricalFeatures({
        repoDir: dir,
        entityTable: times.flatMap((t) => ids.map((id) => ({ driver_id: id, event_timestamp: t }))),
        views: [{
          view,
          source,
          entities: [driver],
          features: view.aggregations!.map((a) => a.name),
        }],
      });
      const expected = await job.toRows();
      for (const [i, t] of times.entries()) {
        const { rows } = await readAt(online, t.getTime(), ids);
        ids.forEach((id, r) => {
          const want = expected[i * ids.length + r]!;
          for (const a of view.aggregations!) {
            const got = rows[r]![a.name] ?? null;
            const exact = want[a.name] ?? null;
            const ok = a.function === "approx_count_distinct"
              ? Math.abs(Number(got) - Number(exact)) <= Math.max(1, 0.1 * Number(exact))
              : sameValue(got, exact);
            assert.ok(
              ok,
              `${t.toISOString()} driver ${id} ${a.name}: online ${got}, offline ${exact}`,
            );
          }
        });
      }
    };
    await compare([3, 8, 10, 11]);

    // Materialize over the pushed events: the tiles are rebuilt from the source, not added.
    const registry = await registryWith(dir, doc);
    const result = await materialize(
      { registry, online, offline: () => Promise.resolve(offline), repoDir: dir },
      { start: new Date(T0), end: new Date(T0 + 10 * HOUR) },
    );
    assert.equal(result.views[0]!.tileRings, DRIVERS);
    await compare([3, 8, 10, 11]);

    // A fresh store filled by materialize alone agrees as well.
    await online.deleteAll();
    await materialize(
      { registry, online, offline: () => Promise.resolve(offline), repoDir: dir },
      { start: new Date(T0), end: new Date(T0 + 11 * HOUR) },
    );
    await compare([10, 11]);
  } finally {
    await online.close();
    await offline.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FeatureStore: push fills the tiles of a view's aggregations; apply deleting the view deletes them", async () => {
  const repo = await tempRepo({
    "features.ts": `
import { entity, featureView, fileSource, pushSource } from "larder";
const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
const batch = fileSource({ name: "trips_batch", path: "data/trips", timestampField: "ts" });
export const push = pushSource({ name: "trips_push", batchSource: batch });
export const trips = featureView({
  name: "trips",
  entities: [driver],
  schema: { fare: "float64" },
  source: push,
  aggregations: [{ column: "fare", function: "sum", window: "1h" }],
  // Tiles of a minute: events a minute old stay in the window whatever the clock says (with
  // hour tiles they would fall out of it in the first minute of every hour).
  tileSize: "1m",
});
`,
  });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply({ skipSourceValidation: true });
    const at = new Date(Date.now() - 60_000);
    await store.push("trips_push", { driver_id: [1, 1, 2], ts: [at, at, at], fare: [2, 3, 4] });
    const read = await store.getOnlineFeatures({
      features: ["trips:sum_fare_1h", "trips:fare"],
      entities: { driver_id: [1, 2] },
    });
    assert.deepEqual(read.toRows(), [
      { driver_id: 1, sum_fare_1h: 5, fare: 3 },
      { driver_id: 2, sum_fare_1h: 4, fare: 4 },
    ]);
    const online = await store.onlineStore();
    assert.deepEqual((await online.viewsWithData()).views, ["trips", "trips#tiles"]);
    await repo.write("features.ts", 'export const nothing = "here";\n');
    await store.apply({ skipSourceValidation: true });
    assert.deepEqual((await online.viewsWithData()).views, []);
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("approx_count_distinct online counts a float32 value once, however it was given", async () => {
  const dir = await Deno.makeTempDir({ prefix: "larder_tiles_f32_" });
  const online = await SqliteOnlineStore.open({
    project: "test_project",
    path: join(dir, "online.sqlite"),
  });
  try {
    const f32: FeatureViewSpec = {
      ...featureView("f32", {
        entities: ["driver"],
        source: source.name,
        features: [{ name: "r", type: "float32" }],
      }),
      aggregations: [{
        name: "distinct_r",
        column: "r",
        function: "approx_count_distinct",
        windowSeconds: 3600,
        type: "int64",
      }],
      tileSeconds: 3600,
    };
    const registry = documentWith({ entities: [driver], sources: [source], views: [f32] });
    const ts = new Date(T0 + 10 * MINUTE);
    // 0.1 as a double (a caller) and as float32 (what a Parquet float column reads back as).
    await writeOnline({ registry, online }, "f32", {
      driver_id: [1],
      event_timestamp: [ts],
      r: [0.1],
    });
    await writeOnline({ registry, online }, "f32", {
      driver_id: [1],
      event_timestamp: [new Date(ts.getTime() + 1000)],
      r: [Math.fround(0.1)],
    });
    const res = await getOnlineFeatures(
      { registry, online, now: () => new Date(T0 + HOUR) },
      { features: ["f32:distinct_r"], entities: { driver_id: [1] } },
    );
    assert.deepEqual(res.toRows(), [{ driver_id: 1, distinct_r: 1 }]);
  } finally {
    await online.close();
    await Deno.remove(dir, { recursive: true });
  }
});
