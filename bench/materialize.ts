/**
 * Materialization throughput: N source rows (one per entity) x F float64 features from a
 * Parquet file, through the DuckDB offline engine, into Redis over HTTP (real `@upstash/redis`
 * client -> Redis HTTP bridge -> redis-server), compared in the same run with a raw pipelined
 * HSET loop over TCP (npm `redis`) writing the same rows to the same server.
 *
 * Run: `deno run -A bench/materialize.ts [--rows 1000000] [--features 10] [--batch-rows 10000]
 *       [--bridge process|inprocess]`
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createClient } from "redis";
import { materialize } from "../engine/materialize/mod.ts";
import { DuckDBOfflineStore } from "../engine/offline/mod.ts";
import {
  createUpstashClient,
  type OnlineRow,
  type OnlineStore,
  RedisOnlineStore,
} from "../engine/online/mod.ts";
import { writeTable } from "../engine/table_writer.ts";
import {
  FileRegistryBackend,
  type FileSourceSpec,
  Registry,
  type ValueType,
} from "../registry/mod.ts";
import { startRedisStack } from "./_redis_stack.ts";
import { prng } from "../tests/support/prng.ts";
import { addFloatView, benchDocument } from "./_bench_registry.ts";

const { values: flags } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000" },
    features: { type: "string", default: "10" },
    "batch-rows": { type: "string", default: "10000" },
    bridge: { type: "string", default: "process" },
  },
});
const ROWS = Number(flags.rows);
const FEATURES = Number(flags.features);
const BATCH_ROWS = Number(flags["batch-rows"]);
const BRIDGE = flags.bridge === "inprocess" ? "inprocess" : "process";
const END = Date.UTC(2024, 0, 2);

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

/** An online store that stores nothing: materialization's read + encode cost alone. */
const discard: OnlineStore = {
  name: "discard",
  capabilities: { ttl: false, singleRoundTripRead: false, locks: false },
  write: (_view: string, rows: readonly OnlineRow[]) =>
    Promise.resolve({ written: rows.length, skipped: 0 }),
  read: (keys) => Promise.resolve(keys.map(() => null)),
  deleteViews: () => Promise.resolve(),
  deleteAll: () => Promise.resolve(),
  viewsWithData: () => Promise.resolve({ views: [], complete: true }),
  acquireLock: () => Promise.reject(new Error("The discard store has no locks")),
  inspectLock: () => Promise.reject(new Error("The discard store has no locks")),
  breakLock: () => Promise.reject(new Error("The discard store has no locks")),
  close: () => Promise.resolve(),
};

/** redis-server's own HSET rate with its C benchmark client, when `redis-benchmark` is installed. */
async function redisBenchmark(
  port: number,
  rows: number,
  fields: string[],
): Promise<number | null> {
  try {
    const out = await new Deno.Command("redis-benchmark", {
      args: [
        "-p",
        String(port),
        "-q",
        "-n",
        String(rows),
        "-P",
        "1000",
        "-r",
        String(rows),
        "HSET",
        "rb:__rand_int__",
        ...fields,
      ],
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const m = /([\d.]+) requests per second/.exec(text.slice(text.lastIndexOf("HSET")));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

const dir = await Deno.makeTempDir({ prefix: "larder-bench-materialize-" });
const stack = await startRedisStack(BRIDGE);
const offline = new DuckDBOfflineStore({ memoryLimit: "2GB" });
try {
  // Source data: one row per entity, so every source row becomes one online row.
  console.log(`Generating ${fmt(ROWS)} rows x ${FEATURES} features ...`);
  const random = prng(42);
  const featureNames = Array.from({ length: FEATURES }, (_, f) => `f${f}`);
  const columns: Record<string, unknown[]> = {
    driver_id: Array.from({ length: ROWS }, (_, i) => i),
    event_timestamp: Array.from({ length: ROWS }, (_, i) => END - (i % 3600) * 1000),
  };
  for (const name of featureNames) columns[name] = Array.from({ length: ROWS }, () => random());
  const schema: Record<string, ValueType> = { driver_id: "int64", event_timestamp: "timestamp" };
  for (const name of featureNames) schema[name] = "float64";
  await writeTable(join(dir, "data", "source.parquet"), columns, schema);

  const doc = benchDocument();
  addFloatView(doc, "stats", featureNames);
  const registry = new Registry(new FileRegistryBackend(join(dir, "registry.json")), {
    project: "bench",
  });
  await registry.commit(await registry.read(), doc);

  const deps = { registry, offline: () => Promise.resolve(offline), repoDir: dir };
  const window = { start: new Date(END - 86_400_000), end: new Date(END), batchRows: BATCH_ROWS };

  // DuckDB-WASM starts in about a second: not part of any measurement.
  await offline.describeSource(doc.objects.dataSource.source!.spec as FileSourceSpec, dir);

  // 0. Read + encode only: the client side's own ceiling.
  let t0 = performance.now();
  await materialize({ ...deps, online: discard }, window);
  const readRate = ROWS / ((performance.now() - t0) / 1000);

  // 1. Larder: materialize through the bridge into redis-server.
  const online = new RedisOnlineStore({ project: "bench", url: stack.url, token: stack.token });
  t0 = performance.now();
  const result = await materialize({ ...deps, online }, window);
  const larderSeconds = (performance.now() - t0) / 1000;
  const written = result.views[0]!.written;
  if (written !== ROWS) throw new Error(`materialize wrote ${written} rows, expected ${ROWS}`);
  const larderRate = ROWS / larderSeconds;
  const raw = createUpstashClient({ url: stack.url, token: stack.token });
  const stored = Number(await raw.dbsize());

  // 2. Raw ceiling: pipelined HSET over TCP, same rows (strings prepared before timing).
  // (FLUSHALL goes over TCP too: the bridge refuses admin commands.)
  const client = createClient({ url: stack.server.url, RESP: 2 });
  client.on("error", () => {});
  await client.connect();
  const fieldsOf = (i: number): string[] => {
    const fields = ["_ts", String(columns.event_timestamp![i]), "_created", ""];
    for (const name of featureNames) fields.push(name, String(columns[name]![i]));
    return fields;
  };
  let best = { rate: 0, pipeline: 0 };
  for (const pipeline of [100, 1000]) {
    await client.flushAll();
    const t1 = performance.now();
    for (let i = 0; i < ROWS; i += pipeline) {
      const multi = client.multi();
      for (let j = i; j < Math.min(ROWS, i + pipeline); j++) {
        multi.hSet(`raw:bench:stats:driver_id=${j}`, fieldsOf(j));
      }
      await multi.execAsPipeline();
    }
    const rate = ROWS / ((performance.now() - t1) / 1000);
    console.log(`  raw HSET, pipelines of ${pipeline}: ${fmt(rate)} rows/s`);
    if (rate > best.rate) best = { rate, pipeline };
  }
  await client.flushAll();
  const sample = fieldsOf(0);
  const server = await redisBenchmark(stack.server.port, Math.min(ROWS, 200_000), sample);
  await client.flushAll();
  client.destroy();

  console.log("");
  console.log(
    `rows: ${fmt(ROWS)} source rows x ${FEATURES} float64 features (one row per entity); ` +
      `batch ${fmt(BATCH_ROWS)}; bridge ${BRIDGE}; ${navigator.hardwareConcurrency} CPUs`,
  );
  console.log(
    `read + encode only (DuckDB pullLatest + online rows, no store): ${fmt(readRate)} rows/s`,
  );
  console.log(
    `larder materialize into redis over HTTP (bridge): ${larderSeconds.toFixed(2)} s = ${
      fmt(larderRate)
    } rows/s (${fmt(stored)} keys stored)`,
  );
  console.log(
    `raw pipelined HSET over TCP (npm redis, best: pipelines of ${best.pipeline}): ${
      fmt(best.rate)
    } rows/s`,
  );
  console.log(`ratio larder / raw: ${((100 * larderRate) / best.rate).toFixed(0)}%`);
  if (server !== null) {
    console.log(`(redis-benchmark HSET -P 1000, C client, same fields: ${fmt(server)} rows/s)`);
  }
} finally {
  await offline.close();
  await stack.stop();
  await Deno.remove(dir, { recursive: true });
}
