/**
 * Online read latency at the SDK level (`getOnlineFeatures`, registry document in memory):
 * p50/p99 for 1/10/100 entity rows x 1/5/10 feature views (5 float64 features each), for
 * SQLite and Deno KV (local files), Redis over HTTP (real `@upstash/redis` client -> Redis
 * HTTP bridge -> redis-server, followed by a raw `fetch` of the same pipeline through the same
 * bridge: its floor) and Redis over TCP (`redis_tcp`: node-redis, RESP2, straight to
 * redis-server, followed by a raw node-redis `MGET` of the same keys on the same server, the
 * floor the SDK's read is compared with), and a Redis Cluster of three masters over TCP
 * (`redis_cluster`, followed by the raw floor there: node-redis `createCluster` sending the
 * same per-slot `MGET`s in parallel). Then the CPU time of the store's own `read()` per call (the
 * process's user + system time, every thread), for the same shapes.
 *
 * Then the on-demand overhead, measured in the same run on the same data: one view's 5 features
 * alone, the same request plus an on-demand view computed per request (2 outputs from those
 * features and a request field), and the same request plus a write-time on-demand view
 * (`writeToOnlineStore`, outputs stored by the load and read back). The three requests
 * alternate within each iteration so that they see the same machine load.
 *
 * Run: `deno run -A bench/online.ts [--iterations 2000] [--bridge process|inprocess]
 *       [--backends sqlite,deno_kv,redis,redis_tcp,redis_cluster] [--shapes 10x5,1x1] [--no-on-demand]`
 *
 * `--shapes` limits the table to some `rows x views` shapes, so that one shape can be measured
 * over many samples (`--shapes 10x5 --iterations 10000`: p99 then rests on 100 samples).
 */
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import {
  DenoKvOnlineStore,
  getOnlineFeatures,
  type OnlineStore,
  RedisOnlineStore,
  SqliteOnlineStore,
  writeOnline,
} from "../engine/online/mod.ts";
import type { LoadedTransform } from "../engine/on_demand.ts";
import type { OnDemandFeatureViewSpec, RegistryDocument } from "../registry/mod.ts";
import { createClient, createCluster } from "redis";
import { clusterBucket, clusterSlot } from "../engine/online/mod.ts";
import { startRedisCluster } from "../tests/support/redis_cluster.ts";
import { startRedisServer } from "../tests/support/redis_server.ts";
import { startRedisStack } from "./_redis_stack.ts";
import { addFloatView, addOnDemand, addRequestSource, benchDocument } from "./_bench_registry.ts";

const { values: flags } = parseArgs({
  options: {
    iterations: { type: "string", default: "2000" },
    bridge: { type: "string", default: "process" },
    backends: { type: "string", default: "sqlite,deno_kv,redis" },
    shapes: { type: "string", default: "" },
    "no-on-demand": { type: "boolean", default: false },
  },
});
const ITERATIONS = Number(flags.iterations);
const BRIDGE = flags.bridge === "inprocess" ? "inprocess" : "process";
const SHAPES = flags.shapes === "" ? undefined : new Set(flags.shapes.split(","));
const ON_DEMAND = !flags["no-on-demand"];
/** Warm-up requests before each measured shape (JIT, connection, the bridge's own warm-up). */
const WARMUP = Math.max(200, Math.min(1000, ITERATIONS / 10));
const ENTITIES = 10_000;
const FEATURES_PER_VIEW = 5;
const VIEWS = 10;

function document(): RegistryDocument {
  const doc = benchDocument();
  addRequestSource(doc, "req", ["amount"]);
  for (const od of [ON_DEMAND_COMPUTED, ON_DEMAND_STORED]) addOnDemand(doc, od);
  for (let v = 0; v < VIEWS; v++) {
    addFloatView(
      doc,
      `view_${v}`,
      Array.from({ length: FEATURES_PER_VIEW }, (_, f) => `v${v}_f${f}`),
    );
  }
  return doc;
}

const VIEW_0_FEATURES = Array.from({ length: FEATURES_PER_VIEW }, (_, f) => `v0_f${f}`);

function onDemandSpec(name: string, stored: boolean): OnDemandFeatureViewSpec {
  return {
    name,
    description: "",
    tags: {},
    owner: "",
    sources: [
      { kind: "featureView", name: "view_0", features: VIEW_0_FEATURES },
      ...(stored ? [] : [{ kind: "requestSource" as const, name: "req" }]),
    ],
    features: [{ name: `${name}_score`, type: "float64" }, {
      name: `${name}_bucket`,
      type: "int64",
    }],
    transformHash: "",
    writeToOnlineStore: stored,
  };
}

/** Computed per request: reads view_0's features and the request field `amount`. */
const ON_DEMAND_COMPUTED = onDemandSpec("od", false);
/** Stored at write time: reads view_0's features only. */
const ON_DEMAND_STORED = onDemandSpec("od_stored", true);

/** The transform of both on-demand views (`amount` is 1 where there is none). */
function onDemandTransform(name: string): LoadedTransform {
  const spec = name === "od" ? ON_DEMAND_COMPUTED : ON_DEMAND_STORED;
  return {
    name,
    features: spec.features,
    transform: (c) => {
      const [f0, f1, f2, f3, f4] = VIEW_0_FEATURES.map((f) => c[f] as readonly (number | null)[]);
      const amount = c.amount as readonly (number | null)[] | undefined;
      return {
        [`${name}_score`]: f0!.map((x, i) => {
          const a = amount ? amount[i] : 1;
          return x === null || a == null ? null : x * a + (f1![i] ?? 0) - (f2![i] ?? 0);
        }),
        [`${name}_bucket`]: f3!.map((x, i) =>
          x === null ? null : Math.floor(x * 10) + ((f4![i] ?? 0) > 0.5 ? 1 : 0)
        ),
      };
    },
  };
}

const TRANSFORMS: ReadonlyMap<string, LoadedTransform> = new Map(
  ["od", "od_stored"].map((name) => [name, onDemandTransform(name)]),
);
/** Loaded once, as `FeatureStore.onDemandTransforms` does after its first call. */
const transforms = (names: readonly string[]) =>
  Promise.resolve(new Map(names.map((n) => [n, TRANSFORMS.get(n)!])));

/** The backend column: `redis` is over HTTP (the bridge), `redis_tcp` over TCP. */
function label(online: OnlineStore): string {
  const [type, url = ""] = online.name.split(" ");
  if (type === "redis" && url === "cluster") return "redis_cluster";
  return type === "redis" && /^rediss?:/.test(url) ? "redis_tcp" : type!;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function load(online: OnlineStore, registry: RegistryDocument): Promise<void> {
  const ids = Array.from({ length: ENTITIES }, (_, i) => i);
  for (let v = 0; v < VIEWS; v++) {
    const columns: Record<string, unknown[]> = {
      driver_id: ids,
      event_timestamp: ids.map(() => new Date()),
    };
    for (let f = 0; f < FEATURES_PER_VIEW; f++) {
      columns[`v${v}_f${f}`] = ids.map(() => Math.random());
    }
    // view_0 also writes the stored on-demand view's outputs.
    await writeOnline({ registry, online, transforms }, `view_${v}`, columns);
  }
}

async function measure(online: OnlineStore, registry: RegistryDocument): Promise<string[]> {
  const lines: string[] = [];
  for (const rows of [1, 10, 100]) {
    for (const views of [1, 5, 10]) {
      if (SHAPES && !SHAPES.has(`${rows}x${views}`)) continue;
      const features = Array.from(
        { length: views },
        (_, v) => Array.from({ length: FEATURES_PER_VIEW }, (_, f) => `view_${v}:v${v}_f${f}`),
      ).flat();
      const times: number[] = [];
      for (let i = -WARMUP; i < ITERATIONS; i++) {
        const ids = Array.from({ length: rows }, () => Math.floor(Math.random() * ENTITIES));
        const t0 = performance.now();
        const res = await getOnlineFeatures({ registry, online }, {
          features,
          entities: { driver_id: ids },
        });
        const rowsOut = res.toRows();
        const ms = performance.now() - t0;
        if (rowsOut.length !== rows || rowsOut[0]![`v0_f0`] === null) throw new Error("bad read");
        if (i >= 0) times.push(ms);
      }
      times.sort((a, b) => a - b);
      lines.push(
        `| ${label(online)} | ${rows} | ${views} | ${views * FEATURES_PER_VIEW} | ${
          quantile(times, 0.5).toFixed(2)
        } | ${quantile(times, 0.99).toFixed(2)} | ${quantile(times, 0.999).toFixed(2)} |`,
      );
    }
  }
  return lines;
}

/** p50/p99 of one request shape, with and without on-demand views, iterations interleaved. */
async function measureOnDemand(online: OnlineStore, registry: RegistryDocument): Promise<string[]> {
  const variants = [
    { label: "view_0 (5 features)", features: [] as string[], request: false },
    {
      label: "+ on-demand, computed (2 outputs)",
      features: ["od:od_score", "od:od_bucket"],
      request: true,
    },
    {
      label: "+ on-demand, stored (2 outputs)",
      features: ["od_stored:od_stored_score", "od_stored:od_stored_bucket"],
      request: false,
    },
  ];
  const base = VIEW_0_FEATURES.map((f) => `view_0:${f}`);
  const lines: string[] = [];
  for (const rows of [1, 10, 100]) {
    const times = variants.map(() => [] as number[]);
    for (let i = -WARMUP; i < ITERATIONS; i++) {
      const ids = Array.from({ length: rows }, () => Math.floor(Math.random() * ENTITIES));
      const amount = ids.map((id) => (id % 10) + 0.5);
      // Rotate the order so that no variant always runs first (cold) or last.
      for (let k = 0; k < variants.length; k++) {
        const index = (i + k + variants.length * 1000) % variants.length;
        const variant = variants[index]!;
        const t0 = performance.now();
        const res = await getOnlineFeatures({ registry, online, transforms }, {
          features: [...base, ...variant.features],
          entities: variant.request ? { driver_id: ids, amount } : { driver_id: ids },
        });
        const rowsOut = res.toRows();
        const ms = performance.now() - t0;
        const last = variant.features[variant.features.length - 1];
        if (rowsOut.length !== rows || (last && rowsOut[0]![last.split(":")[1]!] === null)) {
          throw new Error(`bad read: ${variant.label}`);
        }
        if (i >= 0) times[index]!.push(ms);
      }
    }
    const stats = times.map((t) => {
      t.sort((a, b) => a - b);
      return { p50: quantile(t, 0.5), p99: quantile(t, 0.99) };
    });
    const [without] = stats;
    for (const [index, variant] of variants.entries()) {
      const s = stats[index]!;
      const overhead = (key: "p50" | "p99") => {
        if (index === 0) return "";
        const delta = s[key] - without![key];
        return `${delta >= 0 ? "+" : ""}${delta.toFixed(3)} ms (${delta >= 0 ? "+" : ""}${
          (100 * delta / without![key]).toFixed(1)
        }%)`;
      };
      lines.push(
        `| ${label(online)} | ${rows} | ${variant.label} | ${s.p50.toFixed(3)} | ${
          s.p99.toFixed(3)
        } | ${overhead("p50")} | ${overhead("p99")} |`,
      );
    }
  }
  return lines;
}

const registry = document();
const dir = await Deno.makeTempDir({ prefix: "larder-bench-online-" });
const lines = [
  "| backend | entity rows | views | features | p50 ms | p99 ms | p99.9 ms |",
  "| --- | --- | --- | --- | --- | --- | --- |",
];
const onDemandLines = [
  "| backend | entity rows | request | p50 ms | p99 ms | p50 overhead | p99 overhead |",
  "| --- | --- | --- | --- | --- | --- | --- |",
];
const cpuLines = [
  "| backend | keys per read | reads | CPU µs per read | wall µs per read |",
  "| --- | --- | --- | --- | --- |",
];

/** CPU and wall time of `online.read()` alone, per call, for each measured shape. */
async function measureCpu(online: OnlineStore): Promise<string[]> {
  const out: string[] = [];
  for (const rows of [1, 10, 100]) {
    for (const views of [1, 5, 10]) {
      if (SHAPES ? !SHAPES.has(`${rows}x${views}`) : views !== 5) continue;
      const keysOf = () => {
        const ids = Array.from({ length: rows }, () => Math.floor(Math.random() * ENTITIES));
        return Array.from({ length: views }, (_, v) =>
          ids.map((id) => ({
            view: `view_${v}`,
            entityKey: `driver_id=${id}`,
          }))).flat();
      };
      for (let i = 0; i < WARMUP; i++) await online.read(keysOf());
      const batches = Array.from({ length: ITERATIONS }, keysOf);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      for (const keys of batches) {
        const found = await online.read(keys);
        if (found[0] === null) throw new Error("bad read");
      }
      const wall = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      out.push(
        `| ${label(online)} | ${rows * views} | ${ITERATIONS} | ${
          ((cpu.user + cpu.system) / ITERATIONS).toFixed(1)
        } | ${(1000 * wall / ITERATIONS).toFixed(1)} |`,
      );
    }
  }
  return out;
}

/**
 * p50/p99 of a floor the SDK's read is compared with, per measured shape: `read` gets the keys
 * the SDK's read of that shape sends (random entities each call, `view_<v>:driver_id=<id>` as
 * written by `load`) and must fetch them the cheapest way the same server allows.
 */
async function measureFloor(
  label: string,
  read: (keys: { view: number; id: number }[]) => Promise<void>,
): Promise<string[]> {
  const out: string[] = [];
  for (const rows of [1, 10, 100]) {
    for (const views of [1, 5, 10]) {
      if (SHAPES && !SHAPES.has(`${rows}x${views}`)) continue;
      const times: number[] = [];
      for (let i = -WARMUP; i < ITERATIONS; i++) {
        const ids = Array.from({ length: rows }, () => Math.floor(Math.random() * ENTITIES));
        const keys = Array.from({ length: views }, (_, view) => ids.map((id) => ({ view, id })))
          .flat();
        const t0 = performance.now();
        await read(keys);
        const ms = performance.now() - t0;
        if (i >= 0) times.push(ms);
      }
      times.sort((a, b) => a - b);
      out.push(
        `| ${label} | ${rows} | ${views} | ${views * FEATURES_PER_VIEW} | ${
          quantile(times, 0.5).toFixed(2)
        } | ${quantile(times, 0.99).toFixed(2)} | ${quantile(times, 0.999).toFixed(2)} |`,
      );
    }
  }
  return out;
}

const redisKey = ({ view, id }: { view: number; id: number }) =>
  `larder:bench:view_${view}:driver_id=${id}`;

/**
 * The floor on one `redis-server` over TCP: a raw node-redis `MGET` of the keys (one command:
 * at most 1000 keys), the command the SDK's read sends.
 */
async function measureRaw(url: string): Promise<string[]> {
  const client = createClient({ url, RESP: 2 });
  await client.connect();
  try {
    return await measureFloor("raw node-redis MGET", async (keys) => {
      const found = await client.sendCommand(["MGET", ...keys.map(redisKey)]) as (string | null)[];
      if (found.length !== keys.length || found[0] === null) throw new Error("bad raw read");
    });
  } finally {
    await client.close();
  }
}

/**
 * The floor through the Redis HTTP bridge: one plain `fetch` posting the same pipeline the SDK
 * sends (`[["MGET", …keys]]`) to `/pipeline` with the same token, its JSON answer parsed.
 */
async function measureRawFetch(url: string, token: string): Promise<string[]> {
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  return await measureFloor("raw fetch of the pipeline", async (keys) => {
    const res = await fetch(`${url}/pipeline`, {
      method: "POST",
      headers,
      body: JSON.stringify([["MGET", ...keys.map(redisKey)]]),
    });
    const [entry] = await res.json() as [{ result?: (string | null)[] }];
    if (entry?.result?.length !== keys.length || entry.result[0] === null) {
      throw new Error(`bad raw fetch: ${res.status}`);
    }
  });
}

/**
 * The floor on a Redis Cluster: node-redis `createCluster` sending one `MGET` per slot (an
 * entity's views share its hash tag) of the keys, all at once, each to its master.
 */
async function measureRawCluster(seeds: readonly string[]): Promise<string[]> {
  const client = createCluster({ rootNodes: seeds.map((url) => ({ url })), RESP: 2 });
  client.on("error", () => {});
  await client.connect();
  try {
    return await measureFloor("raw node-redis cluster MGETs", async (keys) => {
      const bySlot = new Map<number, string[]>();
      for (const { view, id } of keys) {
        const key = `larder:bench:view_${view}:{${
          clusterBucket(`driver_id=${id}`)
        }}driver_id=${id}`;
        const slot = clusterSlot(key);
        bySlot.set(slot, [...(bySlot.get(slot) ?? []), key]);
      }
      const found = await Promise.all([...bySlot.values()].map((part) => client.mGet(part)));
      if (found[0]?.[0] == null) throw new Error("bad raw read");
    });
  } finally {
    await client.close();
  }
}

async function run(online: OnlineStore): Promise<void> {
  await load(online, registry);
  lines.push(...await measure(online, registry));
  if (ON_DEMAND) onDemandLines.push(...await measureOnDemand(online, registry));
  cpuLines.push(...await measureCpu(online));
}

try {
  for (const backend of flags.backends.split(",")) {
    if (backend === "sqlite" || backend === "deno_kv") {
      const online = backend === "sqlite"
        ? await SqliteOnlineStore.open({ project: "bench", path: join(dir, "online.sqlite") })
        : await DenoKvOnlineStore.open({ project: "bench", path: join(dir, "online.kv") });
      try {
        await run(online);
      } finally {
        await online.close();
      }
    } else if (backend === "redis") {
      const stack = await startRedisStack(BRIDGE);
      try {
        await run(new RedisOnlineStore({ project: "bench", url: stack.url, token: stack.token }));
        lines.push(...await measureRawFetch(stack.url, stack.token));
      } finally {
        await stack.stop();
      }
    } else if (backend === "redis_tcp") {
      const server = await startRedisServer();
      const online = new RedisOnlineStore({ project: "bench", url: server.url });
      try {
        await run(online);
        lines.push(...await measureRaw(server.url));
      } finally {
        await online.close();
        await server.stop();
      }
    } else if (backend === "redis_cluster") {
      const cluster = await startRedisCluster({ masters: 3 });
      const online = new RedisOnlineStore({ project: "bench", nodes: cluster.seeds });
      try {
        await run(online);
        lines.push(...await measureRawCluster(cluster.seeds));
      } finally {
        await online.close();
        await cluster.stop();
      }
    } else {
      throw new Error(
        `--backends: unknown backend "${backend}" (sqlite, deno_kv, redis, redis_tcp, redis_cluster)`,
      );
    }
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
console.log(
  `getOnlineFeatures, ${ITERATIONS} requests per row after ${WARMUP} of warm-up (random keys of ${ENTITIES}), bridge ${BRIDGE}, ${navigator.hardwareConcurrency} CPUs`,
);
console.log(lines.join("\n"));
if (ON_DEMAND) {
  console.log(
    `\nOn-demand overhead: the same request (view_0's 5 features) without and with an on-demand view, ${ITERATIONS} requests each, interleaved; overhead against the first line of each group`,
  );
  console.log(onDemandLines.join("\n"));
}
console.log(
  `\nThe store's read() alone: ${ITERATIONS} reads of random keys after ${WARMUP} of warm-up; CPU is the process's user + system time (every thread) over the reads`,
);
console.log(cpuLines.join("\n"));
