/**
 * Tests of the Redis HTTP bridge against a real `redis-server` and the real `@upstash/redis`
 * client (plus raw `fetch` for what the client never sends).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Redis } from "@upstash/redis";
import { skipWithoutRedis, startRedisServer } from "../../tests/support/redis_server.ts";
import type { RedisServer } from "../../tests/support/redis_server.ts";
import { startPartitionProxy } from "../../tests/support/partition_proxy.ts";
import { LARDER_REDIS_SCRIPTS } from "../../engine/mod.ts";
import { createBridgeApp, RedisPool, startBridge } from "./bridge.ts";
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
        // SIGKILL first: a redis-server stuck in a script does not act on SIGTERM.
        await server.kill();
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

  const res = await post("/pipeline", JSON.stringify([["GET"], ["INCR", "n"], ["INCR", "s"]]));
  assert.equal(res.status, 200);
  const entries = await json(res) as { result?: unknown; error?: string }[];
  assert.equal(entries.length, 3);
  assert.match(entries[0]?.error ?? "", /wrong number of arguments/);
  assert.deepEqual(entries[1], { result: 1 });
  assert.match(entries[2]?.error ?? "", /not an integer/);

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
}, { allowAdmin: true });

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
}, { allowScripts: true });

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
}, { allowScripts: true, allowAdmin: true });

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
    [
      "/",
      '["SUBSCRIBE","ch"]',
      /^Cannot run "SUBSCRIBE": the bridge never runs it: it would block/,
    ],
    ["/", '["BLPOP","q","0"]', /^Cannot run "BLPOP": the bridge never runs it/],
    ["/", '["XREAD","BLOCK","0","STREAMS","s","$"]', /^Cannot run "XREAD BLOCK": the bridge/],
    ["/", '["client","reply","off"]', /^Cannot run "CLIENT REPLY": the bridge never runs it/],
    [
      "/multi-exec",
      '[["SET","k","v"],["WATCH","k"]]',
      /^Cannot run the transaction \(nothing was sent\): command 2 of 2 is "WATCH": the bridge/,
    ],
  ];
  for (const [path, body, expected] of cases) {
    const res = await post(path, body);
    const text = await res.text();
    assert.equal(res.status, 400, `${path} ${body}: ${text}`);
    const { error } = JSON.parse(text) as { error: string };
    assert.match(error, expected, `${path} ${body}`);
    assert.doesNotMatch(text, /\bat .*\.(ts|js):\d+/);
  }
  // One command the bridge never runs refuses the whole pipeline: nothing of it runs.
  const pipelined = await post("/pipeline", '[["INCR","n"],["BLPOP","q","0"],["INCR","n"]]');
  assert.equal(pipelined.status, 400);
  assert.match(
    (await json(pipelined) as { error: string }).error,
    /^Cannot run the pipeline \(nothing was sent\): command 2 of 3 is "BLPOP": the bridge never/,
  );
  assert.deepEqual(await json(await post("/", '["GET","n"]')), { result: null });
});

bridgeTest("rejects an oversized body with 413", async ({ post }) => {
  const big = JSON.stringify(["SET", "k", "x".repeat(2048)]);
  const res = await post("/", big);
  assert.equal(res.status, 413);
  assert.deepEqual(await json(res), {
    error: "Request body too large: the limit is 1024 bytes (--max-body-bytes)",
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
    const res = await post("/pipeline", JSON.stringify([["INCR", "n"], ["GET", "k"]]));
    assert.equal(res.status, 503);
    // The watchdog's answer: the connection stayed open, Redis sent nothing.
    assert.deepEqual(await json(res), {
      error: `Redis is unreachable at redis://127.0.0.1:${server.port}: no reply within 300 ms; ` +
        "none of the 2 commands replied, whether they ran is unknown",
    });
  } finally {
    server.resume();
  }
  // The late replies are dropped, so each request still gets its own replies.
  const res = await post("/pipeline", JSON.stringify([["INCR", "n"], ["GET", "k"]]));
  assert.deepEqual(await json(res), [{ result: 2 }, { result: "v" }]);
}, { commandTimeoutMs: 300 });

Deno.test({
  name: "createBridgeApp() fails every waiting request when Redis goes quiet, on every connection",
  ignore: IGNORE,
  async fn() {
    const server = await startRedisServer();
    const redis = new RedisPool(server.url, { commandTimeoutMs: 300 });
    try {
      await redis.connect();
      const app = createBridgeApp({ redis, token: TOKEN });
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
        const first = post("/pipeline", [["INCR", "n"]]);
        const second = post("/", ["GET", "k"]);
        await new Promise((r) => setTimeout(r, 150));
        const third = post("/pipeline", [["GET", "k"], ["INCR", "n"]]);
        answers = [await first, await second, await third];
      } finally {
        server.resume();
      }
      for (const res of answers) {
        assert.equal(res.status, 503);
        assert.match((await res.json() as { error: string }).error, /no reply within 300 ms; /);
      }
      // The dropped replies do not leak into later requests; each gets its own.
      const after = await Promise.all([
        post("/pipeline", [["INCR", "n"], ["GET", "k"]]),
        post("/", ["GET", "k"]),
      ]);
      assert.deepEqual(await after[0]!.json(), [{ result: 3 }, { result: "v" }]);
      assert.deepEqual(await after[1]!.json(), { result: "v" });
    } finally {
      await redis.close();
      await server.stop();
    }
  },
});

bridgeTest(
  "does not cut off a request queued behind a slow pipeline that keeps answering",
  async (h) => {
    const { post } = h;
    assert.equal((await post("/", JSON.stringify(["SET", "k", "v"]))).status, 200);
    // Redis reads an argument of 32 KiB or more on its own (exactly to its end), then at most
    // 16 KiB: the 256 KiB ECHOs put each sleep in a read of its own, answered before Redis
    // reads on. Twelve 250 ms sleeps: a reply every 250 ms, 3 s in all, never the 2000 ms of
    // quiet that would fail the requests waiting.
    const pad = "x".repeat(256 * 1024);
    const commands = Array.from({ length: 12 }, () => [["DEBUG", "SLEEP", "0.25"], ["ECHO", pad]])
      .flat();
    const slow = post("/pipeline", JSON.stringify(commands));
    const queued = post("/pipeline", JSON.stringify([["GET", "k"]]));
    const answer = await json(await slow) as { result: string }[];
    assert.deepEqual(answer.map((a) => a.result.length), Array(12).fill([2, pad.length]).flat());
    assert.deepEqual(await json(await queued), [{ result: "v" }]);
  },
  // One connection, so that the GET really queues behind the pipeline.
  { commandTimeoutMs: 2000, connections: 1, allowAdmin: true },
);

/** Polls `ask` every 50 ms until `done` accepts its answer or 30 s pass; returns the last. */
async function pollUntil<T>(ask: () => Promise<T>, done: (answer: T) => boolean): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const answer = await ask();
    if (done(answer) || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Status and error text of a PING through `post`. */
async function ping(post: Harness["post"]): Promise<{ status: number; error?: string }> {
  const res = await post("/", JSON.stringify(["PING"]));
  const body = await json(res) as { error?: string };
  return { status: res.status, ...(body.error === undefined ? {} : { error: body.error }) };
}

Deno.test({
  name: "createBridgeApp() redials links that went silent without closing, and serves again",
  ignore: IGNORE,
  async fn() {
    const server = await startRedisServer();
    // Between the bridge and Redis: links that can be cut as a partition cuts them.
    const proxy = startPartitionProxy(server.port);
    const log: string[] = [];
    const bridge = await startBridge({
      redisUrl: `redis://127.0.0.1:${proxy.port}`,
      token: TOKEN,
      commandTimeoutMs: 300,
      connectTimeoutMs: 300,
      connections: 2,
      log: (line) => log.push(line),
    });
    const post = (path: string, body: BodyInit | null) =>
      fetch(`${bridge.url}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
        body,
      });
    try {
      assert.deepEqual(await json(await post("/", '["SET","k","v"]')), { result: "OK" });
      proxy.partition();
      const cut = await post("/", '["GET","k"]');
      assert.equal(cut.status, 503);
      assert.match(await errorOf(cut), /: no reply within 300 ms; whether the command ran/);
      // The network comes back, but the old links stay dead: only new ones get through.
      proxy.heal();
      assert.deepEqual(await pollUntil(() => ping(post), (p) => p.status === 200), {
        status: 200,
      });
      assert.deepEqual(await json(await post("/", '["GET","k"]')), { result: "v" });
      assert.match(log.join("\n"), /Redis sent nothing for \d+ ms .*: the bridge closed it/);
    } finally {
      await bridge.close();
      await proxy.close();
      await server.stop();
    }
  },
});

const redialLog: string[] = [];

bridgeTest("redials while Redis is frozen, and stays in step once it thaws", async (h) => {
  const { server, post } = h;
  assert.deepEqual(await json(await post("/", '["SET","k","v"]')), { result: "OK" });
  server.pause();
  try {
    const frozen = await post("/pipeline", '[["INCR","n"],["GET","k"]]');
    assert.equal(frozen.status, 503);
    await frozen.body?.cancel();
    // Long enough silent: every connection that waited is closed, and new ones wait for PONG.
    const redialled = await pollUntil(
      () => Promise.resolve(redialLog.join("\n")),
      (text) => /the bridge closed it and reconnects/.test(text),
    );
    assert.match(redialled, /the bridge closed it and reconnects/);
    const waiting = await ping(post);
    assert.equal(waiting.status, 503);
  } finally {
    server.resume();
  }
  assert.deepEqual(await pollUntil(() => ping(post), (p) => p.status === 200), { status: 200 });
  // Each request gets its own replies; the INCR cut off may have run, or not.
  assert.deepEqual(await json(await post("/pipeline", '[["ECHO","a"],["GET","k"],["ECHO","b"]]')), [
    { result: "a" },
    { result: "v" },
    { result: "b" },
  ]);
  const n = await json(await post("/", '["INCR","n"]')) as { result: number };
  assert.ok(n.result === 1 || n.result === 2, String(n.result));
}, { commandTimeoutMs: 300, connectTimeoutMs: 300, log: (line) => redialLog.push(line) });

bridgeTest("recovers when a frozen Redis is killed and restarted", async (h) => {
  const { server, post } = h;
  assert.deepEqual(await json(await post("/", '["SET","k","v"]')), { result: "OK" });
  server.pause();
  const frozen = await post("/", '["GET","k"]');
  assert.equal(frozen.status, 503);
  await frozen.body?.cancel();
  await server.kill();
  const down = await pollUntil(() => ping(post), (p) => /ECONNREFUSED/.test(p.error ?? ""));
  assert.equal(down.status, 503);
  assert.match(down.error ?? "", /ECONNREFUSED/);
  await server.restart();
  assert.deepEqual(await pollUntil(() => ping(post), (p) => p.status === 200), { status: 200 });
  // A new, empty server.
  assert.deepEqual(await json(await post("/", '["GET","k"]')), { result: null });
}, { commandTimeoutMs: 300, connectTimeoutMs: 300, log: () => {} });

Deno.test({
  name: "createBridgeApp() says what Redis answered when it refuses the connection",
  ignore: IGNORE,
  async fn() {
    const server = await startRedisServer();
    // The one client Redis then allows: the bridge's connections get an error and are closed.
    const holder = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const say = async (command: string) => {
      await holder.write(new TextEncoder().encode(`${command}\r\n`));
      const buffer = new Uint8Array(256);
      const n = await holder.read(buffer);
      return new TextDecoder().decode(buffer.subarray(0, n ?? 0));
    };
    let bridge: RunningBridge | undefined;
    try {
      assert.match(await say("CONFIG SET maxclients 1"), /^\+OK/);
      bridge = await startBridge({ redisUrl: server.url, token: TOKEN, connectTimeoutMs: 300 });
      const url = bridge.url;
      const post = (path: string, body: BodyInit | null) =>
        fetch(`${url}${path}`, {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}` },
          body,
        });
      const refused = await pollUntil(
        () => ping(post),
        (p) => p.status === 503 && /max number of clients/.test(p.error ?? ""),
      );
      assert.equal(refused.status, 503);
      assert.match(
        refused.error ?? "",
        new RegExp(
          `^Redis is unreachable at redis://127\\.0\\.0\\.1:${server.port}: .*ERR max number of clients reached`,
        ),
      );
      assert.match(await say("CONFIG SET maxclients 100"), /^\+OK/);
      assert.deepEqual(await pollUntil(() => ping(post), (p) => p.status === 200), { status: 200 });
    } finally {
      holder.close();
      await bridge?.close();
      await server.stop();
    }
  },
});

bridgeTest("writes integer replies beyond 2^53 with their exact digits", async ({ post }) => {
  const single = await post("/", '["INCRBY","big","9007199254740993"]');
  assert.equal(await single.text(), '{"result":9007199254740993}');
  const pipeline = await post(
    "/pipeline",
    '[["INCRBY","big","1"],["SET","low","-9223372036854775808"],["INCRBY","low","0"],["INCR","n"]]',
  );
  assert.equal(
    await pipeline.text(),
    '[{"result":9007199254740994},{"result":"OK"},{"result":-9223372036854775808},{"result":1}]',
  );
  const base64 = await post("/", '["INCRBY","big","0"]', {
    authorization: `Bearer ${TOKEN}`,
    "upstash-encoding": "base64",
  });
  assert.equal(await base64.text(), '{"result":9007199254740994}');
});

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

/** Sends one command to Redis over its own TCP connection, not through the bridge. */
async function direct(port: number, ...args: string[]): Promise<string> {
  const encoder = new TextEncoder();
  const request = `*${args.length}\r\n` +
    args.map((arg) => `$${encoder.encode(arg).length}\r\n${arg}\r\n`).join("");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(encoder.encode(request));
    const buffer = new Uint8Array(4096);
    const n = await conn.read(buffer);
    return new TextDecoder().decode(buffer.subarray(0, n ?? 0));
  } finally {
    conn.close();
  }
}

/** Posts `body` to `path` until it answers 200 or 20 s pass; returns the last answer. */
async function postUntilOk(
  post: Harness["post"],
  path: string,
  body: string,
): Promise<{ status: number; body: unknown }> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const res = await post(path, body);
    const answer = { status: res.status, body: await json(res) };
    if (answer.status === 200 || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function errorOf(res: Response): Promise<string> {
  return (await json(res) as { error: string }).error;
}

bridgeTest("refuses admin and server commands by default with 403 naming the flag", async (h) => {
  const { server, client, post } = h;
  assert.equal(await client.set("kept", "v"), "OK");
  const refused: [string[], string][] = [
    [["FLUSHALL"], "FLUSHALL"],
    [["flushdb"], "FLUSHDB"],
    [["SHUTDOWN", "NOSAVE"], "SHUTDOWN"],
    [["CONFIG", "SET", "requirepass", "locked-out"], "CONFIG"],
    [["CONFIG", "SET", "maxmemory", "1"], "CONFIG"],
    [["CLIENT", "PAUSE", "60000"], "CLIENT"],
    [["CLIENT", "KILL", "TYPE", "normal"], "CLIENT"],
    [["KEYS", "*"], "KEYS"],
    [["DEBUG", "SLEEP", "0"], "DEBUG"],
    [["INFO"], "INFO"],
    [["SCRIPT", "FLUSH"], "SCRIPT FLUSH"],
    [["SCRIPT", "KILL"], "SCRIPT KILL"],
    [["SCAN", "0", "COUNT", "1000000"], "SCAN"],
    // Redis uses the last COUNT: a small one first does not hide a large one.
    [["SCAN", "0", "COUNT", "10", "COUNT", "100000000"], "SCAN"],
    [["HSCAN", "h", "0", "COUNT", "10", "COUNT", "100000000"], "HSCAN"],
    [["FUNCTION", "FLUSH"], "FUNCTION FLUSH"],
    [["MOVE", "kept", "1"], "MOVE"],
    [["SWAPDB", "0", "1"], "SWAPDB"],
    [["NOSUCHCMD"], "NOSUCHCMD"],
  ];
  for (const [command, name] of refused) {
    const res = await post("/", JSON.stringify(command));
    const error = await errorOf(res);
    assert.equal(res.status, 403, `${command.join(" ")}: ${error}`);
    assert.ok(error.startsWith(`Cannot run "${name}": `), error);
    assert.match(error, / --allow-admin$/);
  }
  assert.equal((await post("/flushall", null)).status, 403);
  await assert.rejects(client.flushall(), /Cannot run "FLUSHALL": .* --allow-admin/);
  await assert.rejects(client.keys("*"), /Cannot run "KEYS"/);
  // None of them ran: the key is there, Redis answers a new connection without a password,
  // and has no memory limit.
  assert.equal(await client.get("kept"), "v");
  assert.match(await direct(server.port, "PING"), /^\+PONG/);
  assert.match(await direct(server.port, "CONFIG", "GET", "maxmemory"), /\r\n0\r\n$/);
  assert.equal(await client.set("after", "x"), "OK");
  // Data commands a client uses on its own keys still work, SCAN with a bounded COUNT too.
  assert.equal(await client.expire("after", 100), 1);
  assert.deepEqual(await client.scan(0, { match: "kep*", count: 1000 }), ["0", ["kept"]]);
  assert.equal(await client.dbsize(), 2);
});

bridgeTest("refuses a whole pipeline or transaction with one refused command", async (h) => {
  const { client, post } = h;
  const pipeline = await post(
    "/pipeline",
    JSON.stringify([["INCR", "n"], ["SET", "k", "v"], ["FLUSHALL"], ["INCR", "n"]]),
  );
  assert.equal(pipeline.status, 403);
  assert.match(
    await errorOf(pipeline),
    /^Cannot run the pipeline \(nothing was sent\): command 3 of 4 is "FLUSHALL": .* --allow-admin$/,
  );
  const transaction = await post(
    "/multi-exec",
    JSON.stringify([["INCR", "n"], ["EVAL", "return 1", "0"]]),
  );
  assert.equal(transaction.status, 403);
  assert.match(
    await errorOf(transaction),
    /^Cannot run the transaction \(nothing was sent\): command 2 of 2 is "EVAL": .*--allow-scripts$/,
  );
  await assert.rejects(
    client.pipeline().incr("n").flushdb().exec(),
    /command 2 of 2 is "FLUSHDB"/,
  );
  assert.deepEqual(await client.mget("n", "k"), [null, null]);
});

const GET_SCRIPT = `return redis.call("GET", KEYS[1])`;

bridgeTest("runs Larder's scripts and registered ones only, by EVAL or EVALSHA", async (h) => {
  const { client, post } = h;
  await client.set("k", "v");
  const sha = await client.scriptLoad(GET_SCRIPT);
  assert.equal(await client.evalsha(sha, ["k"], []), "v");
  assert.equal(await client.eval(GET_SCRIPT, ["k"], []), "v");
  assert.equal(await client.evalsha(sha.toUpperCase(), ["k"], []), "v");
  assert.equal(await client.createScript<string>(GET_SCRIPT).exec(["k"], []), "v");
  assert.deepEqual(await client.scriptExists(sha), [1]);
  for (const source of LARDER_REDIS_SCRIPTS) {
    assert.match(await client.scriptLoad(source), /^[0-9a-f]{40}$/);
  }

  const busy = "while true do end";
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(busy));
  const busySha = Buffer.from(digest).toString("hex");
  const refused: [string[], string][] = [
    [["EVAL", busy, "0"], "EVAL"],
    [["eval_ro", busy, "0"], "EVAL_RO"],
    [["EVALSHA", busySha, "0"], "EVALSHA"],
    [["SCRIPT", "LOAD", busy], "SCRIPT LOAD"],
  ];
  for (const [command, name] of refused) {
    const res = await post("/", JSON.stringify(command));
    assert.equal(res.status, 403);
    assert.equal(
      await errorOf(res),
      `Cannot run "${name}": the script with SHA-1 "${busySha}" is not registered with the bridge: register its source with --script FILE, or allow every script with --allow-scripts`,
    );
  }
  for (const command of [["FCALL", "f", "0"], ["FUNCTION", "LIST"]]) {
    const res = await post("/", JSON.stringify(command));
    assert.equal(res.status, 403);
    assert.match(await errorOf(res), /runs Redis functions: .* --allow-scripts$/);
  }
  await assert.rejects(client.eval(busy, [], []), /is not registered with the bridge/);
  // The script's body must match exactly: one more space is another script.
  await assert.rejects(client.eval(`${GET_SCRIPT} `, ["k"], []), /is not registered/);
}, { scripts: [GET_SCRIPT] });

bridgeTest("lets admin commands and any script through with both flags", async (h) => {
  const { client, post } = h;
  await client.set("k", "v");
  assert.deepEqual(await client.keys("*"), ["k"]);
  assert.match(await client.exec<string>(["INFO", "server"]), /redis_version/);
  assert.equal(await client.exec(["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]), "OK");
  assert.equal(await client.eval(`return ARGV[1]`, [], ["x"]), "x");
  assert.deepEqual(await client.scan(0, { count: 1_000_000 }), ["0", ["k"]]);
  assert.equal(await client.flushall(), "OK");
  assert.equal(await client.dbsize(), 0);
  // Never, whatever the flags: what would break the connection the callers share.
  for (const command of [["SUBSCRIBE", "ch"], ["CLIENT", "REPLY", "OFF"], ["SELECT", "1"]]) {
    const res = await post("/", JSON.stringify(command));
    assert.equal(res.status, 400);
    assert.match(await errorOf(res), /the bridge never runs it/);
  }
}, { allowAdmin: true, allowScripts: true });

bridgeTest("keeps scripts refused with --allow-admin alone", async ({ client }) => {
  assert.equal(await client.dbsize(), 0);
  assert.equal(await client.flushdb(), "OK");
  await assert.rejects(client.eval(`return 1`, [], []), /--allow-scripts/);
}, { allowAdmin: true });

bridgeTest("keeps admin commands refused with --allow-scripts alone", async (h) => {
  const { client, post } = h;
  assert.equal(await client.eval(`return 1`, [], []), 1);
  await assert.rejects(client.flushall(), /--allow-admin/);
  await assert.rejects(client.scriptFlush(), /--allow-admin/);
  // Functions load, list and run; removing or killing them is admin, as SCRIPT FLUSH and KILL.
  const library = "#!lua name=lib\nredis.register_function('one', function() return 1 end)";
  assert.deepEqual(await json(await post("/", JSON.stringify(["FUNCTION", "LOAD", library]))), {
    result: "lib",
  });
  assert.deepEqual(await json(await post("/", '["FCALL","one","0"]')), { result: 1 });
  for (
    const command of [["FUNCTION", "FLUSH"], ["FUNCTION", "DELETE", "lib"], ["FUNCTION", "KILL"]]
  ) {
    const res = await post("/", JSON.stringify(command));
    assert.equal(res.status, 403, command.join(" "));
    assert.match(await errorOf(res), /^Cannot run "FUNCTION [A-Z]+": .* --allow-admin$/);
  }
  assert.deepEqual(await json(await post("/", '["FCALL","one","0"]')), { result: 1 }, "kept");
}, { allowScripts: true });

const killLog: string[] = [];

bridgeTest("kills a busy script on its own connection, so later requests succeed", async (h) => {
  const { post } = h;
  // Redis acts on SCRIPT KILL once a script has run for busy-reply-threshold (5 s by default).
  assert.equal((await post("/", '["CONFIG","SET","busy-reply-threshold","100"]')).status, 200);
  assert.equal((await post("/", '["SET","k","v"]')).status, 200);
  const busy = await post("/", JSON.stringify(["EVAL", "while true do end", "0"]));
  assert.equal(busy.status, 503);
  assert.match(
    await errorOf(busy),
    /no reply within 300 ms; whether the command ran is unknown \(a script is running: the bridge stops it after 300 ms\)$/,
  );
  // While it runs, Redis answers other connections BUSY; once killed, everything answers.
  assert.deepEqual(await postUntilOk(post, "/", '["GET","k"]'), {
    status: 200,
    body: { result: "v" },
  });
  assert.deepEqual(await json(await post("/pipeline", '[["INCR","n"],["GET","k"]]')), [
    { result: 1 },
    { result: "v" },
  ]);
  assert.ok(killLog.some((line) => /stopped a script/.test(line)), killLog.join("\n"));
}, {
  allowScripts: true,
  allowAdmin: true,
  commandTimeoutMs: 300,
  scriptTimeoutMs: 300,
  log: (line) => killLog.push(line),
});

const unkillableLog: string[] = [];

bridgeTest("reports a busy script that has written as one Redis cannot kill", async (h) => {
  const { server, post } = h;
  assert.equal((await post("/", '["CONFIG","SET","busy-reply-threshold","100"]')).status, 200);
  const script = `redis.call("SET", "w", "1") while true do end`;
  const busy = await post("/", JSON.stringify(["EVAL", script, "0"]));
  assert.equal(busy.status, 503);
  const deadline = Date.now() + 20_000;
  while (!unkillableLog.some((line) => /cannot be killed/.test(line)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.match(unkillableLog.join("\n"), /cannot be killed: UNKILLABLE .*SHUTDOWN NOSAVE/);
  // Redis answers the other connections BUSY until the script ends, which this one never does.
  const other = await post("/", '["GET","w"]');
  assert.equal(other.status, 400);
  assert.match(await errorOf(other), /^BUSY /);
  await server.kill();
}, {
  allowScripts: true,
  allowAdmin: true,
  commandTimeoutMs: 300,
  scriptTimeoutMs: 300,
  log: (line) => unkillableLog.push(line),
});

bridgeTest("refuses a request over the command limit before sending any of it", async (h) => {
  const { client, post } = h;
  const incr = (n: number) => JSON.stringify(Array.from({ length: n }, () => ["INCR", "n"]));
  const pipeline = await post("/pipeline", incr(11));
  assert.equal(pipeline.status, 413);
  assert.equal(
    await errorOf(pipeline),
    "Too many commands: more than 10 in one pipeline, the limit is 10 (--max-commands); nothing was sent",
  );
  const transaction = await post("/multi-exec", incr(11));
  assert.equal(transaction.status, 413);
  assert.match(await errorOf(transaction), /^Too many commands: more than 10 in one transaction/);
  const many = client.pipeline();
  for (let i = 0; i < 11; i++) many.incr("n");
  await assert.rejects(many.exec(), /Too many commands: more than 10 in one pipeline/);
  assert.equal(await client.get("n"), null);
  const within = await json(await post("/pipeline", incr(10))) as { result: number }[];
  assert.deepEqual(within.map((entry) => entry.result), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
}, { maxCommands: 10 });

bridgeTest("refuses over 10000 commands by default, nothing sent", async ({ client, post }) => {
  const body = JSON.stringify(Array.from({ length: 10_001 }, () => ["INCR", "n"]));
  const res = await post("/pipeline", body);
  assert.equal(res.status, 413);
  assert.match(
    await errorOf(res),
    /^Too many commands: more than 10000 in one pipeline, the limit is 10000 \(--max-commands\); nothing was sent$/,
  );
  // Strings holding brackets are not commands; exactly 10000 commands pass.
  const tricky = JSON.stringify(Array.from({ length: 10_000 }, () => ["ECHO", '[["x"],\\"[']));
  const ok = await post("/pipeline", tricky);
  assert.equal(ok.status, 200);
  assert.equal((await json(ok) as unknown[]).length, 10_000);
  assert.equal(await client.get("n"), null);
});

bridgeTest("fails a request whose replies pass the reply limit, saying they ran", async (h) => {
  const { client, post } = h;
  assert.equal(await client.set("big", "x".repeat(5000)), "OK");
  const single = await post("/", '["GET","big"]');
  assert.equal(single.status, 413);
  assert.match(
    await errorOf(single),
    /^Reply too large: \d+ bytes, the limit is 1000 \(--max-reply-bytes\); the command ran, the replies were dropped$/,
  );
  const pipeline = await post("/pipeline", '[["INCR","n"],["GET","big"],["INCR","n"]]');
  assert.equal(pipeline.status, 413);
  assert.match(await errorOf(pipeline), /; all 3 commands ran, the replies were dropped$/);
  // Many small replies add up.
  const gets = JSON.stringify(Array.from({ length: 300 }, () => ["GET", "n"]));
  assert.equal((await post("/pipeline", gets)).status, 413);
  await assert.rejects(client.get("big"), /Reply too large/);
  // The connection stays in step: the next replies are the right ones.
  assert.equal(await client.get("n"), "2");
  assert.equal(await client.strlen("big"), 5000);
}, { maxReplyBytes: 1000 });

bridgeTest("says which commands replied when a pipeline is cut off mid-way", async (h) => {
  const { client, post } = h;
  // The 20 KB ECHO splits the pipeline, so Redis answers the first INCR before it sleeps.
  const pad = "x".repeat(20_000);
  const res = await post(
    "/pipeline",
    JSON.stringify([["INCR", "n"], ["ECHO", pad], ["DEBUG", "SLEEP", "1"], ["INCR", "n"]]),
  );
  assert.equal(res.status, 503);
  assert.match(
    await errorOf(res),
    /: no reply within 300 ms; (the first [1-3] of 4 commands replied, whether the other [1-3] ran is unknown|none of the 4 commands replied, whether they ran is unknown)$/,
  );
  const transaction = await post("/multi-exec", '[["INCR","n"],["DEBUG","SLEEP","1"]]');
  assert.equal(transaction.status, 503);
  assert.match(await errorOf(transaction), /; whether the transaction ran is unknown$/);
  // Everything sent ran in the end.
  assert.deepEqual(await postUntilOk(post, "/", '["GET","n"]'), {
    status: 200,
    body: { result: "3" },
  });
  assert.equal(await client.incr("n"), 4);
}, { allowAdmin: true, commandTimeoutMs: 300 });

bridgeTest(
  "answers a small request sent beside a big pipeline before the pipeline ends",
  async (h) => {
    const { post } = h;
    // Ten 250 ms sleeps split by 20 KB ECHOs: Redis serves other connections between them.
    const pad = "x".repeat(20_000);
    const commands = [
      ["SET", "started", "1"],
      ...Array.from({ length: 10 }, () => [["DEBUG", "SLEEP", "0.25"], ["ECHO", pad]]).flat(),
      ["SET", "ended", "1"],
    ];
    const big = post("/pipeline", JSON.stringify(commands));
    let seen: unknown;
    for (;;) {
      seen = await json(await post("/pipeline", '[["GET","started"],["GET","ended"]]'));
      if ((seen as { result: unknown }[])[0]?.result === "1") break;
    }
    // It ran inside the big pipeline, not after it.
    assert.deepEqual(seen, [{ result: "1" }, { result: null }]);
    assert.equal((await big).status, 200);
  },
  { allowAdmin: true, commandTimeoutMs: 5000 },
);

Deno.test({
  name: "startBridge() authenticates with the URL's password and selects its database",
  ignore: IGNORE,
  async fn() {
    const server = await startRedisServer();
    const bridges: RunningBridge[] = [];
    const start = async (redisUrl: string) => {
      const bridge = await startBridge({ redisUrl, token: TOKEN, connectTimeoutMs: 500 });
      bridges.push(bridge);
      return newClient(bridge.url, { enableAutoPipelining: false });
    };
    try {
      assert.match(await direct(server.port, "CONFIG", "SET", "requirepass", "s3cret"), /^\+OK/);
      const db2 = await start(`redis://:s3cret@127.0.0.1:${server.port}/2`);
      assert.equal(await db2.set("k", "in db 2"), "OK");
      const db0 = await start(`redis://default:s3cret@127.0.0.1:${server.port}`);
      assert.equal(await db0.get("k"), null);
      assert.equal(await db2.get("k"), "in db 2");
      const wrong = await start(`redis://:nope@127.0.0.1:${server.port}`);
      await assert.rejects(
        wrong.get("k"),
        new RegExp(
          `Redis is unreachable at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${server.port}: AUTH failed: WRONGPASS`,
        ),
      );
    } finally {
      for (const bridge of bridges) await bridge.close();
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
    const redis = new RedisPool(server.url);
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
      await redis.close();
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
    redisCluster: [],
    token: "from-env",
    allowAdmin: false,
    allowScripts: false,
    scripts: [],
    maxCommands: 10_000,
    maxBodyBytes: 10_485_760,
    maxReplyBytes: 67_108_864,
    connections: 4,
    commandTimeoutMs: 2000,
    scriptTimeoutMs: 5000,
    maxConnections: 512,
    headerTimeoutMs: 10_000,
    idleTimeoutMs: 75_000,
  });
  const flags = [
    "--port",
    "0",
    "--allow-admin",
    "--script",
    "a.lua",
    "--script",
    "b.lua",
    "--max-commands",
    "5",
    "--max-reply-bytes",
    "100",
  ];
  assert.deepEqual(
    parseBridgeConfig(flags, {
      ...env,
      LARDER_BRIDGE_ALLOW_SCRIPTS: "true",
      LARDER_BRIDGE_SCRIPTS: "c.lua",
      LARDER_BRIDGE_MAX_COMMANDS: "7",
    }),
    {
      ...parseBridgeConfig(["--port", "0"], env),
      allowAdmin: true,
      allowScripts: true,
      scripts: ["a.lua", "b.lua"],
      maxCommands: 5,
      maxReplyBytes: 100,
    },
  );
  assert.throws(() => parseBridgeConfig(["--port", "0", "--max-commands", "0"], env), {
    message: 'Invalid --max-commands "0": expected a positive integer',
  });
  assert.throws(
    () => parseBridgeConfig(["--port", "0"], { ...env, LARDER_BRIDGE_ALLOW_ADMIN: "yes" }),
    {
      message: 'Invalid --allow-admin "yes": expected "true" or "false"',
    },
  );
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
    const script = await Deno.makeTempFile({ suffix: ".lua" });
    await Deno.writeTextFile(script, GET_SCRIPT);
    const sha = Buffer.from(
      await crypto.subtle.digest("SHA-1", new TextEncoder().encode(GET_SCRIPT)),
    ).toString("hex");
    const main = new URL("./main.ts", import.meta.url).pathname;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "--port", "0", "--script", script],
      env: {
        LARDER_BRIDGE_PORT: "not-used-since-the-flag-wins",
        LARDER_BRIDGE_REDIS_URL: server.url,
        LARDER_BRIDGE_TOKEN: TOKEN,
        LARDER_BRIDGE_MAX_COMMANDS: "2",
      },
      stdout: "piped",
      stderr: "null",
    }).spawn();
    try {
      const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let banner = "";
      while (banner.split("\n").length < 3) {
        const { value, done } = await lines.read();
        if (done) break;
        banner += value;
      }
      const url = /listening on (http:\/\/\S+)/.exec(banner)?.[1];
      assert.ok(url, banner);
      assert.match(banner, new RegExp(`Redis at redis://127\\.0\\.0\\.1:${server.port}`));
      assert.match(banner, /Admin commands: refused \(--allow-admin allows them\)/);
      assert.ok(banner.includes(sha), banner);
      const post = async (path: string, body: unknown) =>
        await fetch(`${url}${path}`, {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}` },
          body: JSON.stringify(body),
        });
      assert.deepEqual(await json(await post("/", ["PING"])), { result: "PONG" });
      assert.deepEqual(await json(await post("/", ["EVAL", GET_SCRIPT, "1", "k"])), {
        result: null,
      });
      assert.equal((await post("/", ["EVAL", "return 1", "0"])).status, 403);
      assert.equal((await post("/", ["FLUSHALL"])).status, 403);
      assert.equal((await post("/pipeline", [["PING"], ["PING"], ["PING"]])).status, 413);
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
      await Deno.remove(script);
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
  const missing = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./main.ts", import.meta.url).pathname, "--script", "nope.lua"],
    env: { LARDER_BRIDGE_TOKEN: "t" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(missing.code, 1);
  assert.match(
    new TextDecoder().decode(missing.stderr),
    /^redis-http: Cannot read --script "nope.lua": .+\n$/,
  );
});
