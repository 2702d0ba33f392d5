/**
 * `deno task bench feature_logging [--duration 5] [--rounds 3] [--connections 50]
 * [--drivers 1000] [--rows 1,10]`: what feature logging costs the feature server, in one run.
 *
 * One `server/main.ts` process (SQLite online store; `feature_server.logging` as by default but
 * written every second, so that each run's rows are written before the run's CPU is read) serves
 * two feature services over the same two views (5 features): `plain` (no logging) and `logged`
 * (`sampleRate: 1`, every request logged). `wrk -t1` sends `POST /get-online-features` with
 * random drivers to each in turn, `--rounds` times (plain, logged, plain, logged…: the
 * machine's drift falls on both), for 1 and 10 entity rows per request. Prints the median
 * run's requests per second, p50 / p99, the server process's CPU time per request (all its
 * threads, from /proc: on a shared machine the steadier figure) and the ratios logged /
 * plain, then what the logger did (`/metrics`: rows queued, written, dropped
 * because the queue was full) and how long the graceful stop took to write what waited.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { FeatureStore } from "../engine/mod.ts";

const FEATURES = `
import { entity, featureService, featureView, fileSource } from "larder";
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
export const stats = featureView({
  name: "driver_hourly_stats",
  entities: [driver],
  schema: { conv_rate: "float32", acc_rate: "float32", avg_daily_trips: "int64" },
  source: fileSource({ name: "stats_source", path: "data/stats", timestampField: "event_timestamp" }),
});
export const profile = featureView({
  name: "driver_profile",
  entities: [driver],
  schema: { rating: "float64", city: "string" },
  source: fileSource({ name: "profile_source", path: "data/profile", timestampField: "event_timestamp" }),
});
export const plain = featureService({ name: "plain", features: [stats, profile] });
export const logged = featureService({
  name: "logged",
  features: [stats, profile],
  logging: { destination: { path: "data/logs/logged" } },
});
`;

const MAIN = new URL("../server/main.ts", import.meta.url).pathname;

const LUA = `
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local rows = tonumber(os.getenv("WRK_ROWS"))
local drivers = tonumber(os.getenv("WRK_DRIVERS"))
local prefix = os.getenv("WRK_PREFIX")
request = function()
  local ids = {}
  for i = 1, rows do ids[i] = 1001 + math.random(0, drivers - 1) end
  return wrk.format(nil, nil, nil, prefix .. table.concat(ids, ",") .. "]}}")
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK_JSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"p50_us\\":%d,\\"p99_us\\":%d,\\"errors\\":%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
`;

interface Run {
  readonly rps: number;
  /** CPU time of the server process (all its threads) per request, in µs. */
  readonly cpuUs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
}

/** CPU seconds (user + system, every thread) a process has used, from /proc (Linux). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of the line, in clock ticks (100 per second).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function wrk(
  url: string,
  pid: number,
  options: {
    service: string;
    rows: number;
    drivers: number;
    seconds: number;
    connections: number;
    lua: string;
  },
): Promise<Run> {
  const prefix = JSON.stringify({ feature_service: options.service, entities: { driver_id: [] } })
    .replace(/\]\}\}$/, "");
  const cpuBefore = await cpuSeconds(pid);
  const out = await new Deno.Command("wrk", {
    args: ["-t1", `-c${options.connections}`, `-d${options.seconds}s`, "-s", options.lua, url],
    env: {
      WRK_ROWS: String(options.rows),
      WRK_DRIVERS: String(options.drivers),
      WRK_PREFIX: prefix,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const line = text.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (!line) throw new Error(`wrk failed: ${text}${new TextDecoder().decode(out.stderr)}`);
  const r = JSON.parse(line.slice("WRK_JSON ".length));
  // The logger's work on this run's rows counts for this run: wait until it has written them.
  const base = url.replace(/\/get-online-features$/, "");
  for (let i = 0; i < 100 && (await metrics(base)).larder_feature_log_queued_rows! > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const cpu = await cpuSeconds(pid) - cpuBefore;
  return {
    rps: r.requests / (r.duration_us / 1e6),
    cpuUs: (cpu * 1e6) / Math.max(1, r.requests),
    p50Ms: r.p50_us / 1000,
    p99Ms: r.p99_us / 1000,
    errors: r.errors,
  };
}

async function metrics(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^(larder_feature_log_\w+) (\S+)$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

async function countParts(dir: string): Promise<number> {
  let n = 0;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) n += await countParts(join(dir, e.name));
      else if (e.name.endsWith(".parquet")) n++;
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      duration: { type: "string", default: "5" },
      rounds: { type: "string", default: "3" },
      connections: { type: "string", default: "50" },
      drivers: { type: "string", default: "1000" },
      rows: { type: "string", default: "1,10" },
    },
  });
  const seconds = Number(values.duration);
  const rounds = Number(values.rounds);
  const connections = Number(values.connections);
  const drivers = Number(values.drivers);
  const rowCounts = values.rows.split(",").map(Number);

  const repo = await Deno.makeTempDir({ prefix: "larder-bench-log-" });
  const lua = join(repo, "bench.lua");
  let child: Deno.ChildProcess | undefined;
  try {
    await Deno.writeTextFile(
      join(repo, "larder.yaml"),
      "project: bench\nfeature_server:\n  logging:\n    flush_interval_seconds: 1\n",
    );
    await Deno.writeTextFile(join(repo, "features.ts"), FEATURES);
    await Deno.writeTextFile(lua, LUA);
    const store = await FeatureStore.open({ repo });
    await store.apply({ skipSourceValidation: true });
    const ids = Array.from({ length: drivers }, (_, i) => 1001 + i);
    const ts = ids.map(() => new Date());
    await store.writeToOnlineStore("driver_hourly_stats", {
      driver_id: ids,
      event_timestamp: ts,
      conv_rate: ids.map((i) => (i % 100) / 100),
      acc_rate: ids.map((i) => (i % 7) / 7),
      avg_daily_trips: ids.map((i) => i % 40),
    });
    await store.writeToOnlineStore("driver_profile", {
      driver_id: ids,
      event_timestamp: ts,
      rating: ids.map((i) => 3 + (i % 20) / 10),
      city: ids.map((i) => ["Lisbon", "Porto", "Faro"][i % 3]),
    });
    await store.close();

    child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "--repo", repo, "--port", "0", "--no-ui"],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    reader.releaseLock();
    const base = /(http:\/\/\S+)/.exec(text)?.[1];
    if (!base) throw new Error(`No URL in the server's first line: ${text}`);
    const url = `${base}/get-online-features`;
    const pid = child.pid;

    console.log(
      `feature logging: wrk -t1 -c${connections} -d${seconds}s per run, ${drivers} drivers, 2 views x 5 features, SQLite online store`,
    );
    for (const service of ["plain", "logged"]) {
      await wrk(url, pid, { service, rows: 1, drivers, seconds: 1, connections, lua }); // warm up
    }
    for (const rows of rowCounts) {
      const runs: Record<string, Run[]> = { plain: [], logged: [] };
      for (let round = 0; round < rounds; round++) {
        for (const service of ["plain", "logged"]) {
          runs[service]!.push(
            await wrk(url, pid, { service, rows, drivers, seconds, connections, lua }),
          );
        }
      }
      const median = (list: Run[], key: keyof Run) => {
        const sorted = list.map((r) => r[key]).sort((a, b) => a - b);
        const mid = sorted.length >> 1;
        return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
      };
      const line = (service: string) => {
        const list = runs[service]!;
        return `${service.padEnd(6)} ${median(list, "rps").toFixed(0).padStart(6)} req/s  p50 ${
          median(list, "p50Ms").toFixed(2)
        } ms  p99 ${median(list, "p99Ms").toFixed(2)} ms  CPU ${
          median(list, "cpuUs").toFixed(0)
        } µs/req  (runs: ${list.map((r) => r.rps.toFixed(0)).join(", ")}; errors ${
          list.reduce((n, r) => n + r.errors, 0)
        })`;
      };
      console.log(`\n${rows} entity ${rows === 1 ? "row" : "rows"} per request`);
      console.log(`  ${line("plain")}`);
      console.log(`  ${line("logged")}`);
      console.log(
        `  logged / plain: ${
          (median(runs.logged!, "rps") / median(runs.plain!, "rps")).toFixed(2)
        }x req/s, ${
          (median(runs.logged!, "cpuUs") / median(runs.plain!, "cpuUs")).toFixed(2)
        }x CPU per request`,
      );
    }
    const m = await metrics(base);
    console.log(
      `\nlogger: ${m.larder_feature_log_rows_total} rows queued, ${m.larder_feature_log_written_rows_total} written in ${m.larder_feature_log_written_parts_total} parts, ${m.larder_feature_log_dropped_rows_total} dropped (queue full), ${m.larder_feature_log_queued_rows} waiting`,
    );
    const stopping = performance.now();
    child.kill("SIGTERM");
    await child.status;
    child = undefined;
    console.log(
      `graceful stop (writes what waits): ${
        (performance.now() - stopping).toFixed(0)
      } ms; ${await countParts(
        join(repo, "data/logs/logged"),
      )} parts on disk`,
    );
  } finally {
    if (child) {
      child.kill("SIGTERM");
      await child.status;
    }
    await Deno.remove(repo, { recursive: true });
  }
}

if (import.meta.main) await main();
