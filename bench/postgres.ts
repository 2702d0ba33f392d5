/**
 * Postgres offline store benchmark (not a test).
 *
 *   deno task bench postgres [small] [--runs N]
 *
 * On bench/pit.ts's generated data (small: 100k entity rows × 1 view of 1M rows, cached in
 * bench/.data/), in one process:
 *   (a) Larder on DuckDB-WASM: DuckDBOfflineStore over the Parquet files (the baseline);
 *   (p) Larder on PostgreSQL 15: PostgresOfflineStore over the same rows loaded into a table
 *       (a throwaway cluster on loopback, fsync off, default memory settings), the entity file
 *       copied in by the store at each run as it is for every retrieval.
 * Each: getHistoricalFeatures() with the entity Parquet file, the whole result streamed as
 * Arrow batches; the same with only its first 1,000 rows (a small entity table against the
 * whole source); then pullLatest() over the whole span (the materialization read), streamed.
 * Times are wall clock, the median of the warm runs (all but the first of `--runs`, default 5),
 * engine start and the one-off table load excluded (printed apart); the machine's load average
 * is printed beside them, as wall time is noisy on a shared machine. Non-null counts check that
 * the engines agree.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { DuckDBOfflineStore, readParquetFile, type ViewRequest } from "../engine/offline/mod.ts";
import { PostgresOfflineStore } from "../engine/offline_postgres/mod.ts";
import { OfflineStoreConfigSchema, type PostgresOfflineStoreConfig } from "../engine/config.ts";
import type { EntitySpec, FeatureViewSpec, OfflineStore } from "../mod.ts";
import type { BatchSourceSpec } from "../registry/mod.ts";
import type { Table } from "apache-arrow";
import { copyArrowTable, startPostgres } from "../tests/support/postgres.ts";
import { ensureData, SIZES, T0_US, TTL_SECONDS } from "./_pit_data.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { runs: { type: "string", default: "5" } },
});
const size = SIZES[(positionals[0] ?? "small") as keyof typeof SIZES];
if (!size || size.views !== 1) {
  console.error("error: sizes with one view only: small or large1");
  Deno.exit(1);
}
const runs = Number(values.runs);

const driver: EntitySpec = {
  name: "driver",
  description: "",
  tags: {},
  owner: "",
  joinKeys: ["driver_id"],
  valueType: "int64",
};
const common = {
  name: "source_0",
  description: "",
  tags: {},
  owner: "",
  timestampField: "event_timestamp",
  createdTimestampColumn: "created",
  fieldMapping: {},
};
const view: FeatureViewSpec = {
  name: "view_0",
  description: "",
  tags: {},
  owner: "",
  entities: ["driver"],
  ttlSeconds: TTL_SECONDS,
  features: [
    { name: "f1", type: "float32" },
    { name: "f2", type: "float64" },
    { name: "f3", type: "int64" },
  ],
  source: "source_0",
  online: true,
  offline: true,
};

interface Result {
  retrieval: number;
  small: number;
  rows: number;
  nonNull: number;
  pull: number;
  latest: number;
}

async function measure(
  store: OfflineStore,
  source: BatchSourceSpec,
  dir: string,
  fewEntities: Table,
): Promise<Result> {
  const request: ViewRequest = { view, source, entities: [driver], features: ["f1", "f2", "f3"] };
  const results: Result[] = [];
  for (let run = 0; run < runs; run++) {
    const t0 = performance.now();
    const job = await store.getHistoricalFeatures({
      repoDir: dir,
      entityTable: "entities.parquet",
      views: [request],
    });
    let rows = 0;
    let nonNull = 0;
    for await (const batch of job.batches()) {
      rows += batch.numRows;
      const f1 = batch.getChild("f1")!;
      nonNull += batch.numRows - f1.nullCount;
    }
    const retrieval = (performance.now() - t0) / 1000;
    const t2 = performance.now();
    const few = await store.getHistoricalFeatures({
      repoDir: dir,
      entityTable: fewEntities,
      views: [request],
    });
    let fewRows = 0;
    for await (const batch of few.batches()) fewRows += batch.numRows;
    const small = (performance.now() - t2) / 1000;
    const t1 = performance.now();
    const latest = await store.pullLatest({
      repoDir: dir,
      view,
      source,
      entities: [driver],
      start: new Date(Number(T0_US / 1000n)),
      end: new Date(Number(T0_US / 1000n) + 31 * 86_400_000),
    });
    let count = 0;
    for await (const batch of latest) count += batch.numRows;
    const pull = (performance.now() - t1) / 1000;
    results.push({ retrieval, small, rows, nonNull, pull, latest: count });
    console.log(
      `  run ${run + 1}: retrieval ${retrieval.toFixed(2)} s (${rows} rows), ${fewRows} rows ${
        small.toFixed(2)
      } s, pullLatest ${pull.toFixed(2)} s (${count} keys)`,
    );
  }
  const warm = results.length > 1 ? results.slice(1) : results;
  const median = (values: number[]) => values.sort((x, y) => x - y)[Math.floor(values.length / 2)]!;
  return {
    ...results.at(-1)!,
    retrieval: median(warm.map((r) => r.retrieval)),
    small: median(warm.map((r) => r.small)),
    pull: median(warm.map((r) => r.pull)),
  };
}

function loadAverage(): string {
  return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
}

const dir = await ensureData(size);
const entities = await readParquetFile(join(dir, "entities.parquet"));
const fewEntities = entities.slice(0, 1000);
console.log(`${size.name}: ${size.entityRows} entity rows × ${size.rowsPerView} source rows`);

console.log("(a) DuckDB-WASM over Parquet");
let t = performance.now();
const duck = new DuckDBOfflineStore({});
await duck.ready();
console.log(`  start ${((performance.now() - t) / 1000).toFixed(2)} s`);
const a = await measure(
  duck,
  { ...common, kind: "file", path: "view_0", format: "parquet" },
  dir,
  fewEntities,
);
await duck.close();

console.log("(p) PostgreSQL 15 over a table");
t = performance.now();
const pg = await startPostgres();
try {
  console.log(`  start ${((performance.now() - t) / 1000).toFixed(2)} s`);
  t = performance.now();
  const files = [...Deno.readDirSync(join(dir, "view_0"))].map((e) => e.name).sort();
  for (const [i, file] of files.entries()) {
    const data = await readParquetFile(join(dir, "view_0", file));
    if (i === 0) {
      await copyArrowTable(pg.url, "source_0", {
        driver_id: "bigint",
        event_timestamp: "timestamp",
        created: "timestamp",
        f1: "real",
        f2: "double precision",
        f3: "bigint",
      }, data);
    } else throw new Error("one Parquet part per view expected");
  }
  console.log(`  loading the table (once) ${((performance.now() - t) / 1000).toFixed(2)} s`);
  const config = OfflineStoreConfigSchema.parse({ type: "postgres", url: pg.url });
  const store = new PostgresOfflineStore(config as PostgresOfflineStoreConfig);
  const p = await measure(
    store,
    { ...common, kind: "postgres", table: "source_0" },
    dir,
    fewEntities,
  );
  await store.close();

  const same = a.rows === p.rows && a.nonNull === p.nonNull && a.latest === p.latest;
  console.log(
    `\nresults agree: ${same} (rows ${a.rows}/${p.rows}, non-null f1 ${a.nonNull}/${p.nonNull}, keys ${a.latest}/${p.latest})`,
  );
  console.log(`load average ${loadAverage()}; medians of ${Math.max(runs - 1, 1)} warm runs`);
  const row = (name: string, r: Result) =>
    `| ${name} | ${r.retrieval.toFixed(2)} s | ${r.small.toFixed(2)} s | ${r.pull.toFixed(2)} s |`;
  console.log("| engine | retrieval, all entity rows | retrieval, 1,000 rows | pullLatest |");
  console.log("| --- | --- | --- | --- |");
  console.log(row("(a) DuckDB-WASM", a));
  console.log(row("(p) Postgres", p));
  console.log(
    `| ratio p/a | ${(p.retrieval / a.retrieval).toFixed(2)} | ${
      (p.small / a.small).toFixed(2)
    } | ${(p.pull / a.pull).toFixed(2)} |`,
  );
  if (!same) Deno.exitCode = 1;
} finally {
  await pg.stop();
}
