/**
 * Cold start of the edge entries: from starting the process to the first 200 answer to
 * `/get-online-features`, for the Cloudflare Worker under `workerd serve` (the bundle that
 * `build-workers` writes) and for `server/edge.ts` under `deno serve`, on the same repo, with
 * the registry and the online store in one `redis-server` behind the Redis HTTP bridge (its own
 * process). Each start is a new process; the figure is the median of `--runs`.
 *
 * Run: `deno task bench edge [--runs 5]`
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FeatureStore } from "../engine/mod.ts";
import { buildWorker, workerdBinary } from "../server/workers_build.ts";
import { SERVER_FEATURES_ON_DEMAND, statsRows } from "../tests/server/_harness.ts";
import { freePort } from "../tests/support/redis_server.ts";
import { tempRepo } from "../tests/support/repo.ts";
import { startRedisStack } from "./_redis_stack.ts";

const { values: flags } = parseArgs({ options: { runs: { type: "string", default: "5" } } });
const RUNS = Number(flags.runs);

const YAML = `project: edge_bench
registry:
  type: redis
  url: \${REDIS_URL}
  token: \${REDIS_TOKEN}
online_store:
  type: redis
  url: \${REDIS_URL}
  token: \${REDIS_TOKEN}
`;
const READ = JSON.stringify({
  features: ["driver_hourly_stats:conv_rate", "scaled:x"],
  entities: { driver_id: [1001, 1002], k: [2, 3] },
});

/** Spawns `command`, then posts READ to the port until the answer is 200: milliseconds. */
async function coldStart(command: Deno.Command, port: number): Promise<number> {
  const started = performance.now();
  const child = command.spawn();
  try {
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/get-online-features`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: READ,
          signal: AbortSignal.timeout(5000),
        });
        const body = await res.text();
        if (res.status === 200) return performance.now() - started;
        if (performance.now() - started > 10_000) throw new Error(`${res.status}: ${body}`);
      } catch (err) {
        if (performance.now() - started > 10_000) throw err;
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  } finally {
    // Killed outright: what is measured is the start (a graceful stop waits for idle
    // keep-alive connections).
    child.kill("SIGKILL");
    await child.status;
  }
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const ms = (xs: readonly number[]) =>
  `median ${median(xs).toFixed(0)} ms (${xs.map((x) => x.toFixed(0)).join(", ")})`;

const stack = await startRedisStack("process");
const repo = await tempRepo({ "larder.yaml": YAML, "features.ts": SERVER_FEATURES_ON_DEMAND });
const vars = { REDIS_URL: stack.url, REDIS_TOKEN: stack.token };
try {
  const store = await FeatureStore.open({
    repo: repo.dir,
    env: (n) => vars[n as keyof typeof vars],
  });
  await store.apply({ skipSourceValidation: true });
  await store.writeToOnlineStore("driver_hourly_stats", statsRows([1001, 1002]));
  await store.close();
  const built = await buildWorker({ repo: repo.dir, out: join(repo.dir, "dist") });
  const workerd = await workerdBinary();
  const config = new URL("../deno.json", import.meta.url).pathname;
  const edge = new URL("../server/edge.ts", import.meta.url).pathname;

  const worker: number[] = [];
  const deno: number[] = [];
  // Alternated, so that a burst of load on the machine falls on both. Run 0 is not kept: it
  // reads the binaries and the module cache into the page cache.
  for (let run = -1; run < RUNS; run++) {
    if (run === 0) [worker.length, deno.length] = [0, 0];
    let port = freePort();
    worker.push(
      await coldStart(
        new Deno.Command(workerd, {
          args: ["serve", built.capnp, "--socket-addr", `http=127.0.0.1:${port}`],
          env: vars,
          clearEnv: true,
          stdout: "null",
          stderr: "null",
        }),
        port,
      ),
    );
    port = freePort();
    deno.push(
      await coldStart(
        new Deno.Command(Deno.execPath(), {
          args: ["serve", "-A", "--config", config, "--port", String(port), edge],
          env: { ...vars, LARDER_REPO: repo.dir },
          stdout: "null",
          stderr: "null",
        }),
        port,
      ),
    );
  }
  const load = await Deno.readTextFile("/proc/loadavg").catch(() => "?");
  console.log(
    `${navigator.hardwareConcurrency} CPUs, load average ${load.split(" ").slice(0, 3).join(" ")}`,
  );
  console.log(`workerd serve (Cloudflare Worker bundle): ${ms(worker)}`);
  console.log(`deno serve server/edge.ts:                ${ms(deno)}`);
} finally {
  await repo.remove();
  await stack.stop();
}
