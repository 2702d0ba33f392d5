import assert from "node:assert/strict";
import type { StreamSourceSpec } from "../../registry/mod.ts";
import { createRedisTransport } from "../../engine/online/mod.ts";
import { createBroker } from "../../engine/streaming/mod.ts";
import { streamBrokerContract } from "../contracts/stream_broker_contract.ts";
import { skipWithoutRedis, startRedisServer } from "../support/redis_server.ts";
import { skipWithoutNats, startNatsServer } from "../support/nats_server.ts";

function source(broker: "redis" | "nats", name: string): StreamSourceSpec {
  return {
    name,
    description: "",
    tags: {},
    owner: "",
    kind: "stream",
    broker,
    stream: broker === "redis" ? `s:${name}` : name.toUpperCase(),
    ...(broker === "nats" ? { subject: `${name}.events` } : {}),
    format: broker === "redis" ? "fields" : "json",
    timestampField: "ts",
    batchSource: "batch",
    deadLetterStream: broker === "redis" ? `s:${name}:dead` : `${name.toUpperCase()}_dead`,
  };
}

Deno.test({
  name: "RedisStreamBroker passes the stream broker contract",
  ignore: skipWithoutRedis("RedisStreamBroker"),
  fn: async (t) => {
    const redis = await startRedisServer();
    try {
      await streamBrokerContract(t, {
        source: (name) => source("redis", name),
        consumer: (spec, options) =>
          createBroker(spec, { redis: { url: redis.url }, nats: { servers: [] } }, options),
        idleMs: 150,
      });
      await t.step("leave() deletes the consumer only when it has no pending entries", async () => {
        const spec = source("redis", "leave");
        const config = { redis: { url: redis.url }, nats: { servers: [] } };
        const cli = createRedisTransport({ url: redis.url });
        const consumers = async () => {
          const [reply] = await cli.pipeline([["XINFO", "CONSUMERS", spec.stream, "g"]]);
          return Object.fromEntries((reply!.result as unknown[][]).map((c) => {
            const fields = new Map<unknown, unknown>();
            for (let i = 0; i + 1 < c.length; i += 2) fields.set(c[i], c[i + 1]);
            return [String(fields.get("name")), Number(fields.get("pending"))];
          }));
        };
        const a = await createBroker(spec, config, { group: "g", consumer: "a" });
        const b = await createBroker(spec, config, { group: "g", consumer: "b" });
        try {
          await a.open();
          await b.open();
          await a.publish([{ n: "1" }, { n: "2" }, { n: "3" }]);
          const got = await a.read(3, 100);
          assert.equal(got.length, 3);
          assert.deepEqual(await b.read(3, 50), []);
          assert.deepEqual(await consumers(), { a: 3, b: 0 });
          await a.ack(got.slice(0, 2));
          assert.equal(await a.leave(), false);
          assert.equal(await b.leave(), true);
          assert.deepEqual(await consumers(), { a: 1 }, "a stays while it holds an entry");
          await a.ack(got.slice(2));
          assert.equal(await a.leave(), true);
          assert.deepEqual(await consumers(), {});
        } finally {
          await Promise.all([a.close(), b.close(), cli.close()]);
        }
      });
    } finally {
      await redis.stop();
    }
  },
});

Deno.test({
  name: "NatsStreamBroker passes the stream broker contract",
  ignore: skipWithoutNats("NatsStreamBroker"),
  fn: async (t) => {
    const nats = await startNatsServer();
    try {
      await streamBrokerContract(t, {
        source: (name) => source("nats", name),
        consumer: (spec, options) =>
          createBroker(spec, {
            redis: { url: "redis://127.0.0.1:1" },
            nats: { servers: [nats.server] },
          }, options),
        idleMs: 400,
      });
    } finally {
      await nats.stop();
    }
  },
});
