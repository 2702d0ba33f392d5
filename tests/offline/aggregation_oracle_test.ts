/**
 * Offline window aggregations against the brute-force oracle: randomized events with fixed
 * seeds, full of ties on event time (with equal and different created times, and NULL ones),
 * late rows (created long after their event time, written out of order), NULL values, and
 * entity rows exactly on window edges, for every function; with an entity table and without.
 */
import assert from "node:assert/strict";
import { DuckDBOfflineStore } from "../../engine/offline/mod.ts";
import { aggregateTuning } from "../../engine/offline/_aggregate_sql.ts";
import type {
  AggregationFunction,
  AggregationSpec,
  FeatureViewSpec,
  FileSourceSpec,
} from "../../registry/mod.ts";
import {
  entity,
  featureView,
  fileSource,
  tempDir,
  writeRowsParquet,
  writeText,
} from "./_fixtures.ts";
import { prng } from "../support/prng.ts";
import { oracleAggregate, type OracleEvent, sameValue } from "../support/aggregation_oracle.ts";

type Row = Record<string, unknown>;

const T0 = Date.UTC(2024, 0, 1);
const MINUTE = 60_000;
const HOUR = 3_600_000;

const driver = entity("driver", ["driver_id"]);

/** Every function over every column it takes, with two windows. */
function aggregationsFor(): AggregationSpec[] {
  const out: AggregationSpec[] = [];
  const add = (fn: AggregationFunction, column: string, type: AggregationSpec["type"]) => {
    for (const [w, label] of [[3600, "1h"], [6 * 3600, "6h"]] as const) {
      out.push({ name: `${fn}_${column}_${label}`, column, function: fn, windowSeconds: w, type });
    }
  };
  for (const fn of ["count", "sum", "mean", "min", "max", "stddev", "var", "last"] as const) {
    add(
      fn,
      "x",
      fn === "count" ? "int64" : ["min", "max", "last"].includes(fn) ? "float64" : "float64",
    );
  }
  add("sum", "n", "int64");
  add("min", "n", "int64");
  add("last", "n", "int64");
  add("approx_count_distinct", "n", "int64");
  add("count", "s", "int64");
  add("min", "s", "string");
  add("max", "s", "string");
  add("last", "s", "string");
  add("approx_count_distinct", "s", "int64");
  return out;
}

interface Case {
  spec: FeatureViewSpec;
  source: FileSourceSpec;
  rows: Row[];
  created: boolean;
}

async function makeData(rand: () => number, dir: string): Promise<Case[]> {
  const int = (k: number) => Math.floor(rand() * k);
  const maybe = <T>(p: number, v: T): T | null => (rand() < p ? null : v);
  const rows: Row[] = Array.from({ length: 1500 }, () => {
    // Whole minutes over two days: many ties on event time.
    const ts = T0 + int(48 * 60) * MINUTE;
    const late = rand() < 0.1;
    return {
      driver_id: int(15),
      event_timestamp: new Date(ts),
      // Some late (created hours after the event), some NULL, many equal: ties of all kinds.
      created: maybe(0.2, new Date(ts + (late ? 5 * HOUR : int(3) * MINUTE))),
      x: maybe(0.1, Math.round(rand() * 2e5) / 100 - 500),
      n: maybe(0.1, int(40) - 10),
      s: maybe(0.1, `s${int(30)}`),
    };
  });
  await writeRowsParquet(dir, "with_created/part-0.parquet", rows.slice(0, 700));
  await writeRowsParquet(dir, "with_created/part-1.parquet", rows.slice(700));
  const csv = ["driver_id,event_timestamp,x,n,s"].concat(rows.map((r) =>
    [
      r.driver_id,
      (r.event_timestamp as Date).toISOString(),
      r.x ?? "",
      r.n ?? "",
      r.s ?? "",
    ].join(",")
  )).join("\n");
  await writeText(dir, "plain.csv", `${csv}\n`);
  const features: FeatureViewSpec["features"] = [
    { name: "x", type: "float64" },
    { name: "n", type: "int64" },
    { name: "s", type: "string" },
  ];
  const view = (name: string, source: FileSourceSpec): FeatureViewSpec => ({
    ...featureView(name, { entities: ["driver"], source: source.name, features }),
    aggregations: aggregationsFor(),
    tileSeconds: 3600,
  });
  const withCreated = fileSource("s_created", "with_created", {
    createdTimestampColumn: "created",
  });
  const plain = fileSource("s_plain", "plain.csv");
  return [
    { spec: view("v_created", withCreated), source: withCreated, rows, created: true },
    { spec: view("v_plain", plain), source: plain, rows, created: false },
  ];
}

function eventsOf(c: Case, key: unknown): OracleEvent[] {
  return c.rows.filter((r) => r.driver_id === key).map((r) => ({
    ts: (r.event_timestamp as Date).getTime(),
    created: c.created && r.created instanceof Date ? r.created.getTime() : null,
    values: r,
  }));
}

/** Entity rows at random times and on the window edges of events (1h and 6h). */
function makeEntities(rand: () => number, rows: Row[]): Row[] {
  const int = (k: number) => Math.floor(rand() * k);
  const out: Row[] = [];
  for (let i = 0; i < 300; i++) {
    const base = (rows[int(rows.length)]!.event_timestamp as Date).getTime();
    const mode = int(7);
    const ts = mode === 0
      ? base // the event's own time: it counts
      : mode === 1
      ? base + HOUR // exactly the window later: it does not (the start is open)
      : mode === 2
      ? base + HOUR - 1 // a millisecond before: it does
      : mode === 3
      ? base + 6 * HOUR
      : mode === 4
      ? base - 1 // just before it
      : T0 - HOUR + int(52 * 60) * MINUTE; // anywhere, before all data too
    // Keys 15..17 have no events.
    out.push({ rid: i, driver_id: int(18), event_timestamp: new Date(ts) });
  }
  return out;
}

const store = new DuckDBOfflineStore({ memoryLimit: "1GB" });

// Both plans: entity rows as probes among the events (window functions), and entity rows
// joined to their key's events (pairs).
// With filterByCreatedTimestamp, only events created by the entity row's time count.
for (
  const [seed, plan, filterByCreatedTimestamp] of [
    [11, "window", false],
    [12, "pairs", false],
    [13, "auto", true],
  ] as const
) {
  Deno.test(
    `getHistoricalFeatures() aggregations match the brute-force oracle (seed ${seed}, ${plan} plan${
      filterByCreatedTimestamp ? ", filterByCreatedTimestamp" : ""
    })`,
    async () => {
      const dir = await tempDir();
      aggregateTuning.plan = plan;
      try {
        const rand = prng(seed);
        const cases = await makeData(rand, dir);
        const entities = makeEntities(rand, cases[0]!.rows);
        const job = await store.getHistoricalFeatures({
          repoDir: dir,
          entityTable: entities,
          fullFeatureNames: true,
          filterByCreatedTimestamp,
          views: cases.map((c) => ({
            view: c.spec,
            source: c.source,
            entities: [driver],
            // Plain features and aggregations mixed, in an order of their own.
            features: ["x", ...c.spec.aggregations!.map((a) => a.name).reverse()],
          })),
        });
        const got = await job.toRows();
        assert.equal(got.length, entities.length);
        assert.deepEqual(
          job.columns.slice(0, 5),
          [
            "rid",
            "driver_id",
            "event_timestamp",
            "v_created__x",
            "v_created__approx_count_distinct_s_6h",
          ],
        );
        let nonEmpty = 0;
        for (const [i, row] of entities.entries()) {
          const out = got[i]!;
          assert.equal(out.rid, row.rid, "entity order");
          for (const c of cases) {
            const events = eventsOf(c, row.driver_id);
            for (const a of c.spec.aggregations!) {
              const expected = oracleAggregate(events, {
                t: (row.event_timestamp as Date).getTime(),
                windowMs: a.windowSeconds * 1000,
                fn: a.function,
                column: a.column,
                // A source without created times has nothing to filter.
                filterByCreated: filterByCreatedTimestamp && c.created,
              });
              const value = out[`${c.spec.name}__${a.name}`] ?? null;
              if (!sameValue(value, expected)) {
                assert.fail(
                  `row ${i} (${JSON.stringify(row)}), ${c.spec.name}.${a.name}: got ${
                    String(value)
                  }, expected ${String(expected)}`,
                );
              }
              if (a.function === "count" && expected !== 0) nonEmpty++;
            }
          }
        }
        assert.ok(nonEmpty > 300, `non-empty windows: ${nonEmpty}`);
      } finally {
        aggregateTuning.plan = "auto";
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}

Deno.test("getHistoricalFeatures() without an entity table aggregates as of end, over each window", async () => {
  const dir = await tempDir();
  try {
    const rand = prng(13);
    const cases = await makeData(rand, dir);
    const c = cases[0]!;
    // The 6h windows reach before start: they still cover (end − 6h, end].
    const start = new Date(T0 + 20 * HOUR);
    const end = new Date(T0 + 22 * HOUR);
    const job = await store.getHistoricalFeatures({
      repoDir: dir,
      start,
      end,
      views: [{
        view: c.spec,
        source: c.source,
        entities: [driver],
        features: c.spec.aggregations!.map((a) => a.name),
      }],
    });
    const got = await job.toRows();
    const keys = [
      ...new Set(
        c.rows.filter((r) => {
          const ts = (r.event_timestamp as Date).getTime();
          return ts >= start.getTime() && ts <= end.getTime();
        }).map((r) => r.driver_id as number),
      ),
    ].sort((a, b) => a - b);
    assert.deepEqual(got.map((r) => r.driver_id), keys);
    for (const out of got) {
      for (const a of c.spec.aggregations!) {
        const expected = oracleAggregate(eventsOf(c, out.driver_id), {
          t: end.getTime(),
          windowMs: a.windowSeconds * 1000,
          fn: a.function,
          column: a.column,
        });
        assert.ok(
          sameValue(out[a.name] ?? null, expected),
          `${out.driver_id} ${a.name}: got ${String(out[a.name])}, expected ${String(expected)}`,
        );
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store.close() after the aggregation oracle tests", async () => {
  await store.close();
});
