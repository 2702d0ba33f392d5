/**
 * Redis Cluster (three masters, no replicas, started once for the file): the online store and
 * registry backend contracts, the slot rule against Redis's own `CLUSTER KEYSLOT`, one round trip
 * per node for a read, writes grouped by slot, and `larder.yaml`'s `nodes`.
 */
import assert from "node:assert/strict";
import { LarderConfigSchema } from "../../engine/config.ts";
import { createOnlineStore } from "../../engine/online_factory.ts";
import {
  clusterBucket,
  clusterSlot,
  createRedisTransport,
  type PipelineEntry,
  RedisClusterTransport,
  type RedisCommand,
  RedisOnlineStore,
  type RedisTransport,
} from "../../engine/online/mod.ts";
import { RedisRegistryBackend } from "../../engine/redis_registry_backend.ts";
import { createRegistryBackend } from "../../engine/registry_backends.ts";
import { LarderError } from "../../registry/mod.ts";
import { onlineStoreContract } from "../contracts/online_store_contract.ts";
import { registryBackendContract } from "../contracts/registry_backend_contract.ts";
import { type RedisCluster, startRedisCluster } from "../support/redis_cluster.ts";
import { skipWithoutRedis } from "../support/redis_server.ts";

const IGNORE = skipWithoutRedis("tests/online/redis_cluster_test.ts");

let started: Promise<RedisCluster> | undefined;
/** The file's one cluster, emptied for each test. */
async function cluster(): Promise<RedisCluster> {
  started ??= startRedisCluster({ masters: 3 });
  const c = await started;
  await c.flush();
  return c;
}

/** A real node transport that counts its round trips. */
class CountingTransport implements RedisTransport {
  readonly url: string;
  readonly sent: RedisCommand[][] = [];
  readonly #inner: RedisTransport;
  constructor(inner: RedisTransport) {
    this.#inner = inner;
    this.url = inner.url;
  }
  pipeline(commands: readonly RedisCommand[]): Promise<PipelineEntry[]> {
    this.sent.push([...commands]);
    return this.#inner.pipeline(commands);
  }
  scriptLoad(source: string): Promise<void> {
    return this.#inner.scriptLoad(source);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** A cluster transport whose node transports count round trips, by node URL. */
function countingCluster(seeds: readonly string[]) {
  const nodes = new Map<string, CountingTransport>();
  let pipelines = 0;
  const transport = new RedisClusterTransport({
    nodes: seeds,
    connect: (url) => {
      const counting = new CountingTransport(createRedisTransport({ url }));
      nodes.set(url, counting);
      return counting;
    },
  });
  const outer: RedisTransport = {
    url: transport.url,
    cluster: transport.cluster,
    pipeline: (commands) => {
      pipelines++;
      return transport.pipeline(commands);
    },
    scriptLoad: (source) => transport.scriptLoad(source),
    close: () => transport.close(),
  };
  return { transport: outer, nodes, pipelines: () => pipelines };
}

onlineStoreContract("RedisOnlineStore on a Redis Cluster", async () => {
  const c = await cluster();
  const stores: RedisOnlineStore[] = [];
  const counters: (() => number)[] = [];
  const raw = new RedisClusterTransport({ nodes: c.seeds });
  return {
    open: (project, options = {}) => {
      const counting = countingCluster(c.seeds);
      counters.push(counting.pipelines);
      const store = new RedisOnlineStore({
        project,
        transport: counting.transport,
        keyTtlSeconds: options.keyTtlSeconds,
      });
      stores.push(store);
      return Promise.resolve(store);
    },
    // A read is one pipeline, sent to the nodes it touches in parallel.
    requests: () => counters.reduce((n, count) => n + count(), 0),
    writeMillisRecord: async (project, view, entityKey, record) => {
      await raw.pipeline([[
        "SET",
        `larder:${project}:${view}:{${clusterBucket(entityKey)}}${entityKey}`,
        `1;${record.eventTs};${record.createdTs ?? ""};${JSON.stringify(record.values)}`,
      ]]);
    },
    cleanup: async () => {
      for (const store of stores) await store.close();
      await raw.close();
    },
  };
}, { ignore: IGNORE });

registryBackendContract("RedisRegistryBackend on a Redis Cluster", async () => {
  const c = await cluster();
  const opened: RedisRegistryBackend[] = [];
  const open = () => {
    const backend = new RedisRegistryBackend({ nodes: c.seeds, key: "larder-registry:t" });
    opened.push(backend);
    return backend;
  };
  return {
    backend: open(),
    openAnother: () => Promise.resolve(open()),
    cleanup: async () => {
      for (const backend of opened) await backend.close();
    },
  };
}, { ignore: IGNORE });

Deno.test({
  name: "clusterSlot() agrees with CLUSTER KEYSLOT, hash tags included",
  ignore: IGNORE,
  async fn() {
    const c = await cluster();
    const redis = new RedisClusterTransport({ nodes: c.seeds });
    try {
      const keys = [
        "foo",
        "larder:p:v:{417}driver_id=1001",
        "{user1000}.following",
        "a{}b{c}",
        "{}x",
        "ü{ünï🚕}x",
        "x{a}b}",
        "no{close",
        "",
      ];
      const replies = await redis.pipeline(keys.map((k) => ["CLUSTER", "KEYSLOT", k]));
      assert.deepEqual(keys.map(clusterSlot), replies.map((r) => Number(r.result)));
    } finally {
      await redis.close();
    }
  },
});

const row = (id: number, view: string) => ({
  entityKey: `driver_id=${id}`,
  record: { eventMicros: 1_000 + id, createdMicros: null, values: { v: `${view}-${id}` } },
});

Deno.test({
  name: "RedisOnlineStore on a cluster: one round trip per node touched, one slot per command",
  ignore: IGNORE,
  async fn() {
    const c = await cluster();
    const counting = countingCluster(c.seeds);
    const store = new RedisOnlineStore({ project: "p", transport: counting.transport });
    try {
      const views = ["v1", "v2", "v3", "v4", "v5"];
      for (const view of views) {
        await store.write(view, Array.from({ length: 300 }, (_, k) => row(k, view)));
      }
      // Every script call and MGET names keys of one slot only (Redis would refuse others).
      const slotsOf = (command: RedisCommand) => {
        const keys = command[0] === "EVALSHA" || command[0] === "EVAL"
          ? command.slice(3, 3 + Number(command[2]))
          : command.slice(1);
        return new Set(keys.map(clusterSlot));
      };
      let calls = 0;
      for (const node of counting.nodes.values()) {
        for (const pipeline of node.sent) {
          for (const command of pipeline) {
            if (command[0] !== "EVALSHA") continue;
            assert.equal(slotsOf(command).size, 1);
            calls++;
          }
        }
        node.sent.length = 0;
      }
      // One script call per bucket touched, not per row.
      const buckets = new Set(
        Array.from({ length: 300 }, (_, k) => clusterBucket(`driver_id=${k}`)),
      );
      assert.equal(calls, views.length * buckets.size);
      const keys = views.flatMap((view) =>
        Array.from({ length: 10 }, (_, k) => ({ view, entityKey: `driver_id=${k}` }))
      );
      const records = await store.read(keys);
      assert.deepEqual(
        records.map((r) => r?.values.v),
        keys.map((k) => `${k.view}-${k.entityKey.slice(10)}`),
      );
      const touched = [...counting.nodes.values()].filter((n) => n.sent.length > 0);
      assert.ok(touched.length >= 2, "10 entities spread over more than one master");
      for (const node of touched) {
        assert.equal(node.sent.length, 1, `one round trip to ${node.url}`);
        for (const command of node.sent[0]!) {
          assert.equal(command[0], "MGET");
          assert.equal(slotsOf(command).size, 1);
          // All five views of an entity share its bucket's hash tag.
          assert.equal((command.length - 1) % views.length, 0);
        }
      }
      assert.equal(
        store.key("v1", "driver_id=7"),
        `larder:p:v1:{${clusterBucket("driver_id=7")}}driver_id=7`,
      );
      assert.deepEqual((await store.viewsWithData()).views, views);
      await store.deleteViews(["v2"]);
      assert.deepEqual((await store.viewsWithData()).views, ["v1", "v3", "v4", "v5"]);
      await store.deleteAll();
      assert.deepEqual(await store.viewsWithData(), { views: [], complete: true });
    } finally {
      await store.close();
    }
  },
});

Deno.test({
  name: "online_store nodes: validated (url xor nodes, redis URLs, no token) and opened",
  ignore: IGNORE,
  async fn() {
    const c = await cluster();
    const parse = (online: Record<string, unknown>) =>
      LarderConfigSchema.safeParse({ project: "p", online_store: { type: "redis", ...online } });
    const message = (online: Record<string, unknown>) => {
      const result = parse(online);
      assert.equal(result.success, false);
      return JSON.stringify(result.error?.issues.map((i) => [i.path.join("."), i.message]));
    };
    assert.match(
      message({ url: "redis://a:1", nodes: ["redis://b:1"] }),
      /online_store.nodes.*not both/,
    );
    assert.match(message({ nodes: [] }), /online_store.nodes.*at least one/);
    assert.match(message({ nodes: ["http://b:1"] }), /online_store.nodes.0.*redis:\/\//);
    assert.match(message({ nodes: ["redis://b:1"], token: "t" }), /online_store.token.*password/);
    assert.match(message({ nodes: ["redis://b:1"], key_prefix: "a{b}" }), /key_prefix.*hash tags/);

    const config = LarderConfigSchema.parse({
      project: "p",
      online_store: { type: "redis", nodes: [c.seeds[1]] },
      registry: { type: "redis", nodes: [c.seeds[2]] },
    });
    const store = await createOnlineStore(config, "/nowhere");
    const registry = await createRegistryBackend(config, "/nowhere", () => undefined);
    try {
      await store.write("v", [row(1, "v"), row(2, "v"), row(3, "v")]);
      const read = await store.read(
        [1, 2, 3].map((k) => ({ view: "v", entityKey: `driver_id=${k}` })),
      );
      assert.deepEqual(read.map((r) => r?.values.v), ["v-1", "v-2", "v-3"]);
      assert.match(store.name, /^redis cluster redis:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(await registry.read(), null);
      await registry.compareAndSet(0, { version: 1, text: "{}" });
      assert.deepEqual(await registry.read(), { version: 1, text: "{}" });
    } finally {
      await store.close();
      await registry.close?.();
    }
  },
});

Deno.test({
  name:
    "RedisClusterTransport: no reachable node is a clear UNAVAILABLE; bad node URLs are CONFIG_INVALID",
  ignore: IGNORE,
  async fn() {
    const redis = new RedisClusterTransport({ nodes: ["redis://127.0.0.1:1"] });
    try {
      await assert.rejects(
        () => redis.pipeline([["GET", "k"]]),
        (err: unknown) =>
          err instanceof LarderError && err.code === "UNAVAILABLE" &&
          /No node of the Redis Cluster answers \(redis:\/\/127\.0\.0\.1:1\)/.test(err.message),
      );
    } finally {
      await redis.close();
    }
    assert.throws(
      () => new RedisClusterTransport({ nodes: ["http://x:1"] }),
      /expected redis:\/\/ or rediss:\/\/ node URLs, got "http:\/\/x:1"/,
    );
  },
});

Deno.test({
  name: "redis cluster test file: stops its cluster",
  ignore: IGNORE,
  async fn() {
    if (started !== undefined) await (await started).stop();
  },
});
