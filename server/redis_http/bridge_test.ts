/**
 * Tests of the Redis HTTP bridge against a real `redis-server` and the real `@upstash/redis`
 * client (plus raw `fetch` for what the client never sends).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Redis } from "@upstash/redis";
import { skipWithoutRedis, startRedisServer } from "../../tests/support/redis_server.ts";
import type { RedisServer } from "../../tests/support/redis_server.ts";
import { createBridgeApp, createBridgeRedisClient, startBridge } from "./bridge.ts";
import type { RunningBridge, StartBridgeOptions } from "./bridge.ts";
import { parseBridgeConfig } from "./main.ts";

const IGNORE = skipWithoutRedis("server/redis_http/bridge_test.ts");
const TOKEN = "bridge-test-token";

interface Harness {
  readonly server: RedisServer;
  readonly bridge: RunningBridge;
  /** The real client as the online store uses it: auto-pipelining, base64 responses. */
  readonly client: Redis;
  /** Sends a raw request to the bridge with the right token unless `headers` says otherwise. */
  post(path: string, body: BodyInit | null, headers?: Record<string, string>): Promise<Response>;
}

function newClient(url: string, options: { enableAutoPipelining?: boolean } = {}): Redis {
  return new Redis({
    url,
    token: TOKEN,
    enableTelemetry: false,
    automaticDeserialization: false,
    // The bridge is local: a network error is a bug to see at once, not a blip to retry.
    retry: { retries: 0, backoff: () => 0 },
    ...options,
  });
}

function bridgeTest(
  behaviour: string,
  fn: (h: Harness) => Promise<void>,
  bridgeOptions: Partial<StartBridgeOptions> = {},
): void {
  Deno.test({
    name: `createBridgeApp() ${behaviour}`,
    ignore: IGNORE,
    async fn() {
      const server = await startRedisServer();
      try {
        const bridge = await startBridge({
          port: 0,
          hostname: "127.0.0.1",
          redisUrl: server.url,
          token: TOKEN,
          ...bridgeOptions,
        });
        try {
          const post = (path: string, body: BodyInit | null, headers?: Record<string, string>) =>
            fetch(`${bridge.url}${path}`, {
              method: "POST",
              headers: headers ?? { authorization: `Bearer ${TOKEN}` },
              body,
            });
          await fn({ server, bridge, client: newClient(bridge.url), post });
        } finally {
          await bridge.close();
        }
      } finally {
        await server.stop();
      }
    },
  });
}

/** Pings through the bridge until it answers 200 or 5 s pass; returns the last status. */
async function pingUntilOk(post: Harness["post"]): Promise<number> {
  const deadline = Date.now() + 5000;
  let status = 0;
  while (Date.now() < deadline) {
    const res = await post("/", JSON.stringify(["PING"]));
    status = res.status;
    await res.body?.cancel();
    if (status === 200) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return status;
}

async function json(res: Response): Promise<unknown> {
  return JSON.parse(await res.text());
}

bridgeTest("answers single commands from the real client", async ({ bridge, post }) => {
  const client = newClient(bridge.url, { enableAutoPipelining: false });
  assert.equal(await client.set("greeting", "hello"), "OK");
  assert.equal(await client.get("greeting"), "hello");
  assert.equal(await client.get("missing"), null);
  assert.equal(await client.incr("counter"), 1);
  assert.equal(await client.expire("counter", 100), 1);
  assert.equal(await client.hset("h", { a: "1", b: "x" }), 2);
  assert.equal(await client.hget("h", "b"), "x");
  assert.equal(await client.exists("h", "missing"), 1);

  const plain = await post("/", JSON.stringify(["GET", "missing"]));
  assert.equal(plain.status, 200);
  assert.equal(await plain.text(), '{"result":null}');
  const failed = await post("/", JSON.stringify(["HGET", "greeting", "f"]));
  assert.equal(failed.status, 400);
  assert.match((await json(failed) as { error: string }).error, /^WRONGTYPE/);
  await assert.rejects(client.hget("greeting", "f"), /WRONGTYPE/);
});

bridgeTest("runs a pipeline and reports per-entry errors", async ({ client, post }) => {
  const results = await client.pipeline()
    .set("s", "v")
    .hget("s", "field")
    .get("s")
    .exec({ keepErrors: true });
  assert.deepEqual(results.map((r) => r.result ?? null), ["OK", null, "v"]);
  assert.match(results[1]?.error ?? "", /^WRONGTYPE/);
  assert.equal(results[0]?.error, undefined);

  const res = await post("/pipeline", JSON.stringify([["GET"], ["INCR", "n"], ["NOSUCHCMD"]]));
  assert.equal(res.status, 200);
  const entries = await json(res) as { result?: unknown; error?: string }[];
  assert.equal(entries.length, 3);
  assert.match(entries[0]?.error ?? "", /wrong number of arguments/);
  assert.deepEqual(entries[1], { result: 1 });
  assert.match(entries[2]?.error ?? "", /unknown command/);

  await assert.rejects(
    client.pipeline().set("a", "1").hget("a", "f").exec(),
    /Command 2 \[ hget \] failed: WRONGTYPE/,
  );
});

bridgeTest("runs multi-exec in a real MULTI/EXEC transaction", async ({ client, post }) => {
  const results = await client.multi().incr("x").incr("x").get("x").exec();
  assert.deepEqual(results, [1, 2, "2"]);

  const stats = await client.exec<string>(["INFO", "commandstats"]);
  assert.match(stats, /cmdstat_multi:calls=1,/);
  assert.match(stats, /cmdstat_exec:calls=1,/);

  // A runtime error fails its entry only; the other commands apply.
  const runtime = await post(
    "/multi-exec",
    JSON.stringify([["SET", "t", "1"], ["HGET", "t", "f"], ["INCR", "t"]]),
  );
  assert.equal(runtime.status, 200);
  const entries = await json(runtime) as { result?: unknown; error?: string }[];
  assert.deepEqual(entries[0], { result: "OK" });
  assert.match(entries[1]?.error ?? "", /^WRONGTYPE/);
  assert.deepEqual(entries[2], { result: 2 });

  // A command Redis refuses to queue discards the whole transaction.
  const aborted = await post("/multi-exec", JSON.stringify([["SET", "u", "1"], ["GET"]]));
  assert.equal(aborted.status, 400);
  assert.match((await json(aborted) as { error: string }).error, /^EXECABORT .*wrong number/);
  assert.equal(await client.get("u"), null);
  await assert.rejects(client.multi().set("u", "1").hget("u", "f").get("u").exec(), /WRONGTYPE/);
});

bridgeTest("base64-encodes every string when asked and keeps bytes exact", async (h) => {
  const { client, post } = h;
  const unicode = "héllo ✓ 🍞 \u0000 end";
  assert.equal(await client.set("uni", unicode), "OK");
  assert.equal(await client.get("uni"), unicode);
  assert.deepEqual(await client.mget("uni", "nope"), [unicode, null]);

  const bytes = [0, 255, 128, 10, 195];
  const lua = `redis.call("SET", KEYS[1], string.char(${bytes.join(",")})) return 1`;
  const evaluated = await post("/", JSON.stringify(["EVAL", lua, "1", "bin"]));
  assert.deepEqual(await json(evaluated), { result: 1 });

  const encoded = await post(
    "/pipeline",
    JSON.stringify([["GET", "bin"], ["SET", "k", "v"], ["INCR", "n"], ["GET", "no"], [
      "LRANGE",
      "no",
      "0",
      "-1",
    ], ["MGET", "bin", "no", "k"]]),
    { authorization: `Bearer ${TOKEN}`, "upstash-encoding": "base64" },
  );
  const entries = await json(encoded) as { result: unknown }[];
  const b64 = Buffer.from(bytes).toString("base64");
  assert.deepEqual(entries, [
    { result: b64 },
    { result: btoa("OK") },
    { result: 1 },
    { result: null },
    { result: [] },
    { result: [b64, null, btoa("v")] },
  ]);

  const plain = await post("/", JSON.stringify(["GET", "k"]));
  assert.deepEqual(await json(plain), { result: "v" });
});

bridgeTest(
  "returns hgetall, hmget, mget and zrange in the shapes the client expects",
  async (h) => {
    const { client, bridge } = h;
    await client.hset("user:1", { name: "Ada", score: "1.5", city: "Zürich" });
    await client.mset({ a: "1", b: "two" });
    await client.zadd("z", { score: 2, member: "two" }, { score: 1.5, member: "one" });
    const show = async (c: Redis) => ({
      hgetall: await c.hgetall("user:1"),
      hgetallNone: await c.hgetall("user:none"),
      hmget: await c.hmget("user:1", "name", "missing", "city"),
      mget: await c.mget("a", "missing", "b"),
      zrange: await c.zrange("z", 0, -1),
      zrangeScores: await c.zrange("z", 0, -1, { withScores: true }),
    });
    // As Upstash answers: flat RESP2 arrays, left raw when deserialization is off…
    assert.deepEqual(await show(client), {
      hgetall: ["name", "Ada", "score", "1.5", "city", "Zürich"],
      hgetallNone: [],
      hmget: ["Ada", null, "Zürich"],
      mget: ["1", null, "two"],
      zrange: ["one", "two"],
      zrangeScores: ["one", "1.5", "two", "2"],
    });
    // …and turned into objects by the client's own deserializers when it is on.
    const deserializing = new Redis({
      url: bridge.url,
      token: TOKEN,
      enableTelemetry: false,
      retry: { retries: 0, backoff: () => 0 },
    });
    assert.deepEqual(await show(deserializing), {
      hgetall: { name: "Ada", score: "1.5", city: "Zürich" },
      hgetallNone: null,
      hmget: { name: "Ada", missing: null, city: "Zürich" },
      mget: [1, null, "two"],
      zrange: ["one", "two"],
      zrangeScores: ["one", 1.5, "two", 2],
    });
  },
);

bridgeTest("runs EVALSHA scripts and reports NOSCRIPT as an error entry", async ({ client }) => {
  const source = `return redis.call("HGET", KEYS[1], ARGV[1])`;
  await client.hset("row", { f: "value" });
  const sha = await client.scriptLoad(source);
  assert.match(sha, /^[0-9a-f]{40}$/);
  assert.equal(await client.evalsha(sha, ["row"], ["f"]), "value");
  assert.equal(await client.eval(source, ["row"], ["f"]), "value");

  await client.scriptFlush();
  const results = await client.pipeline().evalsha(sha, ["row"], ["f"]).get("row:none").exec({
    keepErrors: true,
  });
  assert.match(results[0]?.error ?? "", /^NOSCRIPT/);
  assert.equal(results[1]?.result, null);

  // The client's Script helper falls back from EVALSHA to EVAL on NOSCRIPT.
  const script = client.createScript<string>(source);
  assert.equal(await script.exec(["row"], ["f"]), "value");
  assert.equal(await client.evalsha(sha, ["row"], ["f"]), "value");

  const nested = await client.eval(`return {1, "a", {2, false}, redis.status_reply("OK")}`, [], []);
  assert.deepEqual(nested, [1, "a", [2, null], "OK"]);
});

bridgeTest("rejects a wrong or missing token with 401", async ({ bridge, post }) => {
  const body = JSON.stringify(["PING"]);
  for (
    const headers of [
      {},
      { authorization: "Bearer wrong" },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: `Basic ${TOKEN}` },
      { authorization: "Bearer " },
    ]
  ) {
    const res = await post("/", body, headers);
    assert.equal(res.status, 401, JSON.stringify(headers));
    assert.deepEqual(await json(res), { error: "Unauthorized" });
  }
  const wrong = new Redis({
    url: bridge.url,
    token: "wrong",
    enableTelemetry: false,
    retry: { retries: 0, backoff: () => 0 },
  });
  await assert.rejects(wrong.get("k"), /Unauthorized/);
  const ok = await post("/", body, { authorization: `bearer ${TOKEN}` });
  assert.deepEqual(await json(ok), { result: "PONG" });
});

bridgeTest("rejects malformed bodies with 400 and a JSON error", async ({ post }) => {
  const cases: [string, string, RegExp][] = [
    ["/", "not json", /^Cannot parse the request body as JSON/],
    ["/", "", /^Cannot parse the request body as JSON/],
    ["/", '{"cmd":"GET"}', /^Invalid command: expected a JSON array/],
    ["/", "[]", /^Invalid command: expected a command name/],
    ["/", '["SET","k",{"a":1}]', /^Invalid command at \[2\]: expected a string, number or boolean/],
    ["/", '["GET",null]', /^Invalid command at \[1\]/],
    ["/pipeline", '["GET","k"]', /^Invalid command at \[0\]: expected a JSON array such as/],
    ["/pipeline", "[]", /^Invalid command: expected at least one command/],
    ["/multi-exec", '[["GET","k"],[]]', /^Invalid command at \[1\]: expected a command name/],
    ["/multi-exec", '{"a":1}', /^Invalid command: expected a JSON array of commands/],
    ["/", '["SUBSCRIBE","ch"]', /"SUBSCRIBE" is not supported/],
    ["/", '["BLPOP","q","0"]', /"BLPOP" is not supported/],
    ["/multi-exec", '[["WATCH","k"]]', /"WATCH" is not supported/],
  ];
  for (const [path, body, expected] of cases) {
    const res = await post(path, body);
    const text = await res.text();
    assert.equal(res.status, 400, `${path} ${body}: ${text}`);
    const { error } = JSON.parse(text) as { error: string };
    assert.match(error, expected, `${path} ${body}`);
    assert.doesNotMatch(text, /\bat .*\.(ts|js):\d+/);
  }
  const pipelined = await post("/pipeline", '[["BLPOP","q","0"],["PING"]]');
  assert.equal(pipelined.status, 200);
  const entries = await json(pipelined) as { result?: unknown; error?: string }[];
  assert.match(entries[0]?.error ?? "", /"BLPOP" is not supported/);
  assert.deepEqual(entries[1], { result: "PONG" });
});

bridgeTest("rejects an oversized body with 413", async ({ post }) => {
  const big = JSON.stringify(["SET", "k", "x".repeat(2048)]);
  const res = await post("/", big);
  assert.equal(res.status, 413);
  assert.deepEqual(await json(res), {
    error: "Request body too large: the limit is 1024 bytes",
  });

  // Without a Content-Length (chunked), the limit holds while reading.
  const stream = ReadableStream.from([new TextEncoder().encode(big)]);
  const chunked = await post("/pipeline", stream);
  assert.equal(chunked.status, 413);
  await chunked.body?.cancel();

  const small = await post("/", JSON.stringify(["SET", "k", "x".repeat(900)]));
  assert.deepEqual(await json(small), { result: "OK" });
}, { maxBodyBytes: 1024 });

bridgeTest("answers 503 while Redis is down and recovers once it is back", async (h) => {
  const { server, client, post } = h;
  assert.equal(await client.set("k", "before"), "OK");
  await server.kill();

  const res = await post("/", JSON.stringify(["GET", "k"]));
  assert.equal(res.status, 503);
  const { error } = await json(res) as { error: string };
  assert.match(
    error,
    new RegExp(`^Redis is unreachable at redis://127\\.0\\.0\\.1:${server.port}: .+`),
  );
  // Answered from the dead socket, not by the watchdog after commandTimeoutMs.
  assert.doesNotMatch(error, /no reply within/);
  await assert.rejects(client.get("k"), /Redis is unreachable at redis:\/\/127\.0\.0\.1/);
  const pipeline = await post("/pipeline", JSON.stringify([["PING"]]));
  assert.equal(pipeline.status, 503);
  await pipeline.body?.cancel();

  await server.restart();
  assert.equal(await pingUntilOk(post), 200);
  // The restarted server is empty: the bridge talks to it, not to a cache.
  assert.equal(await client.get("k"), null);
  assert.equal(await client.set("k", "after"), "OK");
  assert.equal(await client.get("k"), "after");
});

bridgeTest("answers 503 when Redis stops replying and stays in step after", async (h) => {
  const { server, post } = h;
  assert.deepEqual(await json(await post("/", JSON.stringify(["SET", "k", "v"]))), {
    result: "OK",
  });
  server.pause();
  try {
    const started = performance.now();
    const res = await post("/pipeline", JSON.stringify([["INCR", "n"], ["GET", "k"]]));
    const elapsed = performance.now() - started;
    assert.equal(res.status, 503);
    assert.deepEqual(await json(res), {
      error: `Redis is unreachable at redis://127.0.0.1:${server.port}: no reply within 300 ms`,
    });
    assert.ok(elapsed >= 290, `503 after ${elapsed} ms, before the 300 ms of quiet`);
  } finally {
    server.resume();
  }
  // The late replies are dropped, so each request still gets its own replies.
  const res = await post("/pipeline", JSON.stringify([["INCR", "n"], ["GET", "k"]]));
  assert.deepEqual(await json(res), [{ result: 2 }, { result: "v" }]);
}, { commandTimeoutMs: 300 });

Deno.test({
  name: "createBridgeApp() fails every waiting request at once when Redis goes quiet",
  ignore: IGNORE,
  async fn() {
    const server = await startRedisServer();
    const redis = createBridgeRedisClient(server.url);
    try {
      await redis.connect();
      const app = createBridgeApp({ redis, token: TOKEN, commandTimeoutMs: 300 });
      const post = async (path: string, body: unknown): Promise<Response> =>
        await app.request(path, {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}` },
          body: JSON.stringify(body),
        });
      assert.equal((await post("/", ["SET", "k", "v"])).status, 200);
      server.pause();
      let answers: Response[];
      try {
        const started = performance.now();
        const first = post("/pipeline", [["INCR", "n"]]);
        const second = post("/", ["GET", "k"]);
        await new Promise((r) => setTimeout(r, 150));
        const third = post("/pipeline", [["GET", "k"], ["INCR", "n"]]);
        const firstAnswer = await first;
        assert.ok(performance.now() - started >= 290, "failed before 300 ms of quiet");
        // One watchdog for the connection: the request that came 150 ms later fails in the same
        // turn, not 150 ms after (a timer per request would leave it pending here).
        const thirdState = await Promise.race([
          third.then(() => "settled"),
          new Promise((r) => setTimeout(r, 0, "pending")),
        ]);
        assert.equal(thirdState, "settled");
        answers = [firstAnswer, await second, await third];
      } finally {
        server.resume();
      }
      for (const res of answers) {
        assert.equal(res.status, 503);
        assert.match((await res.json() as { error: string }).error, /no reply within 300 ms/);
      }
      // The dropped replies do not leak into later requests; each gets its own.
      const after = await Promise.all([
        post("/pipeline", [["INCR", "n"], ["GET", "k"]]),
        post("/", ["GET", "k"]),
      ]);
      assert.deepEqual(await after[0]!.json(), [{ result: 3 }, { result: "v" }]);
      assert.deepEqual(await after[1]!.json(), { result: "v" });
    } finally {
      redis.destroy();
      await server.stop();
    }
  },
});

bridgeTest(
  "does not cut off a request queued behind a slow pipeline that keeps answering",
  async (h) => {
    const { post } = h;
    assert.equal((await post("/", JSON.stringify(["SET", "k", "v"]))).status, 200);
    // Redis reads a large pipeline 16 KiB at a time and answers each part before reading on:
    // the 20 KB ECHOs split it, so six 150 ms sleeps give a reply every ~150 ms, 900 ms in all,
    // never the 600 ms of quiet that would fail the requests waiting.
    const pad = "x".repeat(20_000);
    const commands = Array.from({ length: 6 }, () => [["DEBUG", "SLEEP", "0.15"], ["ECHO", pad]])
      .flat();
    const slow = post("/pipeline", JSON.stringify(commands));
    const queued = post("/pipeline", JSON.stringify([["GET", "k"]]));
    const answer = await json(await slow) as { result: string }[];
    assert.deepEqual(answer.map((a) => a.result.length), Array(6).fill([2, 20_000]).flat());
    assert.deepEqual(await json(await queued), [{ result: "v" }]);
  },
  { commandTimeoutMs: 600 },
);

Deno.test({
  name: "createBridgeApp() starts while Redis is down and serves once it is up",
  ignore: IGNORE,
  async fn() {
    const server = await startRedisServer();
    try {
      await server.kill();
      const started = performance.now();
      const bridge = await startBridge({
        redisUrl: server.url,
        token: TOKEN,
        connectTimeoutMs: 200,
      });
      try {
        // connectTimeoutMs bounds the wait: started, not hung on the dead port.
        assert.ok(performance.now() - started < 10_000, "startBridge() hung");
        const post = (path: string, body: BodyInit | null) =>
          fetch(`${bridge.url}${path}`, {
            method: "POST",
            headers: { authorization: `Bearer ${TOKEN}` },
            body,
          });
        const res = await post("/", JSON.stringify(["PING"]));
        assert.equal(res.status, 503);
        assert.match(
          (await json(res) as { error: string }).error,
          new RegExp(
            `^Redis is unreachable at redis://127\\.0\\.0\\.1:${server.port}: .*ECONNREFUSED`,
          ),
        );
        await server.restart();
        assert.equal(await pingUntilOk(post), 200);
      } finally {
        await bridge.close();
      }
    } finally {
      await server.stop();
    }
  },
});

bridgeTest("supports the path form", async ({ post, bridge }) => {
  assert.deepEqual(await json(await post("/set/path%20key/v%2F1", null)), { result: "OK" });
  assert.deepEqual(await json(await post("/get/path%20key", null)), { result: "v/1" });
  assert.deepEqual(await json(await post("/set/body-key", "from body")), { result: "OK" });
  const got = await fetch(`${bridge.url}/get/body-key`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.deepEqual(await json(got), { result: "from body" });
});

Deno.test({
  name: "createBridgeApp() answers app.request() in process with a client it is given",
  ignore: IGNORE,
  async fn() {
    const server = await startRedisServer();
    const redis = createBridgeRedisClient(server.url);
    try {
      await redis.connect();
      const app = createBridgeApp({ redis, token: TOKEN });
      const res = await app.request("/pipeline", {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify([["RPUSH", "l", "a", "b"], ["LRANGE", "l", "0", "-1"]]),
      });
      assert.deepEqual(await res.json(), [{ result: 2 }, { result: ["a", "b"] }]);
      assert.throws(() => createBridgeApp({ redis, token: "" }), /the token is empty/);
    } finally {
      redis.destroy();
      await server.stop();
    }
  },
});

Deno.test("parseBridgeConfig() reads flags over env and rejects bad values in one line", () => {
  const env = {
    LARDER_BRIDGE_PORT: "not-a-port",
    LARDER_BRIDGE_REDIS_URL: "redis://10.0.0.1:6379",
    LARDER_BRIDGE_TOKEN: "from-env",
  };
  assert.deepEqual(parseBridgeConfig(["--port", "0"], env), {
    port: 0,
    hostname: "127.0.0.1",
    redisUrl: "redis://10.0.0.1:6379",
    token: "from-env",
  });
  assert.equal(parseBridgeConfig(["--help"], {}), undefined);
  assert.throws(() => parseBridgeConfig([], env), {
    message: 'Invalid --port "not-a-port": expected an integer from 0 to 65535',
  });
  assert.throws(() => parseBridgeConfig(["--port", "70000"], env), /Invalid --port "70000"/);
  assert.throws(() => parseBridgeConfig(["--port", "1"], {}), {
    message: "Missing --token: pass it or set LARDER_BRIDGE_TOKEN",
  });
  assert.throws(
    () => parseBridgeConfig(["--token", "t", "--redis-url", "http://x"], {}),
    { message: 'Invalid --redis-url "http://x": expected a redis:// or rediss:// URL' },
  );
  assert.throws(() => parseBridgeConfig(["--nope"], {}), { message: /^Invalid arguments: / });
});

Deno.test({
  name: "main.ts serves with settings from env and flags and stops on SIGTERM",
  ignore: IGNORE,
  async fn() {
    const server = await startRedisServer();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./main.ts", import.meta.url).pathname, "--port", "0"],
      env: {
        LARDER_BRIDGE_PORT: "not-used-since-the-flag-wins",
        LARDER_BRIDGE_REDIS_URL: server.url,
        LARDER_BRIDGE_TOKEN: TOKEN,
      },
      stdout: "piped",
      stderr: "null",
    }).spawn();
    try {
      const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let banner = "";
      while (!banner.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) break;
        banner += value;
      }
      const url = /listening on (http:\/\/\S+)/.exec(banner)?.[1];
      assert.ok(url, banner);
      assert.match(banner, new RegExp(`Redis at redis://127\\.0\\.0\\.1:${server.port}`));
      const res = await fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(["PING"]),
      });
      assert.deepEqual(await json(res), { result: "PONG" });
      child.kill("SIGTERM");
      assert.equal((await child.status).code, 0);
      await lines.cancel();
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
      await child.status;
      await server.stop();
    }
  },
});

Deno.test("main.ts exits 1 with one line and no stack trace on a bad flag", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./main.ts", import.meta.url).pathname, "--port", "abc"],
    env: { LARDER_BRIDGE_TOKEN: "t" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr).trim().split("\n")
    .filter((line) => !/Warning|arrow2csv/.test(line));
  assert.equal(output.code, 1);
  assert.deepEqual(stderr, [
    'redis-http: Invalid --port "abc": expected an integer from 0 to 65535',
  ]);
});
