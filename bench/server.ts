/**
 * `deno task bench server [--duration 10] [--connections 50] [--rows 1000]
 * [--store sqlite|deno_kv|redis|redis_tcp]`: the feature server under `wrk`.
 *
 * 1. Cold start: process start -> first 200 on `POST /get-online-features` (median of 5).
 * 2. `POST /get-online-features`, 1 and 10 entity rows x 2 feature views (auth none),
 *    `wrk -t1 -c50`, p50 / p99 / requests per second. The online store is SQLite or Deno KV
 *    (a local file; `--store sqlite`, the default like Larder's, or `--store deno_kv`) or, with `--store redis`,
 *    Redis over HTTP: the Redis HTTP bridge (its
 *    own process) in front of a throwaway `redis-server`, as `bench/_redis_stack.ts` starts them;
 *    with `--store redis_tcp`, that `redis-server` over TCP (`redis://`).
 *    With Redis the server merges concurrent reads (`ReadBatcher`); the same two runs are then
 *    repeated with that turned off (`--read-batching both|on|off`, default `both`).
 * 3. The ceiling, in the same run and the same way: a trivial Hono JSON endpoint
 *    (`GET /` -> `{"ok":true}`) in its own process. Prints Larder / ceiling.
 * 4. The store's bound, the same way: a bare `Deno.serve` handler that parses the same body,
 *    reads the same keys from the same online store (merged as the server merges them on
 *    Redis) and answers the records as JSON, with nothing else. No server on that store can
 *    beat it; the gap between it and Larder is Larder's own work.
 *
 * `bench/server.ts --ceiling-server --port N` is that trivial server,
 * `bench/server.ts --feature-server --repo DIR --port N` the feature server as `server/main.ts`
 * wires it but without read batching, and `bench/server.ts --bound-server --repo DIR --port N`
 * the store-only server (all started by this script).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { Hono } from "hono";
import { FeatureStore } from "../engine/mod.ts";
import {
  connectionLimits,
  createApp,
  depsFromFeatureStore,
  serveWithLimits,
} from "../server/mod.ts";
import { ReadBatcher } from "../server/read_batcher.ts";
import { startRedisStack } from "./_redis_stack.ts";
import { freePort, startRedisServer } from "../tests/support/redis_server.ts";

const FEATURES = `
import { entity, featureView, fileSource } from "larder";
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
`;

const FEATURE_REFS = [
  "driver_hourly_stats:conv_rate",
  "driver_hourly_stats:acc_rate",
  "driver_hourly_stats:avg_daily_trips",
  "driver_profile:rating",
  "driver_profile:city",
];

const MAIN = new URL("../server/main.ts", import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;

function body(rows: number): string {
  return JSON.stringify({
    features: FEATURE_REFS,
    entities: { driver_id: Array.from({ length: rows }, (_, i) => 1001 + i * 7) },
  });
}

function spawn(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
}

async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    // already gone
  }
  await child.status;
}

/** Waits until `request()` answers 200; returns milliseconds since `started`. */
async function until200(
  request: () => Promise<Response>,
  started: number,
  timeoutMs = 20_000,
): Promise<number> {
  while (performance.now() - started < timeoutMs) {
    try {
      const res = await request();
      await res.body?.cancel();
      if (res.status === 200) return performance.now() - started;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error("The server did not answer 200 in time");
}

interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
}

const LUA = `
wrk.method = os.getenv("WRK_METHOD")
wrk.headers["Content-Type"] = "application/json"
local rows = tonumber(os.getenv("WRK_ROWS"))
local drivers = tonumber(os.getenv("WRK_DRIVERS"))
local prefix = os.getenv("WRK_PREFIX")
-- A different set of random drivers in every request.
request = function()
  if rows == 0 then return wrk.format() end
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

async function wrk(
  url: string,
  options: {
    method: string;
    rows: number;
    drivers: number;
    seconds: number;
    connections: number;
    lua: string;
  },
): Promise<WrkResult> {
  const out = await new Deno.Command("wrk", {
    args: [
      "-t1",
      `-c${options.connections}`,
      `-d${options.seconds}s`,
      "-s",
      options.lua,
      url,
    ],
    env: {
      WRK_METHOD: options.method,
      WRK_ROWS: String(options.rows),
      WRK_DRIVERS: String(options.drivers),
      WRK_PREFIX: JSON.stringify({ features: FEATURE_REFS, entities: { driver_id: [] } })
        .replace(/\]\}\}$/, ""),
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const line = text.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (!line) throw new Error(`wrk failed: ${text}${new TextDecoder().decode(out.stderr)}`);
  const r = JSON.parse(line.slice("WRK_JSON ".length));
  const seconds = r.duration_us / 1e6;
  return {
    requests: r.requests,
    seconds,
    rps: r.requests / seconds,
    p50Ms: r.p50_us / 1000,
    p99Ms: r.p99_us / 1000,
    errors: r.errors,
  };
}

function ceilingServer(port: number): void {
  const app = new Hono();
  app.get("/", (c) => c.json({ ok: true }));
  Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, app.fetch);
}

/** The feature server as `server/main.ts` starts it, with read batching turned off. */
async function featureServerWithoutBatching(repo: string, port: number): Promise<void> {
  const store = await FeatureStore.open({ repo });
  const wired = await depsFromFeatureStore(store, { readBatching: false });
  serveWithLimits(createApp(wired.deps).fetch, {
    hostname: "127.0.0.1",
    port,
    limits: connectionLimits(store.config.feature_server),
  });
}

/**
 * Only the store: parse the body, read each driver's row of both views (merged like the
 * server's reads on Redis), answer the records. What any server on this store must at least do.
 */
async function storeBoundServer(repo: string, port: number): Promise<void> {
  const store = await FeatureStore.open({ repo });
  const online = await store.onlineStore();
  const reader = online.capabilities.singleRoundTripRead ? new ReadBatcher(online) : online;
  Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (req) => {
    const body = await req.json() as { entities: { driver_id: number[] } };
    const keys = body.entities.driver_id.flatMap((id) => [
      { view: "driver_hourly_stats", entityKey: `driver_id=${id}` },
      { view: "driver_profile", entityKey: `driver_id=${id}` },
    ]);
    return Response.json(await reader.read(keys));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "ceiling-server": { type: "boolean" },
      "feature-server": { type: "boolean" },
      "bound-server": { type: "boolean" },
      repo: { type: "string" },
      port: { type: "string" },
      store: { type: "string", default: "sqlite" },
      "read-batching": { type: "string", default: "both" },
      duration: { type: "string", default: "10" },
      connections: { type: "string", default: "50" },
      rows: { type: "string", default: "1000" },
    },
  });
  if (values["ceiling-server"]) return ceilingServer(Number(values.port));
  if (values["bound-server"]) return await storeBoundServer(values.repo!, Number(values.port));
  if (values["feature-server"]) {
    return await featureServerWithoutBatching(values.repo!, Number(values.port));
  }
  if (!["deno_kv", "sqlite", "redis", "redis_tcp"].includes(values.store)) {
    throw new Error(`--store must be sqlite, deno_kv, redis or redis_tcp, got "${values.store}"`);
  }
  const redisStore = values.store === "redis" || values.store === "redis_tcp";
  const batching = redisStore
    ? { both: [true, false], on: [true], off: [false] }[values["read-batching"]!]
    : [true];
  if (!batching) throw new Error("--read-batching must be both, on or off");
  const seconds = Number(values.duration);
  const connections = Number(values.connections);
  const drivers = Number(values.rows);

  const dir = await Deno.makeTempDir({ prefix: "larder-bench-server-" });
  const lua = join(dir, "bench.lua");
  await Deno.writeTextFile(lua, LUA);
  await Deno.writeTextFile(join(dir, "features.ts"), FEATURES);
  const children: Deno.ChildProcess[] = [];
  const stack = values.store === "redis" ? await startRedisStack("process") : undefined;
  const tcp = values.store === "redis_tcp" ? await startRedisServer() : undefined;
  try {
    await Deno.writeTextFile(
      join(dir, "larder.yaml"),
      stack
        ? `project: bench\nonline_store:\n  type: redis\n  url: ${stack.url}\n  token: ${stack.token}\n`
        : tcp
        ? `project: bench\nonline_store:\n  type: redis\n  url: ${tcp.url}\n`
        : `project: bench\nonline_store:\n  type: ${values.store}\n`,
    );
    const store = await FeatureStore.open({ repo: dir });
    await store.apply({ skipSourceValidation: true });
    await store.close();

    // Load the online store through the server itself.
    const port = freePort();
    const url = `http://127.0.0.1:${port}`;
    let server = await spawn([MAIN, "--repo", dir, "--port", String(port)]);
    children.push(server);
    await until200(() => fetch(`${url}/health`), performance.now());
    const ids = Array.from({ length: drivers }, (_, i) => 1001 + i);
    const ts = ids.map(() => new Date().toISOString());
    for (
      const [view, df] of [
        ["driver_hourly_stats", {
          driver_id: ids,
          event_timestamp: ts,
          conv_rate: ids.map((i) => (i % 100) / 100),
          acc_rate: ids.map((i) => (i % 7) / 7),
          avg_daily_trips: ids.map((i) => i % 40),
        }],
        ["driver_profile", {
          driver_id: ids,
          event_timestamp: ts,
          rating: ids.map((i) => 3 + (i % 20) / 10),
          city: ids.map((i) => ["Lisbon", "Porto", "Braga"][i % 3]),
        }],
      ] as const
    ) {
      const res = await fetch(`${url}/write-to-online-store`, {
        method: "POST",
        body: JSON.stringify({ feature_view_name: view, df }),
      });
      if (res.status !== 200) throw new Error(`load failed: ${await res.text()}`);
      await res.body?.cancel();
    }
    await stop(server);
    children.pop();

    // Cold start: process start -> first 200 on /get-online-features.
    const colds: number[] = [];
    for (let i = 0; i < 5; i++) {
      const p = freePort();
      const started = performance.now();
      const child = await spawn([MAIN, "--repo", dir, "--port", String(p)]);
      children.push(child);
      colds.push(
        await until200(
          () =>
            fetch(`http://127.0.0.1:${p}/get-online-features`, { method: "POST", body: body(1) }),
          started,
        ),
      );
      await stop(child);
      children.pop();
    }
    colds.sort((a, b) => a - b);

    server = await spawn([MAIN, "--repo", dir, "--port", String(port)]);
    children.push(server);
    await until200(
      () => fetch(`${url}/get-online-features`, { method: "POST", body: body(1) }),
      performance.now(),
    );
    const check =
      await (await fetch(`${url}/get-online-features`, { method: "POST", body: body(10) })).json();
    if (check.results[1].statuses.some((s: string) => s !== "PRESENT")) {
      throw new Error(`bench data missing: ${JSON.stringify(check)}`);
    }
    const ceilingPort = freePort();
    const ceiling = await spawn([SELF, "--ceiling-server", "--port", String(ceilingPort)]);
    children.push(ceiling);
    await until200(() => fetch(`http://127.0.0.1:${ceilingPort}/`), performance.now());

    const run = (target: string, method: string, rows: number, duration = seconds) =>
      wrk(target, { method, rows, drivers, seconds: duration, connections, lua });
    // Warm up both (JIT), then measure.
    await run(`${url}/get-online-features`, "POST", 1, 2);
    await run(`http://127.0.0.1:${ceilingPort}/`, "GET", 0, 2);
    const ceilingResult = await run(`http://127.0.0.1:${ceilingPort}/`, "GET", 0);
    await stop(ceiling);
    children.splice(children.indexOf(ceiling), 1);

    // The store's bound: the same load on a server that only reads the store.
    const boundPort = freePort();
    const boundUrl = `http://127.0.0.1:${boundPort}/get-online-features`;
    const bound = spawn([SELF, "--bound-server", "--repo", dir, "--port", String(boundPort)]);
    children.push(bound);
    await until200(() => fetch(boundUrl, { method: "POST", body: body(1) }), performance.now());
    await run(boundUrl, "POST", 1, 2);
    const boundOne = await run(boundUrl, "POST", 1);
    const boundTen = await run(boundUrl, "POST", 10);
    await stop(bound);
    children.splice(children.indexOf(bound), 1);
    const results: { label: string; one: WrkResult; ten: WrkResult }[] = [];
    for (const batched of batching) {
      let target = url;
      if (!batched) {
        // The same server without read batching, on its own port.
        await stop(server);
        children.splice(children.indexOf(server), 1);
        const p = freePort();
        target = `http://127.0.0.1:${p}`;
        server = spawn([SELF, "--feature-server", "--repo", dir, "--port", String(p)]);
        children.push(server);
        await until200(
          () => fetch(`${target}/get-online-features`, { method: "POST", body: body(1) }),
          performance.now(),
        );
        await run(`${target}/get-online-features`, "POST", 1, 2);
      }
      const one = await run(`${target}/get-online-features`, "POST", 1);
      const ten = await run(`${target}/get-online-features`, "POST", 10);
      const label = redisStore ? (batched ? ", batched" : ", unbatched") : "";
      results.push({ label, one, ten });
    }

    const fmt = (name: string, r: WrkResult) =>
      `${name.padEnd(58)} ${r.rps.toFixed(0).padStart(8)} req/s   p50 ${
        r.p50Ms.toFixed(2).padStart(6)
      } ms   p99 ${r.p99Ms.toFixed(2).padStart(6)} ms${r.errors ? `   errors ${r.errors}` : ""}`;
    console.log(
      `wrk -t1 -c${connections} -d${seconds}s, ${Deno.build.os} ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}, online store ${
        stack
          ? "redis (bridge process + redis-server)"
          : tcp
          ? "redis over TCP (redis-server)"
          : values.store
      }`,
    );
    console.log(
      `cold start (process start -> first 200 on /get-online-features): median ${
        colds[2]!.toFixed(0)
      } ms (min ${colds[0]!.toFixed(0)}, max ${colds[4]!.toFixed(0)})`,
    );
    console.log(fmt("ceiling: Hono GET / -> {ok:true}", ceilingResult));
    console.log(fmt("store bound: bare handler, store read only, 1 row", boundOne));
    console.log(fmt("store bound: bare handler, store read only, 10 rows", boundTen));
    for (const { label, one, ten } of results) {
      console.log(fmt(`get-online-features, 1 row x 2 views (5 feat.)${label}`, one));
      console.log(fmt(`get-online-features, 10 rows x 2 views (5 feat.)${label}`, ten));
      console.log(
        `ratio to ceiling (req/s)${label}: 1 row ${
          (one.rps / ceilingResult.rps * 100).toFixed(0)
        }%, 10 rows ${(ten.rps / ceilingResult.rps * 100).toFixed(0)}%; to the store bound: 1 row ${
          (one.rps / boundOne.rps * 100).toFixed(0)
        }%, 10 rows ${(ten.rps / boundTen.rps * 100).toFixed(0)}%`,
      );
    }
  } finally {
    await Promise.all(children.map(stop));
    await stack?.stop();
    await tcp?.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
