/**
 * Window aggregation benchmark (not a test).
 *
 *   deno task bench aggregations [small|large] [--runs N] [--events N] [--requests N]
 *     [--skip-offline] [--skip-online]
 *
 * Offline, on bench/pit.ts's generated data (small: 100k entity rows × 1M events; large: 1M
 * entity rows × 10M events, 100k keys, 30 days), five aggregations of view_0 (count 1d, sum 1d,
 * mean 7d, max 7d, stddev 7d) for every entity row:
 *   (a) Larder: DuckDBOfflineStore.getHistoricalFeatures(), streamed to Arrow batches, default
 *       memory limit (2GB), with the plan it picks (on this data: entity rows joined to their
 *       key's events); with `--window` also (a') its window plan forced (entity rows as probes
 *       among the events, window functions over RANGE frames);
 *   (b) a plain DuckDB query computing the same windows on the same DuckDB-WASM, data loaded
 *       the same way (Larder's loader): a range join of entity rows and events
 *       (`e.ts - 7d < s.ts <= e.ts`) grouped per entity row, each window a FILTER.
 * Times are wall clock of load + aggregation + reading the result, engine start excluded; the
 * last of `--runs` runs (default 2 small, 1 large) is reported.
 *
 * Online, on the SQLite online store (the default) in a temp folder: `--events` events (default
 * 20,000) over 1,000 entities in the last day, written with writeOnline in batches of 100 rows
 * to a view with 5 aggregations (tile 1h, windows 1h and 1d) and to a view with 5 plain
 * features (the baseline): cost per event; then `--requests` reads (default 2,000, after 200
 * warm-up) of 10 entity rows × the 5 aggregated features, and of the 5 plain features: p50/p99.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { DuckDB, DuckDBOfflineStore, type ViewRequest } from "../engine/offline/mod.ts";
import { loadEntities, loadSource, tempName } from "../engine/offline/_load.ts";
import { ident } from "../engine/offline/_sql.ts";
import { aggregateTuning } from "../engine/offline/_aggregate_sql.ts";
import { joinKeysOf, sourceLayout } from "../engine/offline/source_compatibility.ts";
import { getOnlineFeatures, SqliteOnlineStore, writeOnline } from "../engine/online/mod.ts";
import {
  type AggregationSpec,
  emptyDocument,
  type EntitySpec,
  type FeatureViewSpec,
  type FileSourceSpec,
  type RegistryDocument,
} from "../registry/mod.ts";
import { dataDir, ensureData, SIZES } from "./_pit_data.ts";

const args = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    runs: { type: "string" },
    events: { type: "string", default: "20000" },
    requests: { type: "string", default: "2000" },
    "skip-offline": { type: "boolean", default: false },
    "skip-online": { type: "boolean", default: false },
    /** Also run Larder with its window plan forced (the plan it picks for many pairs). */
    window: { type: "boolean", default: false },
  },
});
const sizeName = args.positionals[0] ?? "small";
if (sizeName !== "small" && sizeName !== "large") {
  console.error(`error: Unknown size "${sizeName}": expected "small" or "large"`);
  Deno.exit(1);
}
const size = SIZES[sizeName === "large" ? "large1" : "small"];
const runs = Number(args.values.runs ?? (sizeName === "large" ? 1 : 2));

const COMMON = { description: "", tags: {}, owner: "" };
const driver: EntitySpec = {
  ...COMMON,
  name: "driver",
  joinKeys: ["driver_id"],
  valueType: "int64",
};
const DAY = 86_400;

const AGGREGATIONS: AggregationSpec[] = [
  { name: "count_f3_1d", column: "f3", function: "count", windowSeconds: DAY, type: "int64" },
  { name: "sum_f2_1d", column: "f2", function: "sum", windowSeconds: DAY, type: "float64" },
  { name: "mean_f2_7d", column: "f2", function: "mean", windowSeconds: 7 * DAY, type: "float64" },
  { name: "max_f1_7d", column: "f1", function: "max", windowSeconds: 7 * DAY, type: "float32" },
  {
    name: "stddev_f2_7d",
    column: "f2",
    function: "stddev",
    windowSeconds: 7 * DAY,
    type: "float64",
  },
];

function request(): ViewRequest<FileSourceSpec> {
  const source: FileSourceSpec = {
    ...COMMON,
    name: "source_0",
    kind: "file",
    path: "view_0",
    format: "parquet",
    timestampField: "event_timestamp",
    createdTimestampColumn: "created",
    fieldMapping: {},
  };
  const view: FeatureViewSpec = {
    ...COMMON,
    name: "view_0",
    entities: ["driver"],
    ttlSeconds: 0,
    features: [
      { name: "f1", type: "float32" },
      { name: "f2", type: "float64" },
      { name: "f3", type: "int64" },
    ],
    source: source.name,
    online: true,
    offline: true,
    aggregations: AGGREGATIONS,
    tileSeconds: 3600,
  };
  return { view, source, entities: [driver], features: AGGREGATIONS.map((a) => a.name) };
}

interface OfflineRun {
  seconds: number;
  rows: number;
  /** Sum of count_f3_1d: the two engines must agree. */
  checksum: number;
}

async function runLarder(dir: string): Promise<OfflineRun> {
  const store = new DuckDBOfflineStore({ memoryLimit: "2GB" });
  try {
    // Engine start is not measured.
    await (await store.getHistoricalFeatures({
      repoDir: dir,
      entityTable: [{ driver_id: 1, event_timestamp: new Date() }],
      views: [request()],
    })).toRows();
    const start = performance.now();
    const job = await store.getHistoricalFeatures({
      repoDir: dir,
      entityTable: join(dir, "entities.parquet"),
      views: [request()],
    });
    let rows = 0;
    let checksum = 0;
    for await (const batch of job.batches()) {
      rows += batch.numRows;
      for (const v of batch.getChild("count_f3_1d")!) checksum += Number(v ?? 0);
    }
    return { seconds: (performance.now() - start) / 1000, rows, checksum };
  } finally {
    await store.close();
  }
}

async function runPlain(dir: string): Promise<OfflineRun> {
  const db = await DuckDB.open({ memoryLimit: "2GB" });
  try {
    const session = await db.connect();
    await session.rows("SELECT 1");
    const start = performance.now();
    const entities = await loadEntities(session, join(dir, "entities.parquet"), { repoDir: dir });
    const r = request();
    const columns = ["f1", "f2", "f3"];
    const [range] = await session.rows(
      `SELECT epoch_us(min(event_timestamp)) AS low, epoch_us(max(event_timestamp)) AS high FROM ${
        ident(entities.table)
      }`,
    );
    const table = tempName("plain_source");
    await loadSource(session, {
      source: r.source,
      files: [...Deno.readDirSync(join(dir, "view_0"))].map((e) => join(dir, "view_0", e.name))
        .sort(),
      layout: sourceLayout(r.view, r.source, r.entities, columns),
      keyTypes: joinKeysOf(r.view, r.entities).keys.map((k) => k.type),
      featureTypes: ["float32", "float64", "int64"],
      low: BigInt(range!.low as bigint) - 7n * BigInt(DAY) * 1_000_000n,
      high: BigInt(range!.high as bigint),
      table,
    });
    const day = "INTERVAL 1 DAY";
    const inDay = `s.__ts > e.event_timestamp - ${day}`;
    const sql = `SELECT count(s.f3) FILTER (WHERE ${inDay}) AS count_f3_1d,
        sum(s.f2) FILTER (WHERE ${inDay}) AS sum_f2_1d, avg(s.f2) AS mean_f2_7d,
        max(s.f1) AS max_f1_7d, stddev_samp(s.f2) AS stddev_f2_7d
      FROM (SELECT rowid AS rid, * FROM ${ident(entities.table)}) e
      LEFT JOIN ${ident(table)} s ON s.driver_id = e.driver_id
        AND s.__ts > e.event_timestamp - INTERVAL 7 DAY AND s.__ts <= e.event_timestamp
      GROUP BY e.rid ORDER BY e.rid`;
    let rows = 0;
    let checksum = 0;
    for await (const batch of session.stream(sql)) {
      rows += batch.numRows;
      for (const v of batch.getChild("count_f3_1d")!) checksum += Number(v ?? 0);
    }
    const seconds = (performance.now() - start) / 1000;
    await session.close();
    return { seconds, rows, checksum };
  } finally {
    await db.close();
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function online(): Promise<void> {
  const events = Number(args.values.events);
  const requests = Number(args.values.requests);
  const dir = await Deno.makeTempDir({ prefix: "larder_bench_agg_" });
  const store = await SqliteOnlineStore.open({
    project: "bench",
    path: join(dir, "online.sqlite"),
  });
  try {
    const doc: RegistryDocument = emptyDocument("bench");
    const meta = {
      createdAt: "2024-01-01T00:00:00.000Z",
      updatedAt: "2024-01-01T00:00:00.000Z",
      hash: "",
    };
    const source: FileSourceSpec = {
      ...COMMON,
      name: "src",
      kind: "file",
      path: "data/x.parquet",
      format: "parquet",
      timestampField: "ts",
      fieldMapping: {},
    };
    const base = {
      ...COMMON,
      entities: ["driver"],
      ttlSeconds: 0,
      source: "src",
      online: true,
      offline: true,
    };
    const aggregated: FeatureViewSpec = {
      ...base,
      name: "aggregated",
      features: [{ name: "x", type: "float64" }, { name: "n", type: "int64" }],
      aggregations: [
        { name: "count_x_1h", column: "x", function: "count", windowSeconds: 3600, type: "int64" },
        { name: "sum_x_1d", column: "x", function: "sum", windowSeconds: DAY, type: "float64" },
        { name: "mean_x_1d", column: "x", function: "mean", windowSeconds: DAY, type: "float64" },
        { name: "max_n_1d", column: "n", function: "max", windowSeconds: DAY, type: "int64" },
        {
          name: "distinct_n_1d",
          column: "n",
          function: "approx_count_distinct",
          windowSeconds: DAY,
          type: "int64",
        },
      ],
      tileSeconds: 3600,
    };
    const plain: FeatureViewSpec = {
      ...base,
      name: "plain",
      features: ["a", "b", "c", "d", "e"].map((name) => ({ name, type: "float64" as const })),
    };
    doc.objects.entity.driver = { spec: driver, meta };
    doc.objects.dataSource.src = { spec: source, meta };
    doc.objects.featureView.aggregated = { spec: aggregated, meta };
    doc.objects.featureView.plain = { spec: plain, meta };
    const deps = { registry: doc, online: store };
    const now = Date.now();
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const ENTITIES = 1000;
    const BATCH = 100;
    const write = async (view: "aggregated" | "plain"): Promise<number> => {
      const start = performance.now();
      for (let at = 0; at < events; at += BATCH) {
        const n = Math.min(BATCH, events - at);
        const ids = Array.from({ length: n }, () => Math.floor(rand() * ENTITIES));
        const ts = ids.map(() => new Date(now - Math.floor(rand() * DAY * 1000)));
        const values = () => ids.map(() => Math.round(rand() * 1000) / 10);
        await writeOnline(deps, view, {
          driver_id: ids,
          ts,
          ...(view === "aggregated"
            ? { x: values(), n: ids.map(() => Math.floor(rand() * 50)) }
            : { a: values(), b: values(), c: values(), d: values(), e: values() }),
        });
      }
      return ((performance.now() - start) * 1000) / events;
    };
    const plainWrite = await write("plain");
    const aggregatedWrite = await write("aggregated");
    const read = async (view: "aggregated" | "plain"): Promise<{ p50: number; p99: number }> => {
      const features = view === "aggregated"
        ? aggregated.aggregations!.map((a) => `aggregated:${a.name}`)
        : plain.features.map((f) => `plain:${f.name}`);
      const times: number[] = [];
      for (let i = 0; i < requests + 200; i++) {
        const ids = Array.from({ length: 10 }, () => Math.floor(rand() * ENTITIES));
        const start = performance.now();
        await getOnlineFeatures(deps, { features, entities: { driver_id: ids } });
        if (i >= 200) times.push(performance.now() - start);
      }
      times.sort((a, b) => a - b);
      return { p50: percentile(times, 0.5), p99: percentile(times, 0.99) };
    };
    const plainRead = await read("plain");
    const aggregatedRead = await read("aggregated");
    console.log(`\nonline (SQLite), ${events} events over ${ENTITIES} entities in the last day`);
    console.log(
      `  write per event: with 5 aggregations (tiles) ${aggregatedWrite.toFixed(1)} µs, ` +
        `5 plain features ${plainWrite.toFixed(1)} µs, ratio ${
          (aggregatedWrite / plainWrite).toFixed(2)
        }`,
    );
    console.log(
      `  read 10 rows × 5 aggregated features: p50 ${aggregatedRead.p50.toFixed(3)} ms, p99 ${
        aggregatedRead.p99.toFixed(3)
      } ms; 5 plain features: p50 ${plainRead.p50.toFixed(3)} ms, p99 ${
        plainRead.p99.toFixed(3)
      } ms; ratio p50 ${(aggregatedRead.p50 / plainRead.p50).toFixed(2)}`,
    );
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

if (!args.values["skip-offline"]) {
  const dir = await ensureData(size);
  let a: OfflineRun | undefined;
  let w: OfflineRun | undefined;
  let b: OfflineRun | undefined;
  for (let i = 0; i < runs; i++) a = await runLarder(dataDir(size));
  if (args.values.window) {
    aggregateTuning.plan = "window";
    for (let i = 0; i < runs; i++) w = await runLarder(dataDir(size));
    aggregateTuning.plan = "auto";
  }
  for (let i = 0; i < runs; i++) b = await runPlain(dir);
  console.log(
    `offline (${size.entityRows} entity rows × ${size.rowsPerView} events, 5 aggregations, DuckDB-WASM 2GB)`,
  );
  console.log(
    `  (a) Larder          ${a!.seconds.toFixed(2)} s  rows ${a!.rows}  checksum ${a!.checksum}`,
  );
  console.log(
    `  (b) plain range join ${b!.seconds.toFixed(2)} s  rows ${b!.rows}  checksum ${b!.checksum}`,
  );
  if (w) {
    console.log(
      `  (a') Larder, window plan ${
        w.seconds.toFixed(2)
      } s  rows ${w.rows}  checksum ${w.checksum}`,
    );
    console.log(`  ratio a'/b ${(w.seconds / b!.seconds).toFixed(2)}`);
  }
  console.log(`  ratio a/b ${(a!.seconds / b!.seconds).toFixed(2)}`);
}
if (!args.values["skip-online"]) await online();
