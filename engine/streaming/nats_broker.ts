/**
 * `NatsStreamBroker`: a durable pull consumer of a NATS JetStream stream with explicit acks.
 * The one module that imports `@nats-io/*`. The consumer group is the durable consumer: every
 * process that pulls from it shares its messages; a message not acknowledged within
 * `ackWaitMs` is delivered again (to any of them) by the server itself.
 */
import { connect } from "@nats-io/transport-node";
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { LarderError, type StreamSourceSpec } from "../../registry/mod.ts";
import {
  type BrokerLag,
  type BrokerOptions,
  type DeadLetter,
  type DeadLetterRecord,
  decodeJsonEvent,
  type StreamBroker,
  type StreamEntry,
} from "./broker.ts";

/** Options for {@linkcode NatsStreamBroker}. */
export interface NatsStreamBrokerOptions extends BrokerOptions {
  /** Server addresses. */
  readonly servers: readonly string[];
}

type Connection = Awaited<ReturnType<typeof connect>>;

const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;

function apiCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "number" ? code : undefined;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A consumer of one durable pull consumer of one JetStream stream. */
export class NatsStreamBroker implements StreamBroker {
  readonly kind = "nats";
  readonly description: string;
  readonly consumer: string;
  readonly capabilities = { redeliversByItself: true } as const;
  readonly #source: StreamSourceSpec;
  readonly #options: NatsStreamBrokerOptions;
  #nc: Connection | undefined;
  #js: JetStreamClient | undefined;
  #jsm: JetStreamManager | undefined;
  #messages: ConsumerMessages | undefined;
  #pump: Promise<void> | undefined;
  /** Messages pulled and not read yet. */
  readonly #queue: JsMsg[] = [];
  #wake: (() => void) | undefined;
  #pumpError: unknown;
  /** Messages read and not acknowledged yet, by entry id. */
  readonly #unacked = new Map<string, JsMsg>();

  constructor(source: StreamSourceSpec, options: NatsStreamBrokerOptions) {
    this.#source = source;
    this.#options = options;
    this.consumer = options.consumer;
    this.description = `NATS stream "${source.stream}" at ${options.servers.join(",")}`;
  }

  get #subject(): string {
    return this.#source.subject ?? `${this.#source.stream}.events`;
  }

  async #connect(): Promise<{ js: JetStreamClient; jsm: JetStreamManager }> {
    if (this.#js && this.#jsm) return { js: this.#js, jsm: this.#jsm };
    try {
      this.#nc = await connect({
        servers: [...this.#options.servers],
        name: this.consumer,
        timeout: 2000,
      });
      this.#jsm = await jetstreamManager(this.#nc);
    } catch (err) {
      await this.#nc?.close().catch(() => {});
      this.#nc = undefined;
      throw new LarderError(
        "UNAVAILABLE",
        `Cannot reach NATS JetStream at ${this.#options.servers.join(",")}: ${
          (err as Error).message
        }`,
        { cause: err },
      );
    }
    this.#js = jetstream(this.#nc);
    return { js: this.#js, jsm: this.#jsm };
  }

  async #ensureStream(jsm: JetStreamManager, name: string, subject: string): Promise<void> {
    try {
      await jsm.streams.info(name);
    } catch (err) {
      if (apiCode(err) !== STREAM_NOT_FOUND) throw this.#failure(`read stream "${name}"`, err);
      await jsm.streams.add({ name, subjects: [subject] });
    }
  }

  async open(): Promise<void> {
    const { jsm } = await this.#connect();
    await this.#ensureStream(jsm, this.#source.stream, this.#subject);
    const dead = this.#source.deadLetterStream;
    await this.#ensureStream(jsm, dead, dead);
    try {
      await jsm.consumers.info(this.#source.stream, this.#options.group);
    } catch (err) {
      if (apiCode(err) !== CONSUMER_NOT_FOUND) {
        throw this.#failure(`read consumer "${this.#options.group}"`, err);
      }
      await jsm.consumers.add(this.#source.stream, {
        durable_name: this.#options.group,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: (this.#options.ackWaitMs ?? 30_000) * 1_000_000,
        max_ack_pending: Math.max(4 * (this.#options.maxInFlight ?? 2048), 10_000),
      });
    }
  }

  /** Starts pulling into the local queue (at most `maxInFlight` messages ahead). */
  async #startPump(): Promise<void> {
    if (this.#pump) return;
    const { js } = await this.#connect();
    const consumer = await js.consumers.get(this.#source.stream, this.#options.group);
    const messages = await consumer.consume({ max_messages: this.#options.maxInFlight ?? 2048 });
    this.#messages = messages;
    this.#pump = (async () => {
      try {
        for await (const m of messages) {
          this.#queue.push(m);
          this.#wake?.();
        }
      } catch (err) {
        this.#pumpError = err;
      } finally {
        this.#wake?.();
      }
    })();
  }

  async read(count: number, blockMs: number): Promise<StreamEntry[]> {
    await this.#startPump();
    if (this.#queue.length === 0 && blockMs > 0 && this.#pumpError === undefined) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, blockMs);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#wake = done;
      });
      this.#wake = undefined;
    }
    if (this.#pumpError !== undefined && this.#queue.length === 0) {
      throw this.#failure("read", this.#pumpError);
    }
    return this.#queue.splice(0, count).map((m) => this.#entry(m));
  }

  #entry(m: JsMsg): StreamEntry {
    const id = String(m.seq);
    this.#unacked.set(id, m);
    const payload = decoder.decode(m.data);
    const deliveries = m.info.deliveryCount;
    const timeMs = Number(m.timestampNanos / 1_000_000n);
    const decoded = decodeJsonEvent(payload);
    return "event" in decoded
      ? { id, event: decoded.event, payload, deliveries, timeMs }
      : { id, event: undefined, problem: decoded.problem, payload, deliveries, timeMs };
  }

  renew(entries: readonly StreamEntry[]): Promise<StreamEntry[]> {
    // working() restarts ack_wait; the server does not say whether it redelivered meanwhile.
    const held: StreamEntry[] = [];
    for (const e of entries) {
      const m = this.#unacked.get(e.id);
      if (m === undefined) continue;
      m.working();
      held.push(e);
    }
    return Promise.resolve(held);
  }

  async ack(entries: readonly StreamEntry[]): Promise<void> {
    const acks: Promise<boolean>[] = [];
    for (const e of entries) {
      const m = this.#unacked.get(e.id);
      if (m === undefined) continue;
      this.#unacked.delete(e.id);
      acks.push(m.ackAck());
    }
    try {
      await Promise.all(acks);
    } catch (err) {
      throw this.#failure("acknowledge entries", err);
    }
  }

  reclaim(): Promise<StreamEntry[]> {
    // The server delivers unacknowledged messages again after ack_wait, through read().
    return Promise.resolve([]);
  }

  async deadLetter(letters: readonly DeadLetter[]): Promise<void> {
    const { js } = await this.#connect();
    try {
      await Promise.all(letters.map((l) =>
        js.publish(
          this.#source.deadLetterStream,
          encoder.encode(JSON.stringify({
            id: l.entry.id,
            view: l.view,
            reason: l.reason,
            payload: l.entry.payload,
            consumer: this.consumer,
          })),
        )
      ));
    } catch (err) {
      throw this.#failure("write dead letters", err);
    }
  }

  async deadLetters(count: number): Promise<DeadLetterRecord[]> {
    const { jsm } = await this.#connect();
    const name = this.#source.deadLetterStream;
    const info = await jsm.streams.info(name);
    const out: DeadLetterRecord[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && out.length < count; seq++) {
      const stored = await jsm.streams.getMessage(name, { seq });
      if (stored === null) continue;
      const r = JSON.parse(decoder.decode(stored.data)) as Record<string, unknown>;
      out.push({
        id: String(r.id),
        view: String(r.view),
        reason: String(r.reason),
        payload: String(r.payload),
      });
    }
    return out;
  }

  async lag(): Promise<BrokerLag> {
    const { jsm } = await this.#connect();
    try {
      const info = await jsm.consumers.info(this.#source.stream, this.#options.group);
      return { undelivered: info.num_pending, pending: info.num_ack_pending };
    } catch (err) {
      if (apiCode(err) === CONSUMER_NOT_FOUND || apiCode(err) === STREAM_NOT_FOUND) {
        return { undelivered: 0, pending: 0 };
      }
      throw this.#failure("read the consumer's lag", err);
    }
  }

  async publish(events: readonly Readonly<Record<string, unknown>>[]): Promise<string[]> {
    const { js } = await this.#connect();
    const ids: string[] = [];
    try {
      for (let i = 0; i < events.length; i += 256) {
        const acks = await Promise.all(
          events.slice(i, i + 256).map((e) =>
            js.publish(this.#subject, encoder.encode(JSON.stringify(e)))
          ),
        );
        for (const a of acks) ids.push(String(a.seq));
      }
    } catch (err) {
      throw this.#failure("append events", err);
    }
    return ids;
  }

  leave(): Promise<boolean> {
    return Promise.resolve(this.#unacked.size === 0);
  }

  async close(): Promise<void> {
    const messages = this.#messages;
    this.#messages = undefined;
    if (messages) {
      messages.stop();
      await this.#pump;
    }
    // Pulled and never read: the next consumer can have them at once.
    for (const m of this.#queue.splice(0)) m.nak();
    this.#unacked.clear();
    const nc = this.#nc;
    this.#nc = this.#js = this.#jsm = undefined;
    this.#pump = undefined;
    if (nc) {
      await nc.flush().catch(() => {});
      await nc.close();
    }
  }

  #failure(what: string, err: unknown): LarderError {
    return new LarderError(
      "UNAVAILABLE",
      `Cannot ${what} on ${this.description} (consumer "${this.#options.group}"): ${
        (err as Error)?.message ?? String(err)
      }`,
      { cause: err },
    );
  }
}
