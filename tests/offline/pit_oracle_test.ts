/**
 * The engine against a brute-force oracle written independently: for every entity row and
 * view, scan every source row in plain TypeScript. Randomized data with fixed seeds, full of
 * ties on event time, NULL created times and NULL values, rows exactly on both window
 * boundaries and keys that never match. Where several rows tie on both event and created
 * time the choice is unspecified, so the oracle accepts any of them. Each case runs on both
 * engines (DuckDB-WASM and native DuckDB), on the same files.
 */
import { joinTuning } from "../../engine/offline/_pit_sql.ts";
import assert from "node:assert/strict";
import { DuckDBOfflineStore, type ViewRequest } from "../../engine/offline/mod.ts";
import type { EntitySpec, FeatureViewSpec, FileSourceSpec } from "../../registry/mod.ts";
import {
  entity,
  featureView,
  fileSource,
  tempDir,
  writeRowsParquet,
  writeText,
} from "./_fixtures.ts";
import { prng } from "../support/prng.ts";

type Row = Record<string, unknown>;

interface OracleView {
  spec: FeatureViewSpec;
  source: FileSourceSpec;
  entities: EntitySpec[];
  keys: string[];
  features: string[];
  created: boolean;
  rows: Row[];
}

const T0 = Date.UTC(2024, 0, 1);
const MINUTE = 60_000;

const driver = entity("driver", ["driver_id"]);
const customer = entity("customer", ["customer_id"]);
const location = entity("location", ["country", "city"], "string");

/** Builds the views' source rows and writes them (Parquet, and one CSV). */
async function makeViews(rand: () => number, dir: string): Promise<OracleView[]> {
  const int = (n: number) => Math.floor(rand() * n);
  // Coarse times (whole minutes over two days): many exact ties.
  const time = () => T0 + int(48 * 60) * MINUTE;
  const maybe = <T>(p: number, v: T): T | null => (rand() < p ? null : v);
  const createdAt = (ts: number) => maybe(0.25, new Date(ts + int(4) * MINUTE));

  const driverRows: Row[] = Array.from({ length: 3000 }, () => {
    const ts = time();
    return {
      driver_id: int(40),
      event_timestamp: new Date(ts),
      created: createdAt(ts),
      f_a: maybe(0.1, Math.round(rand() * 1e6) / 1e3),
      f_b: maybe(0.1, `s${int(1000)}`),
    };
  });
  const pairRows: Row[] = Array.from({ length: 2000 }, () => ({
    driver_id: int(40),
    customer_id: int(10),
    event_timestamp: new Date(time()),
    g: maybe(0.1, int(100000)),
  }));
  const globalRows: Row[] = Array.from({ length: 300 }, () => {
    const ts = time();
    return { event_timestamp: new Date(ts), created: createdAt(ts), h: maybe(0.1, rand()) };
  });
  const countries = ["FR", "US", "DE"];
  const cities = ["Paris", "Lyon", "Berlin"];
  const locRows: Row[] = Array.from({ length: 1500 }, () => {
    const ts = time();
    return {
      country: countries[int(3)],
      city: cities[int(3)],
      event_timestamp: new Date(ts),
      created: createdAt(ts),
      k: maybe(0.1, int(50)),
    };
  });

  await writeRowsParquet(dir, "driver/part-0.parquet", driverRows.slice(0, 1500));
  await writeRowsParquet(dir, "driver/part-1.parquet", driverRows.slice(1500));
  const csv = ["driver_id,customer_id,event_timestamp,g"]
    .concat(
      pairRows.map((r) =>
        `${r.driver_id},${r.customer_id},${(r.event_timestamp as Date).toISOString()},${r.g ?? ""}`
      ),
    )
    .join("\n");
  await writeText(dir, "pair.csv", `${csv}\n`);
  await writeRowsParquet(dir, "global.parquet", globalRows);
  await writeRowsParquet(dir, "loc.parquet", locRows);

  const view = (
    name: string,
    entities: EntitySpec[],
    keys: string[],
    source: FileSourceSpec,
    ttlSeconds: number,
    features: FeatureViewSpec["features"],
    rows: Row[],
  ): OracleView => ({
    spec: featureView(name, {
      entities: entities.map((e) => e.name),
      source: source.name,
      ttlSeconds,
      features,
    }),
    source,
    entities,
    keys,
    features: features.map((f) => f.name),
    created: source.createdTimestampColumn !== undefined,
    rows,
  });
  return [
    view(
      "v_driver",
      [driver],
      ["driver_id"],
      fileSource("s_driver", "driver", { createdTimestampColumn: "created" }),
      3600,
      [{ name: "f_a", type: "float64" }, { name: "f_b", type: "string" }],
      driverRows,
    ),
    view(
      "v_pair",
      [driver, customer],
      ["driver_id", "customer_id"],
      fileSource("s_pair", "pair.csv"),
      0,
      [
        { name: "g", type: "int64" },
      ],
      pairRows,
    ),
    view(
      "v_global",
      [],
      [],
      fileSource("s_global", "global.parquet", { createdTimestampColumn: "created" }),
      7200,
      [{ name: "h", type: "float64" }],
      globalRows,
    ),
    view(
      "v_loc",
      [location],
      ["country", "city"],
      fileSource("s_loc", "loc.parquet", { createdTimestampColumn: "created" }),
      1800,
      [{ name: "k", type: "int64" }],
      locRows,
    ),
  ];
}

/** Entity rows: random, plus rows exactly at source times, at ttl boundaries and just past them. */
function makeEntities(rand: () => number, views: OracleView[]): Row[] {
  const int = (n: number) => Math.floor(rand() * n);
  const driverRows = views[0]!.rows;
  const entities: Row[] = [];
  for (let i = 0; i < 2500; i++) {
    const pick = driverRows[int(driverRows.length)]!;
    const base = (pick.event_timestamp as Date).getTime();
    const mode = int(6);
    const ts = mode === 0 ? base : mode === 1
      ? base + 3600_000 // exactly ttl after a row of v_driver: the row is still in
      : mode === 2
      ? base + 3600_000 + 1 // one millisecond too late for it
      : mode === 3
      ? base + 1800_000 // the v_loc boundary
      : T0 - 3600_000 + int(52 * 60) * MINUTE; // anywhere, including before all data
    entities.push({
      rid: i,
      // 40..49 never match.
      driver_id: int(50),
      customer_id: int(12),
      country: ["FR", "US", "DE", "XX"][int(4)],
      city: ["Paris", "Lyon", "Berlin"][int(3)],
      event_timestamp: new Date(ts),
    });
  }
  // Exact duplicates stay duplicated.
  for (let i = 0; i < 50; i++) {
    entities.push({ ...entities[int(entities.length)]!, rid: entities.length });
  }
  return entities;
}

function ms(value: unknown): number | null {
  return value instanceof Date ? value.getTime() : null;
}

/** The acceptable feature tuples for one entity row and view, by brute force. */
function oracle(view: OracleView, row: Row, filterByCreated: boolean): string[] {
  const entityTs = ms(row.event_timestamp)!;
  const ttl = view.spec.ttlSeconds * 1000;
  let best: Row[] = [];
  let bestTs = -Infinity;
  let bestCreated = -Infinity;
  for (const candidate of view.rows) {
    if (!view.keys.every((k) => candidate[k] !== null && candidate[k] === row[k])) continue;
    const ts = ms(candidate.event_timestamp)!;
    if (ts > entityTs) continue;
    if (ttl > 0 && ts < entityTs - ttl) continue;
    const created = view.created ? ms(candidate.created) : null;
    if (filterByCreated && view.created && (created === null || created > entityTs)) continue;
    const c = created ?? -Infinity;
    if (ts > bestTs || (ts === bestTs && c > bestCreated)) {
      best = [candidate];
      bestTs = ts;
      bestCreated = c;
    } else if (ts === bestTs && c === bestCreated) best.push(candidate);
  }
  if (best.length === 0) return [JSON.stringify(view.features.map(() => null))];
  return best.map((r) => JSON.stringify(view.features.map((f) => r[f] ?? null)));
}

/** Both engines run on each case's data, written once. */
const stores = {
  wasm: new DuckDBOfflineStore({ memoryLimit: "1GB" }),
  native: new DuckDBOfflineStore({ engine: "native", memoryLimit: "1GB", threads: 2 }),
};

const CASES = [
  { seed: 1, filterByCreatedTimestamp: false, parts: 1 },
  { seed: 1, filterByCreatedTimestamp: true, parts: 1 },
  { seed: 2, filterByCreatedTimestamp: false, parts: 1 },
  { seed: 2, filterByCreatedTimestamp: true, parts: 1 },
  // The join split into key-range parts, as it is when a view does not fit in memory.
  { seed: 3, filterByCreatedTimestamp: false, parts: 5 },
];

for (const { seed, filterByCreatedTimestamp, parts } of CASES) {
  {
    Deno.test(
      `getHistoricalFeatures() matches the brute-force oracle (seed ${seed}, filterByCreatedTimestamp ${filterByCreatedTimestamp}${
        parts > 1 ? `, joins in ${parts} parts` : ""
      })`,
      async (t) => {
        const dir = await tempDir();
        joinTuning.minParts = parts;
        try {
          const rand = prng(seed);
          const views = await makeViews(rand, dir);
          const entities = makeEntities(rand, views);
          const requests: ViewRequest[] = views.map((v) => ({
            view: v.spec,
            source: v.source,
            entities: v.entities,
            features: v.features,
          }));
          for (const [engine, store] of Object.entries(stores)) {
            await t.step(engine, async () => {
              const job = await store.getHistoricalFeatures({
                repoDir: dir,
                entityTable: entities,
                views: requests,
                fullFeatureNames: true,
                filterByCreatedTimestamp,
              });
              const got = await job.toRows();
              assert.equal(got.length, entities.length);
              let matched = 0;
              let ambiguous = 0;
              for (const [i, row] of entities.entries()) {
                const out = got[i]!;
                assert.equal(out.rid, row.rid, "entity order");
                assert.equal(ms(out.event_timestamp), ms(row.event_timestamp));
                for (const view of views) {
                  const tuple = JSON.stringify(
                    view.features.map((f) => out[`${view.spec.name}__${f}`] ?? null),
                  );
                  const allowed = oracle(view, row, filterByCreatedTimestamp);
                  if (allowed.length > 1) ambiguous++;
                  if (!allowed.includes(tuple)) {
                    assert.fail(
                      `row ${i} (${
                        JSON.stringify(row)
                      }), view ${view.spec.name}: got ${tuple}, expected one of ${
                        allowed.join(" | ")
                      }`,
                    );
                  }
                  if (allowed[0] !== JSON.stringify(view.features.map(() => null))) matched++;
                }
              }
              // The data must exercise both outcomes.
              assert.ok(matched > 2000, `matched ${matched}`);
              assert.ok(ambiguous > 0, "no ties exercised");
            });
          }
        } finally {
          joinTuning.minParts = 1;
          await Deno.remove(dir, { recursive: true });
        }
      },
    );
  }
}

Deno.test("getHistoricalFeatures() without an entity table matches the oracle (latest per key in [start, end])", async (t) => {
  const dir = await tempDir();
  try {
    const rand = prng(7);
    const views = await makeViews(rand, dir);
    const view = views[0]!;
    const start = new Date(T0 + 6 * 3600_000);
    const end = new Date(T0 + 30 * 3600_000);
    for (const [engine, store] of Object.entries(stores)) {
      await t.step(engine, async () => {
        const job = await store.getHistoricalFeatures({
          repoDir: dir,
          start,
          end,
          views: [{
            view: view.spec,
            source: view.source,
            entities: view.entities,
            features: view.features,
          }],
        });
        const got = await job.toRows();
        const inWindow = view.rows.filter((r) => {
          const ts = ms(r.event_timestamp)!;
          return ts >= start.getTime() && ts <= end.getTime();
        });
        const keys = [...new Set(inWindow.map((r) => r.driver_id as number))].sort((a, b) => a - b);
        assert.deepEqual(got.map((r) => r.driver_id), keys);
        const windowView = { ...view, rows: inWindow, spec: { ...view.spec, ttlSeconds: 0 } };
        for (const out of got) {
          assert.equal(ms(out.event_timestamp), end.getTime());
          const allowed = oracle(
            windowView,
            { driver_id: out.driver_id, event_timestamp: end },
            false,
          );
          assert.ok(allowed.includes(JSON.stringify([out.f_a ?? null, out.f_b ?? null])));
        }
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store.close() after the oracle tests", async () => {
  for (const store of Object.values(stores)) await store.close();
});
