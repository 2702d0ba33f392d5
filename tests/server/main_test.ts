/**
 * `server/main.ts` as a process: flags, startup line, and two server processes on one feature
 * repo sharing the online store and the materialization locks, on each online store backend
 * (SQLite and Deno KV on a file; Redis through the real bridge to a real `redis-server`).
 */
import assert from "node:assert/strict";
import { FeatureStore } from "../../engine/mod.ts";
import type { OnlineStore } from "../../engine/online/mod.ts";
import { type OnlineBackend, testEachOnlineBackend } from "../support/online_backends.ts";
import { assertHeldByThisProcess } from "../support/locks.ts";
import { tempRepo } from "../support/repo.ts";
import { SERVER_FEATURES, statsRows, writeStatsData } from "./_harness.ts";

const MAIN = new URL("../../server/main.ts", import.meta.url).pathname;

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  // Deno's own npm notices (e.g. about package bins) are not the server's output.
  const ours = (text: string) =>
    text.split("\n").filter((l) =>
      !l.replaceAll("\u001b", "").replace(/^(\[[0-9;]*m)*/, "").startsWith("Warning")
    ).join("\n");
  return { code: out.code, stdout: decode(out.stdout), stderr: ours(decode(out.stderr)) };
}

/** A server process and its URL (read from its startup line). */
interface ServerProcess {
  readonly url: string;
  readonly line: string;
  stop(): Promise<void>;
}

async function spawnServer(repo: string): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "--repo", repo, "--port", "0"],
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
  const line = text.split("\n")[0]!;
  const url = /(http:\/\/\S+)/.exec(line)?.[1];
  if (!url) {
    child.kill();
    await child.status;
    throw new Error(`No URL in the server's first line: ${line}`);
  }
  return {
    url,
    line,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await reader.cancel().catch(() => {});
    },
  };
}

// deno-lint-ignore no-explicit-any
async function post(url: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

Deno.test("serve: bad flags print one line and exit 1", async () => {
  const unknown = await run(["--nope"]);
  assert.equal(unknown.code, 1);
  assert.equal(
    unknown.stderr.trim(),
    `serve: Unknown option '--nope' (see "deno task serve --help")`,
  );
  const port = await run(["--port", "99999"]);
  assert.equal(port.code, 1);
  assert.equal(port.stderr.trim().split("\n").length, 1);
  assert.match(port.stderr, /--port: expected at most 65535/);
  const word = await run(["--port", "http"]);
  assert.match(word.stderr, /--port: expected an integer from 0 to 65535/);
  const help = await run(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: deno task serve/);
  const noRepo = await run(["--repo", "/nonexistent/larder"]);
  assert.equal(noRepo.code, 1);
  assert.match(noRepo.stderr, /^serve: Cannot find larder.yaml in "\/nonexistent\/larder"/);
});

/** An online store backend for the server processes, and a client of it for the test. */

async function twoServers(backend: OnlineBackend): Promise<void> {
  const repo = await tempRepo({
    "larder.yaml": `project: test_project\n${backend.yaml}`,
    "features.ts": SERVER_FEATURES,
  });
  const servers: ServerProcess[] = [];
  let client: OnlineStore | undefined;
  try {
    await writeStatsData(repo.dir);
    const store = await FeatureStore.open({ repo: repo.dir });
    await store.apply({ skipSourceValidation: true });
    await store.close();
    servers.push(await spawnServer(repo.dir), await spawnServer(repo.dir));
    const [a, b] = servers as [ServerProcess, ServerProcess];
    assert.match(
      a.line,
      /^Larder feature server for project "test_project" listening on http:\/\/127\.0\.0\.1:\d+ \(auth: none, docs: \/docs\)$/,
    );
    assert.equal((await fetch(`${a.url}/health`).then((r) => r.json())).status, "ok");

    // What A writes, B serves: no state in the processes.
    const write = await post(`${a.url}/write-to-online-store`, {
      feature_view_name: "driver_hourly_stats",
      df: statsRows([1001]),
    });
    assert.equal(write.status, 200);
    const read = await post(`${b.url}/get-online-features`, {
      features: ["driver_hourly_stats:conv_rate"],
      entities: { driver_id: [1001] },
    });
    assert.deepEqual(read.json.results[1].statuses, ["PRESENT"]);

    // A materialization lock held anywhere (here: this test process) blocks both servers.
    client = await backend.client(repo.dir);
    const lease = await client.acquireLock("materialize:driver_trips", 30_000);
    assert.ok(lease);
    const body = { start_ts: "2024-01-01", end_ts: "2024-01-02", feature_views: ["driver_trips"] };
    const [fromA, fromB] = await Promise.all([
      post(`${a.url}/materialize`, body),
      post(`${b.url}/materialize`, body),
    ]);
    assert.equal(fromA.status, 409, JSON.stringify(fromA.json));
    assert.equal(fromB.status, 409, JSON.stringify(fromB.json));
    assertHeldByThisProcess(fromB.json.error, "driver_trips");
    const incremental = await post(`${a.url}/materialize-incremental`, {
      end_ts: "2024-01-02",
      feature_views: ["driver_trips"],
    });
    assert.equal(incremental.status, 409);
    await lease.release();

    // Released: the two servers race; whoever loses answers 409, nobody fails otherwise.
    const race = await Promise.all([
      post(`${a.url}/materialize`, body),
      post(`${b.url}/materialize`, body),
    ]);
    const statuses = race.map((r) => r.status).sort();
    assert.ok(
      JSON.stringify(statuses) === "[200,200]" || JSON.stringify(statuses) === "[200,409]",
      JSON.stringify(race.map((r) => r.json)),
    );
    const trips = await post(`${b.url}/get-online-features`, {
      features: ["driver_trips:trips_today"],
      entities: { driver_id: [1001] },
    });
    assert.deepEqual(trips.json.results[1].values, [7]);
    // Both servers released their locks when their runs ended.
    const leaseAfter = await client.acquireLock("materialize:driver_trips", 30_000);
    assert.ok(leaseAfter, "the servers' locks were released");
    await leaseAfter.release();

    // A holder that crashed (never releases) blocks the view only until its lock expires.
    // 2 s: the 409 (a request to another process) must come back while the lock still holds.
    const crashed = await client.acquireLock("materialize:driver_trips", 2_000);
    assert.ok(crashed);
    assert.equal((await post(`${b.url}/materialize`, body)).status, 409);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const afterExpiry = await post(`${b.url}/materialize`, body);
    assert.equal(afterExpiry.status, 200, JSON.stringify(afterExpiry.json));
  } finally {
    await client?.close();
    await Promise.all(servers.map((s) => s.stop()));
    await repo.remove();
  }
}

testEachOnlineBackend(
  "two server processes share the online store and the materialization locks",
  "tests/server/main_test.ts",
  twoServers,
);
