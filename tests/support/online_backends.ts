/**
 * Runs one test against every online store backend: the embedded SQLite and Deno KV files,
 * Redis over HTTP through the real bridge in front of a real `redis-server`, and Redis over TCP
 * (skipped loudly without `redis-server`).
 */
import { join } from "node:path";
import {
  DenoKvOnlineStore,
  type OnlineStore,
  RedisOnlineStore,
  SqliteOnlineStore,
} from "../../engine/online/mod.ts";
import { startBridge } from "../../server/redis_http/bridge.ts";
import { skipWithoutRedis, startRedisServer } from "./redis_server.ts";

/** A backend as a feature repo configures it. */
export interface OnlineBackend {
  /** Lines for `larder.yaml` (after `project: test_project`). */
  readonly yaml: string;
  /** Another client of the same store, as a separate process would have. */
  client(repoDir: string): Promise<OnlineStore>;
}

const TOKEN = "online-backends-token";

/**
 * Registers `${name} (SQLite)`, `${name} (Deno KV)`, `${name} (Redis)` and
 * `${name} (Redis TCP)`; the repo's project
 * must be `test_project`.
 */
export function testEachOnlineBackend(
  name: string,
  file: string,
  fn: (backend: OnlineBackend) => Promise<void>,
): void {
  Deno.test(`${name} (SQLite)`, () =>
    fn({
      yaml: "online_store:\n  type: sqlite\n",
      client: (repoDir) =>
        SqliteOnlineStore.open({
          project: "test_project",
          path: join(repoDir, "data/online.sqlite"),
        }),
    }));
  Deno.test(`${name} (Deno KV)`, () =>
    fn({
      yaml: "online_store:\n  type: deno_kv\n",
      client: (repoDir) =>
        DenoKvOnlineStore.open({ project: "test_project", path: join(repoDir, "data/online.kv") }),
    }));
  Deno.test({
    name: `${name} (Redis)`,
    ignore: skipWithoutRedis(file),
    fn: async () => {
      const redis = await startRedisServer();
      const bridge = await startBridge({ port: 0, redisUrl: redis.url, token: TOKEN });
      try {
        await fn({
          yaml: `online_store:\n  type: redis\n  url: ${bridge.url}\n  token: ${TOKEN}\n`,
          client: () =>
            Promise.resolve(
              new RedisOnlineStore({ project: "test_project", url: bridge.url, token: TOKEN }),
            ),
        });
      } finally {
        await bridge.close();
        await redis.stop();
      }
    },
  });
  Deno.test({
    name: `${name} (Redis TCP)`,
    ignore: skipWithoutRedis(file),
    fn: async () => {
      const redis = await startRedisServer();
      const clients: OnlineStore[] = [];
      try {
        await fn({
          yaml: `online_store:\n  type: redis\n  url: ${redis.url}\n`,
          client: () => {
            const store = new RedisOnlineStore({ project: "test_project", url: redis.url });
            clients.push(store);
            return Promise.resolve(store);
          },
        });
      } finally {
        for (const store of clients) await store.close();
        await redis.stop();
      }
    },
  });
}
