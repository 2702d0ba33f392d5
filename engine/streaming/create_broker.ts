/** `createBroker`: the one place that knows every broker a stream source can name. */
import type { StreamBroker as BrokerKind, StreamSourceSpec } from "../../registry/mod.ts";
import type { StreamingConfig } from "../config.ts";
import type { BrokerOptions, StreamBroker } from "./broker.ts";

type BrokerFactory = (
  source: StreamSourceSpec,
  config: StreamingConfig,
  options: BrokerOptions,
) => Promise<StreamBroker>;

const FACTORIES = {
  redis: async (source, config, options) => {
    const { RedisStreamBroker } = await import("./redis_broker.ts");
    return new RedisStreamBroker(source, { ...options, url: config.redis.url });
  },
  nats: async (source, config, options) => {
    const { NatsStreamBroker } = await import("./nats_broker.ts");
    return new NatsStreamBroker(source, { ...options, servers: config.nats.servers });
  },
} satisfies Record<BrokerKind, BrokerFactory>;

/** A consumer of `source`'s stream, through the broker `streaming:` configures for its kind. */
export async function createBroker(
  source: StreamSourceSpec,
  config: StreamingConfig,
  options: BrokerOptions,
): Promise<StreamBroker> {
  return await FACTORIES[source.broker](source, config, options);
}
