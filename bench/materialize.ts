/**
 * Materialization throughput: N source rows (one per entity) x F float64 features from a
 * Parquet file, through the DuckDB offline engine, into Redis over HTTP (real `@upstash/redis`
 * client -> Redis HTTP bridge -> redis-server), compared in the same run with a raw pipelined
 * HSET loop over TCP (npm `redis`) writing the same rows to the same server.
 *
 * With `--store redis_cluster`: into a Redis Cluster of three masters over TCP instead, compared
 * in the same run with raw pipelined loops (node-redis `createCluster`, a window of commands in
 * flight, each routed to its slot's master) writing the same rows into the same cluster: `SET`
 * of the exact record text Larder stores, and `HSET` of the fields.
 *
 * Run: `deno run -A bench/materialize.ts [--rows 1000000] [--features 10] [--batch-rows 10000]
 *       [--bridge process|inprocess] [--store bridge|redis_cluster]`
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createClient, createCluster } from "redis";
import { materialize } from "../engine/materialize/mod.ts";
import { DuckDBOfflineStore } from "../engine/offline/mod.ts";
import {
  clusterBucket,
  createUpstashClient,
  encodeRedisRecord,
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
import { startRedisCluster } from "../tests/support/redis_cluster.ts";
import { prng } from "../tests/support/prng.ts";
import { addFloatView, benchDocument } from "./_bench_registry.ts";

const { values: flags } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000" },
    features: { type: "string", default: "10" },
    "batch-rows": { type: "string", default: "10000" },
    bridge: { type: "string", default: "process" },
    store: { type: "string", default: "bridge" },
  },
});
if (flags.store !== "bridge" && flags.store !== "redis_cluster") {
  throw new Error(`--store: expected "bridge" or "redis_cluster", got "${flags.store}"`);
}
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

/** Source rows, registry and materialize deps in a temp folder, shared by both stores. */
async function prepare(dir: string, offline: DuckDBOfflineStore) {
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
  return { columns, featureNames, deps, window };
}

if (flags.store === "redis_cluster") {
  const dir = await Deno.makeTempDir({ prefix: "larder-bench-materialize-" });
  const cluster = await startRedisCluster({ masters: 3 });
  const offline = new DuckDBOfflineStore({ memoryLimit: "2GB" });
  const raw = createCluster({
    rootNodes: cluster.seeds.map((url) => ({ url })),
    RESP: 2,
  });
  raw.on("error", () => {});
  try {
    const { columns, featureNames, deps, window } = await prepare(dir, offline);
    await raw.connect();
    // The record text Larder writes for row i (timestamps in epoch µs), prepared before timing.
    const recordOf = (i: number): string => {
      const values: Record<string, number> = {};
      for (const name of featureNames) values[name] = columns[name]![i] as number;
      return encodeRedisRecord({
        eventMicros: (columns.event_timestamp![i] as number) * 1000,
        createdMicros: null,
        values,
      });
    };
    const fieldsOf = (i: number): string[] => {
      const fields = ["_ts", String(columns.event_timestamp![i]), "_created", ""];
      for (const name of featureNames) fields.push(name, String(columns[name]![i]));
      return fields;
    };
    const flush = async () => {
      for (const master of raw.masters) {
        const client = await raw.nodeClient(master);
        await client.flushAll();
      }
    };
    const dbsize = async () => {
      let n = 0;
      for (const master of raw.masters) n += Number(await (await raw.nodeClient(master)).dbSize());
      return n;
    };

    let t0 = performance.now();
    await materialize({ ...deps, online: discard }, window);
    const readRate = ROWS / ((performance.now() - t0) / 1000);

    const rounds = 3;
    const larderRates: number[] = [];
    const setRates: number[] = [];
    const hsetRates: number[] = [];
    for (let round = 0; round < rounds; round++) {
      // Larder: materialize into the cluster (keys with hash tags, writes grouped by slot).
      await flush();
      const online = new RedisOnlineStore({ project: "bench", nodes: cluster.seeds });
      t0 = performance.now();
      const result = await materialize({ ...deps, online }, window);
      const rate = ROWS / ((performance.now() - t0) / 1000);
      await online.close();
      const written = result.views[0]!.written;
      if (written !== ROWS) throw new Error(`materialize wrote ${written} rows, expected ${ROWS}`);
      if (await dbsize() !== ROWS) throw new Error("the cluster does not hold every row");
      larderRates.push(rate);

      // Raw: the same keys and record text with SET, then HSET of the fields, windows of
      // 1000 commands in flight (node-redis pipelines each node's commands of one tick).
      for (const [kind, rates] of [["SET", setRates], ["HSET", hsetRates]] as const) {
        await flush();
        const values = Array.from(
          { length: ROWS },
          (_, i) => kind === "SET" ? recordOf(i) : fieldsOf(i),
        );
        const t1 = performance.now();
        for (let i = 0; i < ROWS; i += 1000) {
          const sent: Promise<unknown>[] = [];
          for (let j = i; j < Math.min(ROWS, i + 1000); j++) {
            const key = `larder:bench:stats:{${clusterBucket(`driver_id=${j}`)}}driver_id=${j}`;
            const value = values[j]!;
            sent.push(
              typeof value === "string" ? raw.set(key, value) : raw.hSet(key, value),
            );
          }
          await Promise.all(sent);
        }
        rates.push(ROWS / ((performance.now() - t1) / 1000));
      }
      console.log(
        `  round ${round + 1}: larder ${fmt(larderRates.at(-1)!)} rows/s, raw SET ${
          fmt(setRates.at(-1)!)
        }, raw HSET ${fmt(hsetRates.at(-1)!)}`,
      );
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const larder = median(larderRates);
    const best = Math.max(median(setRates), median(hsetRates));
    console.log("");
    console.log(
      `rows: ${fmt(ROWS)} source rows x ${FEATURES} float64 features (one row per entity); ` +
        `batch ${
          fmt(BATCH_ROWS)
        }; Redis Cluster of 3 masters; ${navigator.hardwareConcurrency} CPUs; medians of ${rounds} rounds`,
    );
    console.log(`read + encode only (no store): ${fmt(readRate)} rows/s`);
    console.log(`larder materialize into the cluster (TCP): ${fmt(larder)} rows/s`);
    console.log(
      `raw pipelined SET of the same records (node-redis cluster): ${fmt(median(setRates))} rows/s`,
    );
    console.log(
      `raw pipelined HSET of the fields (node-redis cluster): ${fmt(median(hsetRates))} rows/s`,
    );
    console.log(`ratio larder / best raw: ${((100 * larder) / best).toFixed(0)}%`);
  } finally {
    await raw.close().catch(() => {});
    await offline.close();
    await cluster.stop();
    await Deno.remove(dir, { recursive: true });
  }
  Deno.exit(0);
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
