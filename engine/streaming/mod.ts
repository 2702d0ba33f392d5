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
export {
  consumerGroup,
  runStreamProcessor,
  type StreamOptions,
  type StreamProcessorDeps,
  type StreamResult,
} from "./processor.ts";
export { StreamMetrics, streamProgressLine, type ViewStreamStats } from "./stream_metrics.ts";
export { type EventRows, eventRows, type RowColumns, type StreamViewPlan } from "./event_rows.ts";
export { OfflineLedger } from "./offline_ledger.ts";
export { streamTerminalProgress } from "./stream_progress.ts";
