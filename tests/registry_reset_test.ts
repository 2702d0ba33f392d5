/**
 * `apply` onto an empty registry while the online store holds data: the registry was reset
 * under the online store (a Redis without persistence restarted, a deleted registry file), and
 * apply says so.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore } from "../mod.ts";
import { startBridge } from "../server/redis_http/bridge.ts";
import { tempRepo } from "./support/repo.ts";
import { skipWithoutRedis, startRedisServer } from "./support/redis_server.ts";

const skip = { skipSourceValidation: true } as const;

async function writeOnline(store: FeatureStore): Promise<void> {
  const online = await store.onlineStore();
  await online.write("driver_hourly_stats", [
    {
      entityKey: "driver_id=1001",
      record: { eventMicros: Date.now() * 1000, createdMicros: null, values: { conv_rate: 0.5 } },
    },
  ]);
}

Deno.test("FeatureStore.apply() warns when the registry file is gone but the online store holds data", async () => {
  const repo = await tempRepo();
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    const first = await store.apply(skip);
    assert.deepEqual(first.warnings, [], "a first apply onto an empty online store");
    await writeOnline(store);
    await Deno.remove(join(repo.dir, "data/registry.json"));
    const again = await store.apply(skip);
    assert.equal(again.written, true);
    assert.equal(again.version, 1);
    assert.equal(again.warnings.length, 1);
    assert.equal(
      again.warnings[0],
      `The registry (${store.registry.backend.location}) is empty, but the online store (sqlite ${
        join(repo.dir, "data/online.sqlite")
      }) holds data of feature views "driver_hourly_stats": the registry may have been reset; apply recreates the definitions, but the record of materialized intervals is lost, so materialize-incremental starts again from each view's ttl`,
    );
    await repo.write("features.ts", (await repo.read("features.ts"))!.replace('"2h"', '"3h"'));
    assert.deepEqual((await store.apply(skip)).warnings, [], "the registry is not empty");
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test({
  name: "FeatureStore.apply() warns when a Redis registry restarted empty under online data",
  ignore: skipWithoutRedis("tests/registry_reset_test.ts"),
  async fn() {
    // The registry and the online store on two Redis servers: only the registry's restarts.
    const registryRedis = await startRedisServer();
    const onlineRedis = await startRedisServer();
    const registryBridge = await startBridge({ port: 0, redisUrl: registryRedis.url, token: "t" });
    const onlineBridge = await startBridge({ port: 0, redisUrl: onlineRedis.url, token: "t" });
    const repo = await tempRepo({
      "larder.yaml": [
        "project: test_project",
        "registry:",
        "  type: redis",
        `  url: ${registryBridge.url}`,
        "  token: t",
        "online_store:",
        "  type: redis",
        `  url: ${onlineBridge.url}`,
        "  token: t",
        "",
      ].join("\n"),
    });
    const store = await FeatureStore.open({ repo: repo.dir });
    try {
      assert.deepEqual((await store.apply(skip)).warnings, []);
      await writeOnline(store);
      await registryRedis.restart();
      let result;
      for (let i = 0;; i++) {
        try {
          result = await store.apply(skip);
          break;
        } catch (err) {
          if (i > 100) throw err; // the bridge reconnects
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      assert.equal(result.version, 1);
      assert.equal(result.warnings.length, 1);
      assert.match(
        result.warnings[0]!,
        new RegExp(
          `^The registry \\(redis ${registryBridge.url} key "larder-registry:test_project"\\) is empty, but the online store \\(redis ${onlineBridge.url}\\) holds data of feature views "driver_hourly_stats": the registry may have been reset; `,
        ),
      );
    } finally {
      await store.close();
      await registryBridge.close();
      await onlineBridge.close();
      await registryRedis.stop();
      await onlineRedis.stop();
      await repo.remove();
    }
  },
});
