import type { StreamSourceSpec } from "../../registry/mod.ts";
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
