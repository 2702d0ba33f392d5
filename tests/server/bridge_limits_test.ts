/**
 * The Redis HTTP bridge as a process (`server/redis_http/main.ts`) under connection floods,
 * in front of a real `redis-server`: at its file descriptor limit it keeps running and answers
 * again; over `--max-connections` it answers 503 in the Upstash error shape.
 */
import assert from "node:assert/strict";
import { Redis } from "@upstash/redis";
import { skipWithoutRedis, startRedisServer } from "../support/redis_server.ts";
import { connect, poll, readUntilClosed } from "./_raw_http.ts";

const MAIN = new URL("../../server/redis_http/main.ts", import.meta.url).pathname;
const WAIT = { timeoutMs: 60_000 };
const TOKEN = "bridge-limits-token";

async function startBridgeProcess(redisUrl: string, fdLimit: number, extra: string[] = []) {
  const args = [
    Deno.execPath(),
    "run",
    "-A",
    MAIN,
    "--port",
    "0",
    "--redis-url",
    redisUrl,
    "--token",
    TOKEN,
    ...extra,
  ];
  const child = new Deno.Command("bash", {
    args: ["-c", `ulimit -n ${fdLimit} && exec "$@"`, "bridge", ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let running = true;
  const exited = child.status.then((status) => {
    running = false;
    return status;
  });
  let errors = "";
  const draining = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (errors += chunk) }),
  );
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  const url = /listening on (http:\/\/\S+)/.exec(text)?.[1];
  if (!url) {
    child.kill("SIGKILL");
    await exited;
    throw new Error(`No URL in the bridge's first line: ${text}${errors}`);
  }
  // The rest of stdout is not read: keep the pipe drained.
  const rest = (async () => {
    while (!(await reader.read()).done);
  })().catch(() => {});
  return {
    url,
    port: Number(new URL(url).port),
    alive: () => running,
    stderr: () => errors,
    async stop() {
      if (running) child.kill("SIGTERM");
      await exited;
      await rest;
      await draining.catch(() => {});
    },
  };
}

/** One PING through the real client, or `undefined` when the bridge does not answer it. */
async function ping(url: string): Promise<string | undefined> {
  const redis = new Redis({
    url,
    token: TOKEN,
    enableTelemetry: false,
    automaticDeserialization: false,
    retry: false,
    signal: AbortSignal.timeout(5_000),
  });
  try {
    return await redis.ping();
  } catch {
    return undefined;
  }
}

async function flood(port: number, count: number): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < count; i++) {
    try {
      conns.push(await connect(port));
    } catch {
      // refused: the listen queue is full
    }
  }
  return conns;
}

function closeAll(conns: readonly Deno.Conn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // already closed by the bridge
    }
  }
}

if (!skipWithoutRedis("bridge connection limits")) {
  Deno.test("the bridge survives a flood of idle connections past its file descriptor limit", async () => {
    const redis = await startRedisServer();
    const bridge = await startBridgeProcess(redis.url, 128, ["--header-timeout-ms", "2000"]);
    let conns: Deno.TcpConn[] = [];
    try {
      conns = await flood(bridge.port, 300);
      // Out of descriptors it retries accepting; its header timeout frees the idle ones.
      await poll(async () => (await ping(bridge.url)) === "PONG" || undefined, {
        ...WAIT,
        what: "PING during the flood",
      });
      assert.ok(bridge.alive(), bridge.stderr());
      assert.match(bridge.stderr(), /redis-http: Cannot accept connections: Too many open files/);
      closeAll(conns);
      conns = [];
      assert.equal(await ping(bridge.url), "PONG");
      assert.ok(bridge.alive());
    } finally {
      closeAll(conns);
      await bridge.stop();
      await redis.stop();
    }
  });

  Deno.test("the bridge answers 503 over --max-connections in the Upstash error shape", async () => {
    const redis = await startRedisServer();
    const bridge = await startBridgeProcess(redis.url, 256, ["--max-connections", "10"]);
    let conns: Deno.TcpConn[] = [];
    try {
      conns = await flood(bridge.port, 40);
      const shed = await readUntilClosed(conns.at(-1)!, WAIT);
      assert.match(shed.text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
      const body = JSON.parse(shed.text.slice(shed.text.indexOf("\r\n\r\n") + 4));
      assert.deepEqual(body, { error: "The bridge has too many open connections: try again" });
      assert.match(bridge.stderr(), /redis-http: Connection limit of 10 reached/);
      closeAll(conns);
      conns = [];
      await poll(async () => (await ping(bridge.url)) === "PONG" || undefined, {
        ...WAIT,
        what: "PING after the flood",
      });
    } finally {
      closeAll(conns);
      await bridge.stop();
      await redis.stop();
    }
  });
}
