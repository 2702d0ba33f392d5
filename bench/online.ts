/**
 * Online read latency at the SDK level (`getOnlineFeatures`, registry document in memory):
 * p50/p99 for 1/10/100 entity rows x 1/5/10 feature views (5 float64 features each), for
 * Deno KV (a local file) and Redis over HTTP (real `@upstash/redis` client -> Redis HTTP bridge
 * -> redis-server).
 *
 * Run: `deno run -A bench/online.ts [--iterations 2000] [--bridge process|inprocess]
 *       [--backends deno_kv,redis]`
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  DenoKvOnlineStore,
  getOnlineFeatures,
  type OnlineStore,
  RedisOnlineStore,
  writeOnline,
} from "../engine/online/mod.ts";
import { emptyDocument, type RegistryDocument } from "../registry/mod.ts";
import { startRedisStack } from "./_redis_stack.ts";

const { values: flags } = parseArgs({
  options: {
    iterations: { type: "string", default: "2000" },
    bridge: { type: "string", default: "process" },
    backends: { type: "string", default: "deno_kv,redis" },
  },
});
const ITERATIONS = Number(flags.iterations);
const BRIDGE = flags.bridge === "inprocess" ? "inprocess" : "process";
const ENTITIES = 10_000;
const FEATURES_PER_VIEW = 5;
const VIEWS = 10;

function document(): RegistryDocument {
  const doc = emptyDocument("bench");
  const meta = { createdAt: "", updatedAt: "", hash: "" };
  const common = { description: "", tags: {}, owner: "" };
  doc.objects.entity.driver = {
    spec: { ...common, name: "driver", joinKeys: ["driver_id"], valueType: "int64" },
    meta,
  };
  doc.objects.dataSource.source = {
    spec: {
      ...common,
      name: "source",
      kind: "file",
      path: "data/source.parquet",
      format: "parquet",
      timestampField: "event_timestamp",
      fieldMapping: {},
    },
    meta,
  };
  for (let v = 0; v < VIEWS; v++) {
    doc.objects.featureView[`view_${v}`] = {
      spec: {
        ...common,
        name: `view_${v}`,
        entities: ["driver"],
        ttlSeconds: 0,
        features: Array.from({ length: FEATURES_PER_VIEW }, (_, f) => ({
          name: `v${v}_f${f}`,
          type: "float64" as const,
        })),
        source: "source",
        online: true,
        offline: true,
      },
      meta,
    };
  }
  return doc;
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
    await writeOnline({ registry, online }, `view_${v}`, columns);
  }
}

async function measure(online: OnlineStore, registry: RegistryDocument): Promise<string[]> {
  const lines: string[] = [];
  for (const rows of [1, 10, 100]) {
    for (const views of [1, 5, 10]) {
      const features = Array.from(
        { length: views },
        (_, v) => Array.from({ length: FEATURES_PER_VIEW }, (_, f) => `view_${v}:v${v}_f${f}`),
      ).flat();
      const times: number[] = [];
      for (let i = -Math.min(200, ITERATIONS / 10); i < ITERATIONS; i++) {
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
        `| ${online.name.split(" ")[0]} | ${rows} | ${views} | ${views * FEATURES_PER_VIEW} | ${
          quantile(times, 0.5).toFixed(2)
        } | ${quantile(times, 0.99).toFixed(2)} |`,
      );
    }
  }
  return lines;
}

const registry = document();
const dir = await Deno.makeTempDir({ prefix: "larder-bench-online-" });
const lines = [
  "| backend | entity rows | views | features | p50 ms | p99 ms |",
  "| --- | --- | --- | --- | --- | --- |",
];
try {
  const backends = flags.backends.split(",");
  if (backends.includes("deno_kv")) {
    const kv = await DenoKvOnlineStore.open({ project: "bench", path: join(dir, "online.kv") });
    try {
      await load(kv, registry);
      lines.push(...await measure(kv, registry));
    } finally {
      await kv.close();
    }
  }
  if (backends.includes("redis")) {
    const stack = await startRedisStack(BRIDGE);
    try {
      const redis = new RedisOnlineStore({ project: "bench", url: stack.url, token: stack.token });
      await load(redis, registry);
      lines.push(...await measure(redis, registry));
    } finally {
      await stack.stop();
    }
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
console.log(
  `getOnlineFeatures, ${ITERATIONS} requests per row (random keys of ${ENTITIES}), bridge ${BRIDGE}, ${navigator.hardwareConcurrency} CPUs`,
);
console.log(lines.join("\n"));
