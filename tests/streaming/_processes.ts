/**
 * Helpers of the tests that run stream processors as real processes on one repo: starting
 * them, reading what they print as it comes, the group's lag as another client sees it, and
 * the exact final state of the stores.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { FeatureStore } from "../../mod.ts";
import { consumerGroup, createBroker } from "../../engine/streaming/mod.ts";
import type { StreamSourceSpec } from "../../registry/mod.ts";
import { offlineRows, onlineValues } from "./_stream_repo.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** `deno run -A ...args` from the project's root, stdout and stderr piped. */
export function spawnDeno(args: readonly string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

/** What a child prints, gathered line by line while it runs. */
export interface Output {
  /** The lines of stdout so far. */
  readonly lines: string[];
  /** Resolves with stderr once both streams ended. */
  readonly ended: Promise<string>;
}

/** Reads `child`'s stdout into lines as they come, and its stderr whole. */
export function gather(child: Deno.ChildProcess): Output {
  const lines: string[] = [];
  const stdout = (async () => {
    let rest = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      lines.push(...parts);
    }
    if (rest) lines.push(rest);
  })();
  const stderr = new Response(child.stderr).text();
  return { lines, ended: Promise.all([stdout, stderr]).then(([, err]) => err) };
}

/** Kills the children that are still running (SIGKILL) and waits for them. */
export async function killAll(children: readonly Deno.ChildProcess[]): Promise<void> {
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already ended.
    }
    await child.status;
  }
}

/** The lag of view `view`'s consumer group, read as another client would. */
export async function groupLag(
  store: FeatureStore,
  view: string,
): Promise<{ undelivered: number; pending: number }> {
  const spec = (await store.registry.get("dataSource", "trips")).spec as StreamSourceSpec;
  const broker = await createBroker(spec, store.config.streaming, {
    group: consumerGroup(store.config.project, view),
    consumer: "observer",
  });
  try {
    return await broker.lag();
  } finally {
    await broker.close();
  }
}

/** Each (driver, fare) pair offline, counted. */
export function offlineCounts(rows: readonly Record<string, unknown>[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of rows) {
    const key = `${r.driver_id}:${r.fare}`;
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

/**
 * Asserts the stores after `rounds` rounds of `tripEvent(driver, round)` for drivers
 * `1..drivers`: `trip_stats`'s newest fare of each driver online, every event offline once.
 */
export async function assertExactStores(
  store: FeatureStore,
  repoDir: string,
  options: { drivers: number; rounds: number },
): Promise<void> {
  const { drivers, rounds } = options;
  const online = await onlineValues(
    store,
    ["trip_stats:fare"],
    Array.from({ length: drivers }, (_, d) => d + 1),
  );
  assert.ok(online.every((r) => r.fare === rounds - 1), JSON.stringify(online));
  const offline = offlineCounts(await offlineRows(repoDir));
  const duplicated = [...offline].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`);
  assert.deepEqual(duplicated, [], "no event twice offline");
  assert.equal(offline.size, drivers * rounds, "every event offline");
}
