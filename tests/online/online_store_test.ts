/**
 * The online store contract, run against every backend: SQLite and Deno KV on real files in a
 * temporary folder, and Redis over HTTP (the real `@upstash/redis` client through the real bridge to a real
 * `redis-server` on a free port).
 */
import { join } from "node:path";
import {
  createUpstashClient,
  DenoKvOnlineStore,
  type OnlineStore,
  RedisOnlineStore,
  SqliteOnlineStore,
} from "../../engine/online/mod.ts";
import { startBridge } from "../../server/redis_http/bridge.ts";
import { onlineStoreContract } from "../contracts/online_store_contract.ts";
import { skipWithoutRedis, startRedisServer } from "../support/redis_server.ts";
import { countFetches } from "./_support.ts";

onlineStoreContract("DenoKvOnlineStore", async () => {
  const dir = await Deno.makeTempDir({ prefix: "larder-online-kv-" });
  const stores: OnlineStore[] = [];
  return {
    open: async (project) => {
      const store = await DenoKvOnlineStore.open({ project, path: join(dir, "data", "online.kv") });
      stores.push(store);
      return store;
    },
    writeMillisRecord: async (project, view, entityKey, record) => {
      const kv = await Deno.openKv(join(dir, "data", "online.kv"));
      try {
        await kv.set(["larder", project, view, entityKey], record);
      } finally {
        kv.close();
      }
    },
    cleanup: async () => {
      for (const s of stores) await s.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
});

onlineStoreContract("SqliteOnlineStore", async () => {
  const dir = await Deno.makeTempDir({ prefix: "larder-online-sqlite-" });
  const stores: OnlineStore[] = [];
  return {
    open: async (project) => {
      const store = await SqliteOnlineStore.open({
        project,
        path: join(dir, "data", "online.sqlite"),
      });
      stores.push(store);
      return store;
    },
    cleanup: async () => {
      for (const s of stores) await s.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
});

const TOKEN = "online-contract-token";

onlineStoreContract("RedisOnlineStore", async () => {
  const server = await startRedisServer();
  const bridge = await startBridge({ port: 0, redisUrl: server.url, token: TOKEN });
  const counter = countFetches(bridge.url);
  return {
    open: (project, options = {}) =>
      Promise.resolve(
        new RedisOnlineStore({
          project,
          url: bridge.url,
          token: TOKEN,
          retries: 0,
          keyTtlSeconds: options.keyTtlSeconds,
        }),
      ),
    requests: () => counter.count,
    writeMillisRecord: async (project, view, entityKey, record) => {
      const raw = createUpstashClient({ url: bridge.url, token: TOKEN, retries: 0 });
      await raw.set(
        `larder:${project}:${view}:${entityKey}`,
        `1;${record.eventTs};${record.createdTs ?? ""};${JSON.stringify(record.values)}`,
      );
    },
    cleanup: async () => {
      counter.restore();
      await bridge.close();
      await server.stop();
    },
  };
}, { ignore: skipWithoutRedis("tests/online/online_store_test.ts") });
