/**
 * @module
 * Stream ingestion: brokers behind one small interface (Redis Streams, NATS JetStream) and
 * the stream processor that keeps stream feature views fresh from them.
 *
 * @example
 * ```ts ignore
 * import { createBroker } from "./mod.ts";
 * const broker = await createBroker(source, config.streaming, { group: "g", consumer: "c1" });
 * await broker.open();
 * const entries = await broker.read(100, 1000);
 * await broker.ack(entries);
 * ```
 */
export type {
  BrokerCapabilities,
  BrokerLag,
  BrokerOptions,
  DeadLetter,
  DeadLetterRecord,
  StreamBroker,
  StreamEntry,
} from "./broker.ts";
export { createBroker } from "./create_broker.ts";
