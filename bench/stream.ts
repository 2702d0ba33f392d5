/**
 * Stream processor throughput and freshness on a real redis-server, beside the broker's raw
 * ceiling measured in the same run.
 *
 * - Throughput, as a backlog drained: another process XADDs `--events` events (pipelined, 500
 *   a round trip) while nothing consumes, then the clock starts. Raw: one consumer loops
 *   XREADGROUP (COUNT 500) + XACK with no stores, until the last XACK. Larder:
 *   `FeatureStore.stream()` starts on the stream source of one stream feature view (writeTo
 *   both: SQLite online store, Parquet parts appended to the batch source), until every key's
 *   newest value is readable through `getOnlineFeatures`.
 * - Freshness: under a steady background load (`--rate` events/s), probe events are XADDed
 *   one at a time; for each, the time from XADD until the raw consumer received it, and until
 *   `getOnlineFeatures` returns its value (p50/p99).
 *
 * The producer is another process (as producers are). Throughput rounds alternate raw and
 * Larder (`--rounds`, default 3) and the medians are reported, because the machine's load
 * varies between runs.
 *
 * Run: `deno task bench stream [--events 50000] [--keys 1000] [--rate 2000] [--probes 200]
 *       [--rounds 3] [--write-to both|online|offline] [--batch-size 500] [--in-flight 4]`
 */
import { parseArgs } from "node:util";
import { FeatureStore } from "../mod.ts";
import { createRedisTransport, type RedisTransport } from "../engine/online/mod.ts";
import { consumerGroup, createBroker, StreamMetrics } from "../engine/streaming/mod.ts";
import type { StreamSourceSpec } from "../registry/mod.ts";
import { startRedisServer } from "../tests/support/redis_server.ts";
import { streamRepo } from "../tests/streaming/_stream_repo.ts";

const { values: flags } = parseArgs({
  options: {
    events: { type: "string", default: "50000" },
    keys: { type: "string", default: "1000" },
    rate: { type: "string", default: "2000" },
    probes: { type: "string", default: "200" },
    "write-to": { type: "string", default: "both" },
    "batch-size": { type: "string", default: "500" },
    "in-flight": { type: "string", default: "4" },
    rounds: { type: "string", default: "3" },
  },
});
const EVENTS = Number(flags.events);
const KEYS = Number(flags.keys);
const RATE = Number(flags.rate);
const PROBES = Number(flags.probes);
const PROBE_KEY = 10_000_000;
const WRITE_TO = flags["write-to"] as "online" | "offline" | "both";
const ROUNDS = Number(flags.rounds);
const T0 = Date.UTC(2026, 0, 1);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function event(i: number, key = i % KEYS): string[] {
  return [
    "driver_id",
    String(key),
    "ts",
    new Date(T0 + i).toISOString(),
    "fare",
    String(i),
    "trips",
    String(i),
  ];
}

/** XADDs events 0..EVENTS from another process (as producers are); resolves when it starts. */
async function produce(
  url: string,
  stream: string,
  from: number,
): Promise<{ done: Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./_stream_producer.ts", import.meta.url).pathname,
      url,
      stream,
      String(from),
      String(from + EVENTS),
      String(KEYS),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("ready")) text += (await lines.read()).value ?? "";
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("go\n"));
  await writer.close();
  return {
    done: (async () => {
      while (!text.includes("done")) {
        const { value, done } = await lines.read();
        if (done) break;
        text += value;
      }
      await child.status;
    })(),
  };
}

async function xadd(redis: RedisTransport, stream: string, from: number, to: number) {
  for (let i = from; i < to; i += 500) {
    const commands = [];
    for (let j = i; j < Math.min(to, i + 500); j++) {
      commands.push(["XADD", stream, "*", ...event(j)]);
    }
    await redis.pipeline(commands);
  }
}

/** Background load at RATE events/s until `stop` is set; event numbers from `next`. */
function backgroundLoad(redis: RedisTransport, stream: string, counter: { next: number }) {
  let stopped = false;
  const done = (async () => {
    const perTick = Math.max(1, Math.round(RATE / 50));
    while (!stopped) {
      const from = counter.next;
      counter.next += perTick;
      await xadd(redis, stream, from, from + perTick);
      await sleep(20);
    }
  })();
  return { stop: async () => (stopped = true, await done) };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

function summary(samples: number[]): { p50: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: pct(s, 0.5), p99: pct(s, 0.99) };
}

/** A probe event of PROBE_KEY with fare `value`. */
function probe(stream: string, value: number): string[] {
  return [
    "XADD",
    stream,
    "*",
    "driver_id",
    String(PROBE_KEY),
    "ts",
    new Date(T0 + value).toISOString(),
    "fare",
    String(value),
    "trips",
    "0",
  ];
}

/** Freshness: probes one at a time under background load; `seen` says when each arrived. */
async function freshness(
  redis: RedisTransport,
  stream: string,
  from: number,
  arrived: (value: number) => Promise<boolean>,
): Promise<{ p50: number; p99: number }> {
  const counter = { next: from };
  const load = backgroundLoad(redis, stream, counter);
  const latencies: number[] = [];
  for (let k = 0; k < PROBES; k++) {
    const value = 1_000_000_000 + k;
    const sent = performance.now();
    await redis.pipeline([probe(stream, value)]);
    while (!(await arrived(value))) await sleep(0.5);
    latencies.push(performance.now() - sent);
    await sleep(10);
  }
  await load.stop();
  return summary(latencies);
}

/** The raw loop: one consumer doing XREADGROUP (COUNT 500) + XACK, no stores. */
async function rawConsumer(url: string) {
  const stream = "raw";
  const reader = createRedisTransport({ url, commandTimeoutMs: 10_000 });
  const acker = createRedisTransport({ url });
  const drainer = createRedisTransport({ url });
  await acker.pipeline([["XGROUP", "CREATE", stream, "g", "0", "MKSTREAM"]]);
  const state = { acked: 0, stopped: false, seen: new Set<string>() };
  const loop = (async () => {
    while (!state.stopped) {
      const [reply] = await reader.pipeline([
        ["XREADGROUP", "GROUP", "g", "c", "COUNT", "500", "BLOCK", "100", "STREAMS", stream, ">"],
      ]);
      const entries = ((reply?.result as [string, [string, string[]][]][] | null)?.[0]?.[1]) ??
        [];
      if (entries.length === 0) continue;
      for (const [, fields] of entries) {
        if (fields[1] === String(PROBE_KEY)) state.seen.add(fields[5]!);
      }
      await acker.pipeline([["XACK", stream, "g", ...entries.map(([id]) => id)]]);
      state.acked += entries.length;
    }
  })();
  return {
    stream,
    async round(url: string, from: number): Promise<number> {
      // A backlog of EVENTS on a stream of its own, then drained by a consumer loop.
      const key = `raw_drain_${from}`;
      await acker.pipeline([["XGROUP", "CREATE", key, "g", "0", "MKSTREAM"]]);
      await (await produce(url, key, from)).done;
      const started = performance.now();
      let acked = 0;
      while (acked < EVENTS) {
        const [reply] = await drainer.pipeline([
          ["XREADGROUP", "GROUP", "g", "c", "COUNT", "500", "STREAMS", key, ">"],
        ]);
        const entries = ((reply?.result as [string, [string, string[]][]][] | null)?.[0]?.[1]) ??
          [];
        if (entries.length === 0) continue;
        await drainer.pipeline([["XACK", key, "g", ...entries.map(([id]) => id)]]);
        acked += entries.length;
      }
      return EVENTS / ((performance.now() - started) / 1000);
    },
    arrived: (value: number) => Promise.resolve(state.seen.has(String(value))),
    async close() {
      state.stopped = true;
      await loop;
      await reader.close();
      await acker.close();
      await drainer.close();
    },
  };
}

/** The processor: FeatureStore.stream() on one stream feature view of a fresh repo. */
async function larderProcessor(url: string) {
  const repo = await streamRepo({ redisUrl: url }, {
    stream: "larder",
    project: "bench",
    writeTo: WRITE_TO,
  });
  const store = await FeatureStore.open({ repo: repo.dir });
  const spec = (await store.registry.get("dataSource", "trips")).spec as StreamSourceSpec;
  const observer = await createBroker(spec, store.config.streaming, {
    group: consumerGroup("bench", "trip_stats"),
    consumer: "observer",
  });
  let stop = new AbortController();
  const metrics = new StreamMetrics();
  const start = () =>
    store.stream({
      views: ["trip_stats"],
      signal: stop.signal,
      metrics,
      batchSize: Number(flags["batch-size"]),
      maxInFlightBatches: Number(flags["in-flight"]),
    });
  let running = start();
  const fares = async (ids: number[]) =>
    (await store.getOnlineFeatures({ features: ["trip_stats:fare"], entities: { driver_id: ids } }))
      .toRows().map((r) => r.fare);
  // Warm-up: the first batch opens the stores and loads the offline writer.
  const warm = createRedisTransport({ url });
  await warm.pipeline([["XADD", "larder", "*", ...event(-1, PROBE_KEY + 1)]]);
  await warm.close();
  while ((await fares([PROBE_KEY + 1]))[0] !== -1) await sleep(5);
  const ids = Array.from({ length: KEYS }, (_, k) => k);
  let wrong = 0;
  return {
    async round(url: string, from: number): Promise<number> {
      // A backlog of EVENTS while no processor runs, then drained by a processor started anew.
      stop.abort();
      await running;
      await (await produce(url, "larder", from)).done;
      const started = performance.now();
      stop = new AbortController();
      running = start();
      const to = from + EVENTS;
      // The newest event of key k in from..to: the largest j < to with j % KEYS === k.
      const newest = (k: number) => to - 1 - (((to - 1 - k) % KEYS) + KEYS) % KEYS;
      // A cheap poll first (the processor's own counter), then every key's newest value online.
      const target = metrics.of("trip_stats").events + EVENTS;
      while (metrics.of("trip_stats").events < target) await sleep(2);
      for (;;) {
        const got = await fares(ids);
        wrong = got.filter((f, k) => f !== newest(k)).length;
        if (wrong === 0) break;
        await sleep(2);
      }
      return EVENTS / ((performance.now() - started) / 1000);
    },
    arrived: async (value: number) => (await fares([PROBE_KEY]))[0] === value,
    async acknowledged(): Promise<void> {
      for (;;) {
        const lag = await observer.lag();
        if (lag.undelivered === 0 && lag.pending === 0) return;
        await sleep(5);
      }
    },
    wrong: () => wrong,
    async close() {
      stop.abort();
      const [stats] = (await running).views; // the last run's: the last round and freshness
      await observer.close();
      await store.close();
      await repo.remove();
      return stats!;
    },
  };
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

const server = await startRedisServer();
const redis = createRedisTransport({ url: server.url });
try {
  console.log(
    `stream benchmark: ${ROUNDS} rounds of ${EVENTS} events over ${KEYS} keys (producer in another process); freshness: ${PROBES} probes under ${RATE} events/s; writeTo ${WRITE_TO}`,
  );
  const rawLoop = await rawConsumer(server.url);
  const processor = await larderProcessor(server.url);
  const rawRates: number[] = [];
  const larderRates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    rawRates.push(await rawLoop.round(server.url, round * EVENTS));
    larderRates.push(await processor.round(server.url, round * EVENTS));
    console.log(
      `  round ${round + 1}: raw ${Math.round(rawRates.at(-1)!)} events/s, larder ${
        Math.round(larderRates.at(-1)!)
      } events/s`,
    );
  }
  await processor.acknowledged();
  const rawFresh = await freshness(redis, "raw", ROUNDS * EVENTS, rawLoop.arrived);
  const larderFresh = await freshness(redis, "larder", ROUNDS * EVENTS, processor.arrived);
  await rawLoop.close();
  const stats = await processor.close();
  const [r, l] = [median(rawRates), median(larderRates)];
  console.log(
    `raw XADD + XREADGROUP/XACK: ${Math.round(r)} events/s (median); XADD -> consumed p50 ${
      rawFresh.p50.toFixed(1)
    } ms, p99 ${rawFresh.p99.toFixed(1)} ms`,
  );
  console.log(
    `larder stream: ${Math.round(l)} events/s (median, ${
      (100 * l / r).toFixed(0)
    }% of raw) until every key's newest value is readable online; XADD -> readable through getOnlineFeatures p50 ${
      larderFresh.p50.toFixed(1)
    } ms, p99 ${larderFresh.p99.toFixed(1)} ms`,
  );
  const batch = summary(stats.recent);
  console.log(
    `  ${stats.events} events in ${stats.batches} batches, batch p50 ${
      batch.p50.toFixed(1)
    } ms p99 ${
      batch.p99.toFixed(1)
    } ms; ${stats.offlineParts} parts, ${stats.offlineRows} rows offline; ${processor.wrong()} keys wrong online`,
  );
} finally {
  await redis.close();
  await server.stop();
}
