/**
 * The registry backend contract against the `redis` backend: the real `@upstash/redis` client
 * through the real bridge to a real `redis-server` on a free port.
 */
import assert from "node:assert/strict";
import { LarderConfigSchema } from "../engine/config.ts";
import { RedisRegistryBackend } from "../engine/redis_registry_backend.ts";
import { createRegistryBackend } from "../engine/registry_backends.ts";
import { Registry } from "../registry/mod.ts";
import { startBridge } from "../server/redis_http/bridge.ts";
import { registryBackendContract } from "./contracts/registry_backend_contract.ts";
import { skipWithoutRedis, startRedisServer } from "./support/redis_server.ts";

const TOKEN = "registry-contract-token";
const IGNORE = skipWithoutRedis("tests/redis_registry_backend_test.ts");

registryBackendContract("RedisRegistryBackend", async () => {
  const server = await startRedisServer();
  const bridge = await startBridge({ port: 0, redisUrl: server.url, token: TOKEN });
  const open = () =>
    new RedisRegistryBackend({
      url: bridge.url,
      token: TOKEN,
      key: "larder-registry:t",
      retries: 0,
    });
  return {
    backend: open(),
    openAnother: () => Promise.resolve(open()),
    cleanup: async () => {
      await bridge.close();
      await server.stop();
    },
  };
}, { ignore: IGNORE });

Deno.test({
  name: "createRegistryBackend() builds the redis backend; Registry round-trips through it",
  ignore: IGNORE,
  async fn() {
    const server = await startRedisServer();
    const bridge = await startBridge({ port: 0, redisUrl: server.url, token: TOKEN });
    try {
      const config = LarderConfigSchema.parse({
        project: "demo",
        registry: { type: "redis", url: bridge.url },
      });
      const backend = await createRegistryBackend(
        config,
        "/tmp",
        (n) => n === "UPSTASH_REDIS_REST_TOKEN" ? TOKEN : undefined,
      );
      assert.equal(backend.location, `redis ${bridge.url} key "larder-registry:demo"`);
      const registry = new Registry(backend, { project: "demo" });
      const doc = await registry.update((d) => ({
        ...d,
        materializations: { v: [{ start: "a", end: "b", recordedAt: "c" }] },
      }));
      assert.equal(doc.version, 1);
      const again = new Registry(backend, { project: "demo" });
      assert.deepEqual((await again.read()).materializations, doc.materializations);
      await assert.rejects(createRegistryBackend(config, "/tmp", () => undefined), {
        code: "CONFIG_INVALID",
        message:
          'larder.yaml: registry: type "redis" needs registry.token (or UPSTASH_REDIS_REST_TOKEN)',
      });
      await server.kill();
      await assert.rejects(backend.read(), {
        code: "UNAVAILABLE",
        message: new RegExp(
          `^Cannot read the registry \\(redis ${bridge.url} key "larder-registry:demo"\\): Redis is unreachable`,
        ),
      });
    } finally {
      await bridge.close();
      await server.stop();
    }
  },
});
