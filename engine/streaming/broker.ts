/**
 * `StreamBroker`: what the stream processor needs from a broker, one consumer of one consumer
 * group. Redis Streams and NATS JetStream implement it (`redis_broker.ts`, `nats_broker.ts`);
 * both pass the one contract suite in `tests/contracts/stream_broker_contract.ts`, which is
 * what another broker (a Kafka client, say) must pass too.
 */

/** One event as the broker delivered it. */
export interface StreamEntry {
  /** The broker's id of the entry: a Redis entry id, a JetStream stream sequence. */
  readonly id: string;
  /** The event's fields, decoded; absent when the payload could not be decoded. */
  readonly event: Readonly<Record<string, unknown>> | undefined;
  /** Why the payload could not be decoded (when `event` is absent). */
  readonly problem?: string;
  /** The original payload as text (a JSON object of the fields for Redis `fields` entries). */
  readonly payload: string;
  /**
   * How many times the broker has delivered it, this time included; `1` on a first delivery,
   * more for an entry read again after a crash or taken over from another consumer. (Redis
   * does not say how often a consumer's own pending entries were delivered: they count as 2.)
   */
  readonly deliveries: number;
  /** When the broker took the entry, in epoch milliseconds. */
  readonly timeMs: number;
}

/** An entry on its way to the dead-letter stream. */
export interface DeadLetter {
  readonly entry: StreamEntry;
  /** The feature view whose processor refused it. */
  readonly view: string;
  /** Why: a sentence naming the field and the value. */
  readonly reason: string;
}

/** A dead letter as read back from the dead-letter stream. */
export interface DeadLetterRecord {
  /** The id of the original entry. */
  readonly id: string;
  readonly view: string;
  readonly reason: string;
  /** The original payload. */
  readonly payload: string;
}

/** How far a consumer group is behind. */
export interface BrokerLag {
  /** Entries of the stream the group has not been given yet. */
  readonly undelivered: number;
  /** Entries given to consumers of the group and not acknowledged yet. */
  readonly pending: number;
}

/** What a broker does beyond the common contract. */
export interface BrokerCapabilities {
  /**
   * The broker redelivers unacknowledged entries by itself once they have waited long enough
   * (NATS: `ack_wait`), so {@linkcode StreamBroker.reclaim} has nothing to do. Otherwise
   * (Redis) entries of a consumer that died stay with it until another claims them.
   */
  readonly redeliversByItself: boolean;
}

/** One consumer of one consumer group on one stream. */
export interface StreamBroker {
  /** `redis` or `nats`. */
  readonly kind: string;
  /** For messages: the broker and the stream (no credentials). */
  readonly description: string;
  /** The consumer's name within its group. */
  readonly consumer: string;
  readonly capabilities: BrokerCapabilities;
  /**
   * Connects, and creates the consumer group (reading from the start of the stream) when it
   * does not exist yet. Creating it again is not an error.
   */
  open(): Promise<void>;
  /**
   * Up to `count` entries for this consumer, waiting up to `blockMs` for some: first the
   * entries it was given and did not acknowledge before (after a restart under the same
   * name), then new ones. `[]` when none came in time.
   */
  read(count: number, blockMs: number): Promise<StreamEntry[]>;
  /**
   * Extends this consumer's hold on entries it read and has not acknowledged, so that no
   * other consumer takes them over for another `minIdleMs` (or `ackWaitMs`); returns those it
   * still holds. Where the broker tells (Redis), entries another consumer took over meanwhile
   * are left out: that consumer writes them.
   */
  renew(entries: readonly StreamEntry[]): Promise<StreamEntry[]>;
  /** Acknowledges entries: the group will not deliver them again. Resolves once durable. */
  ack(entries: readonly StreamEntry[]): Promise<void>;
  /**
   * Takes over up to `count` entries that other consumers of the group were given and have not
   * acknowledged for at least `minIdleMs` (their consumer died or hangs).
   */
  reclaim(minIdleMs: number, count: number): Promise<StreamEntry[]>;
  /** Appends entries to the dead-letter stream with the reason and the original payload. */
  deadLetter(letters: readonly DeadLetter[]): Promise<void>;
  /** Reads back up to `count` dead letters, oldest first. */
  deadLetters(count: number): Promise<DeadLetterRecord[]>;
  /** How far the group is behind. */
  lag(): Promise<BrokerLag>;
  /** Appends events to the stream (for producers, tests and benchmarks); returns their ids. */
  publish(events: readonly Readonly<Record<string, unknown>>[]): Promise<string[]>;
  /**
   * Before a clean stop: removes this consumer from its group (Redis: `XGROUP DELCONSUMER`)
   * unless it still holds entries it read and did not acknowledge, which stay pending for the
   * group to take over. Returns whether it held none (and so, where the broker keeps a record
   * per consumer, is gone). NATS has no record to remove: the durable consumer is the group.
   */
  leave(): Promise<boolean>;
  /** Disconnects; entries read and not acknowledged stay pending for the group. */
  close(): Promise<void>;
}

/** What a broker of a stream source is opened with. */
export interface BrokerOptions {
  /** The consumer group (NATS: the durable consumer's name). */
  readonly group: string;
  /** This consumer's name within the group; unique per process. */
  readonly consumer: string;
  /**
   * NATS: how long an entry may stay unacknowledged before the server delivers it again;
   * Redis: ignored (see {@linkcode StreamBroker.reclaim}).
   * @default {30000}
   */
  readonly ackWaitMs?: number;
  /** Most entries read and not yet acknowledged by this consumer (NATS). @default {2048} */
  readonly maxInFlight?: number;
}

/** The text of a field value as an event field holds it (dates as ISO 8601). */
export function fieldText(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "string") return value;
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/**
 * Decodes a JSON payload into event fields, or says why it cannot be one.
 */
export function decodeJsonEvent(
  text: string,
): { event: Record<string, unknown> } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { problem: `the payload is not JSON: ${(err as Error).message}` };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return {
      problem: `the payload is not a JSON object: it is ${
        Array.isArray(value) ? "an array" : value === null ? "null" : typeof value
      }`,
    };
  }
  return { event: value as Record<string, unknown> };
}
