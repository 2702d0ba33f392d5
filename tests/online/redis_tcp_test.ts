/**
 * Redis over TCP (`redis://`, node-redis with RESP2) against real `redis-server`s: the online
 * store and registry backend contracts, data written over one transport read over the other
 * (TCP and HTTP through the real bridge), passwords, and Redis stopped, frozen and restarted
 * under a store in use.
 */
import assert from "node:assert/strict";
import { LarderConfigSchema } from "../../engine/config.ts";
import { createOnlineStore } from "../../engine/online_factory.ts";
import {
  createRedisTransport,
  type OnlineRow,
  type PipelineEntry,
  type RedisCommand,
  RedisOnlineStore,
  type RedisTransport,
} from "../../engine/online/mod.ts";
import { RedisRegistryBackend } from "../../engine/redis_registry_backend.ts";
import { createRegistryBackend } from "../../engine/registry_backends.ts";
import { LarderError, Registry } from "../../registry/mod.ts";
import { startBridge } from "../../server/redis_http/bridge.ts";
import { onlineStoreContract } from "../contracts/online_store_contract.ts";
import { registryBackendContract } from "../contracts/registry_backend_contract.ts";
import { freePort, skipWithoutRedis, startRedisServer } from "../support/redis_server.ts";

const IGNORE = skipWithoutRedis("tests/online/redis_tcp_test.ts");
const TOKEN = "redis-tcp-test-token";

/** A real TCP transport that counts its round trips (pipelines). */
class CountingTransport implements RedisTransport {
  readonly url: string;
  count = 0;
  readonly #inner: RedisTransport;
  constructor(inner: RedisTransport) {
    this.#inner = inner;
    this.url = inner.url;
  }
  pipeline(commands: readonly RedisCommand[]): Promise<PipelineEntry[]> {
    this.count++;
    return this.#inner.pipeline(commands);
  }
  scriptLoad(source: string): Promise<void> {
    this.count++;
    return this.#inner.scriptLoad(source);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

onlineStoreContract("RedisOnlineStore over TCP", async () => {
  const server = await startRedisServer();
  const stores: RedisOnlineStore[] = [];
  const transports: CountingTransport[] = [];
  const raw = createRedisTransport({ url: server.url });
  return {
    open: (project, options = {}) => {
      const transport = new CountingTransport(createRedisTransport({ url: server.url }));
      transports.push(transport);
      const store = new RedisOnlineStore({
        project,
        transport,
        keyTtlSeconds: options.keyTtlSeconds,
      });
      stores.push(store);
      return Promise.resolve(store);
    },
    requests: () => transports.reduce((n, t) => n + t.count, 0),
    writeMillisRecord: async (project, view, entityKey, record) => {
      await raw.pipeline([[
        "SET",
        `larder:${project}:${view}:${entityKey}`,
        `1;${record.eventTs};${record.createdTs ?? ""};${JSON.stringify(record.values)}`,
      ]]);
    },
    cleanup: async () => {
      for (const store of stores) await store.close();
      await raw.close();
      await server.stop();
    },
  };
}, { ignore: IGNORE });

registryBackendContract("RedisRegistryBackend over TCP", async () => {
  const server = await startRedisServer();
  const opened: RedisRegistryBackend[] = [];
  const open = () => {
    const backend = new RedisRegistryBackend({ url: server.url, key: "larder-registry:t" });
    opened.push(backend);
    return backend;
  };
  return {
    backend: open(),
    openAnother: () => Promise.resolve(open()),
    cleanup: async () => {
      for (const backend of opened) await backend.close();
      await server.stop();
    },
  };
}, { ignore: IGNORE });

const rows = (n: number, ts: number): OnlineRow[] =>
  Array.from({ length: n }, (_, k) => ({
    entityKey: `driver_id=${k}`,
    record: { eventMicros: ts + k, createdMicros: k % 2 ? null : ts, values: { v: k, s: `ü${k}` } },
  }));

Deno.test({
  name: "RedisOnlineStore: rows written over TCP read over HTTP (the bridge), and the reverse",
  ignore: IGNORE,
  async fn() {
    const server = await startRedisServer();
    const bridge = await startBridge({ port: 0, redisUrl: server.url, token: TOKEN });
    const tcp = new RedisOnlineStore({ project: "p", url: server.url });
    const http = new RedisOnlineStore({ project: "p", url: bridge.url, token: TOKEN, retries: 0 });
    try {
      const keysOf = (view: string, n: number) =>
        Array.from({ length: n }, (_, k) => ({ view, entityKey: `driver_id=${k}` }));
      assert.deepEqual(await tcp.write("a", rows(300, 1_000)), { written: 300, skipped: 0 });
      const viaHttp = await http.read(keysOf("a", 300));
      assert.deepEqual(viaHttp, await tcp.read(keysOf("a", 300)));
      assert.deepEqual(viaHttp[7], rows(300, 1_000)[7]!.record);

      assert.deepEqual(await http.write("b", rows(300, 5_000)), { written: 300, skipped: 0 });
      const viaTcp = await tcp.read(keysOf("b", 300));
      assert.deepEqual(viaTcp, await http.read(keysOf("b", 300)));
      assert.deepEqual(viaTcp[8], rows(300, 5_000)[8]!.record);

      // Skip-if-not-newer holds across transports: the same script on the same keys.
      assert.deepEqual(await http.write("a", rows(300, 1_000)), { written: 0, skipped: 300 });
      assert.deepEqual(await tcp.viewsWithData(), { views: ["a", "b"], complete: true });
      assert.deepEqual(await http.viewsWithData(), { views: ["a", "b"], complete: true });

      // A lock taken over one transport is seen, and kept, over the other.
      const lease = await tcp.acquireLock("m", 10_000);
      assert.ok(lease);
      assert.equal(await http.acquireLock("m", 10_000), null);
      const state = await http.inspectLock("m");
      assert.ok(state);
      assert.equal(await http.breakLock("m", state.token), true);
      assert.ok(await http.acquireLock("m", 10_000));

      await tcp.deleteViews(["a"]);
      assert.deepEqual(await http.viewsWithData(), { views: ["b"], complete: true });

      // The registry document too.
      const tcpRegistry = new RedisRegistryBackend({ url: server.url, key: "larder-registry:p" });
      const httpRegistry = new RedisRegistryBackend({
        url: bridge.url,
        token: TOKEN,
        key: "larder-registry:p",
      });
      try {
        await tcpRegistry.compareAndSet(0, { version: 1, text: '{"a":"ü"}' });
        assert.deepEqual(await httpRegistry.read(), { version: 1, text: '{"a":"ü"}' });
        await httpRegistry.compareAndSet(1, { version: 2, text: "{}" });
        assert.deepEqual(await tcpRegistry.read(), { version: 2, text: "{}" });
      } finally {
        await tcpRegistry.close();
        await httpRegistry.close();
      }
    } finally {
      await tcp.close();
      await http.close();
      await bridge.close();
      await server.stop();
    }
  },
});

Deno.test({
  name:
    "RedisOnlineStore over TCP: a password in the URL; a wrong or missing one is UNAUTHENTICATED",
  ignore: IGNORE,
  async fn() {
    const password = "s3cret-pass";
    const server = await startRedisServer({ password });
    const at = `127.0.0.1:${server.port}`;
    const right = new RedisOnlineStore({ project: "p", url: `redis://:${password}@${at}` });
    const user = new RedisOnlineStore({ project: "p", url: `redis://default:${password}@${at}` });
    const wrong = new RedisOnlineStore({ project: "p", url: `redis://:not-it@${at}` });
    const none = new RedisOnlineStore({ project: "p", url: `redis://${at}` });
    try {
      assert.equal(right.name, `redis redis://:***@${at}`);
      assert.deepEqual(await right.write("v", rows(2, 1)), { written: 2, skipped: 0 });
      assert.deepEqual(await user.read([{ view: "v", entityKey: "driver_id=1" }]), [
        rows(2, 1)[1]!.record,
      ]);
      const cases = [
        [wrong, `redis://:***@${at}`, "refused the credentials: WRONGPASS"],
        [none, `redis://${at}`, "needs a password (redis://:password@host:port): NOAUTH"],
      ] as const;
      for (const [store, shown, reason] of cases) {
        await assert.rejects(
          store.read([{ view: "v", entityKey: "k" }]),
          (err: unknown) => {
            assert.ok(err instanceof LarderError);
            assert.equal(err.code, "UNAUTHENTICATED", err.message);
            assert.ok(
              err.message.startsWith(
                `Cannot read from the online store (redis ${shown}): Redis at ${shown} ${reason}`,
              ),
              err.message,
            );
            assert.ok(!err.message.includes("not-it"), err.message);
            return true;
          },
        );
      }
      const registry = new RedisRegistryBackend({ url: `redis://:not-it@${at}`, key: "r" });
      try {
        await assert.rejects(registry.read(), (err: unknown) => {
          assert.ok(err instanceof LarderError);
          assert.equal(err.code, "UNAUTHENTICATED");
          assert.match(err.message, /^Cannot read the registry \(redis redis:\/\/:\*\*\*@/);
          assert.ok(!err.message.includes("not-it"), err.message);
          return true;
        });
      } finally {
        await registry.close();
      }
    } finally {
      for (const store of [right, user, wrong, none]) await store.close();
      await server.stop();
    }
  },
});

/** Retries `fn` until it stops throwing, for at most `ms`. */
async function eventually<T>(fn: () => Promise<T>, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

Deno.test({
  name:
    "RedisOnlineStore over TCP: Redis stopped, frozen or absent is UNAVAILABLE; a restart heals",
  ignore: IGNORE,
  async fn() {
    const server = await startRedisServer();
    const store = new RedisOnlineStore({ project: "p", url: server.url, commandTimeoutMs: 300 });
    const key = [{ view: "v", entityKey: "driver_id=1" }];
    const unavailable = (action: string) => (err: unknown) => {
      assert.ok(err instanceof LarderError);
      assert.equal(err.code, "UNAVAILABLE", err.message);
      assert.ok(
        err.message.startsWith(`Cannot ${action} the online store (redis ${server.url}): `),
        err.message,
      );
      return true;
    };
    try {
      assert.deepEqual(await store.write("v", rows(2, 1)), { written: 2, skipped: 0 });
      await server.kill();
      await assert.rejects(store.read(key), unavailable("read from"));
      await assert.rejects(store.write("v", rows(2, 5)), unavailable("write to"));
      await server.restart();
      // A fresh, empty server: the store dials it again by itself (and reloads its script).
      assert.deepEqual(await eventually(() => store.read(key)), [null]);
      assert.deepEqual(await store.write("v", rows(2, 5)), { written: 2, skipped: 0 });

      server.pause();
      const t0 = performance.now();
      await assert.rejects(store.read(key), (err: unknown) => {
        unavailable("read from")(err);
        assert.match((err as Error).message, /did not answer within 300 ms/);
        return true;
      });
      assert.ok(performance.now() - t0 < 2_000);
      server.resume();
      assert.deepEqual(
        (await eventually(() => store.read(key)))[0]?.values,
        rows(2, 5)[1]!.record.values,
      );
    } finally {
      server.resume();
      await store.close();
      await server.stop();
    }
    await assert.rejects(store.read(key), { code: "UNAVAILABLE" });

    const port = freePort();
    const nobody = new RedisOnlineStore({ project: "p", url: `redis://127.0.0.1:${port}` });
    try {
      await assert.rejects(nobody.read(key), {
        code: "UNAVAILABLE",
        message: new RegExp(
          `^Cannot read from the online store \\(redis redis://127.0.0.1:${port}\\): Redis is unreachable at redis://127.0.0.1:${port}: .*ECONNREFUSED`,
        ),
      });
    } finally {
      await nobody.close();
    }
  },
});

Deno.test({
  name: "createOnlineStore() and createRegistryBackend() take redis:// URLs without a token",
  ignore: IGNORE,
  async fn() {
    const server = await startRedisServer();
    try {
      const config = LarderConfigSchema.parse({
        project: "p",
        online_store: { type: "redis", url: server.url },
        registry: { type: "redis", url: server.url },
      });
      const store = await createOnlineStore(config, "/tmp", { env: () => undefined });
      const backend = await createRegistryBackend(config, "/tmp", () => undefined);
      try {
        assert.equal(store.name, `redis ${server.url}`);
        assert.deepEqual(await store.write("v", rows(1, 1)), { written: 1, skipped: 0 });
        const registry = new Registry(backend, { project: "p" });
        assert.equal((await registry.update((d) => d)).version, 1);
      } finally {
        await store.close();
        await backend.close();
      }
      const withToken = LarderConfigSchema.parse({
        project: "p",
        online_store: { type: "redis", url: server.url, token: "x" },
      });
      await assert.rejects(createOnlineStore(withToken, "/tmp", { env: () => undefined }), {
        code: "CONFIG_INVALID",
        message:
          "larder.yaml: online_store.token: a token is for http(s) URLs; a redis:// URL carries its password (redis://:password@host:6379)",
      });
      const ftp = LarderConfigSchema.safeParse({
        project: "p",
        online_store: { type: "redis", url: "ftp://127.0.0.1" },
      });
      assert.equal(
        ftp.error?.issues[0]?.message,
        'expected an http(s):// (REST) or redis(s):// (TCP) URL, got "ftp://127.0.0.1"',
      );
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name:
    "createRedisTransport() over TCP: a process stalled past the timeout is not Redis timing out",
  ignore: IGNORE,
  async fn() {
    const server = await startRedisServer();
    const redis = createRedisTransport({ url: server.url, commandTimeoutMs: 200 });
    try {
      await redis.pipeline([["PING"]]);
      const reply = redis.pipeline([["SET", "k", "v"], ["GET", "k"]]);
      // As a blocking DuckDB query right after a write is issued: the commands are queued and
      // their timeout armed, but the process does nothing else for longer than the timeout.
      for (let i = 0; i < 20; i++) await Promise.resolve();
      const until = performance.now() + 400;
      while (performance.now() < until) {
        // busy
      }
      const entries = await reply;
      assert.deepEqual(entries.map((e) => e.result), ["OK", "v"]);
    } finally {
      await redis.close();
      await server.stop();
    }
  },
});

Deno.test({
  name: "createRedisTransport() over TCP: long queues that keep getting replies are not cut off",
  ignore: IGNORE,
  async fn() {
    const server = await startRedisServer();
    const redis = createRedisTransport({ url: server.url, commandTimeoutMs: 250 });
    try {
      await redis.pipeline([["PING"]]);
      // Six commands of 100 ms each, sent 50 ms apart: Redis answers one every 100 ms, and the
      // last waits 350 ms in all, longer than the timeout, behind the others.
      const sent: Promise<unknown>[] = [];
      for (let i = 0; i < 6; i++) {
        sent.push(redis.pipeline([["DEBUG", "SLEEP", "0.1"]]).then(([e]) => e?.result));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const settled = await Promise.allSettled(sent);
      assert.deepEqual(settled, Array(6).fill({ status: "fulfilled", value: "OK" }));
    } finally {
      await redis.close();
      await server.stop();
    }
  },
});
