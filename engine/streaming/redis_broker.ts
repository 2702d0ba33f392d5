/**
 * `RedisStreamBroker`: a consumer of a Redis Streams consumer group (`XREADGROUP`, `XACK`,
 * `XAUTOCLAIM`), over the project's TCP Redis transport (node-redis, RESP2 replies). Blocking
 * reads have a connection of their own, so that acknowledgements never wait behind them.
 */
import { LarderError, type StreamSourceSpec } from "../../registry/mod.ts";
import {
  createRedisTransport,
  isTcpRedisUrl,
  redactRedisUrl,
  type RedisCommand,
  type RedisTransport,
} from "../online/mod.ts";
import {
  type BrokerLag,
  type BrokerOptions,
  type DeadLetter,
  type DeadLetterRecord,
  decodeJsonEvent,
  fieldText,
  type StreamBroker,
  type StreamEntry,
} from "./broker.ts";

/** Options for {@linkcode RedisStreamBroker}. */
export interface RedisStreamBrokerOptions extends BrokerOptions {
  /** `redis://…` or `rediss://…`. */
  readonly url: string;
}

type RawEntry = [string, string[] | null];

function pairs(flat: readonly unknown[]): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (let i = 0; i + 1 < flat.length; i += 2) out.set(String(flat[i]), flat[i + 1]);
  return out;
}

/**
 * Resets the idle time of the entries this consumer still owns (XCLAIM to itself with JUSTID,
 * which leaves delivery counts alone) and returns their ids; others are left as they are.
 * ARGV: group, consumer, the lowest and highest of the ids, then the ids. This consumer's
 * pending entries in that range are listed a page at a time (one XPENDING per page, not one
 * per entry: the script holds the server while it runs), and claimed a chunk at a time.
 */
const RENEW = `
local group, consumer = ARGV[1], ARGV[2]
local mine = {}
local from = ARGV[3]
while true do
  local page = redis.call('XPENDING', KEYS[1], group, from, ARGV[4], 1000, consumer)
  for _, p in ipairs(page) do mine[p[1]] = true end
  if #page < 1000 then break end
  from = '(' .. page[#page][1]
end
local out = {}
for i = 5, #ARGV do
  if mine[ARGV[i]] then out[#out + 1] = ARGV[i] end
end
for i = 1, #out, 1000 do
  local args = {'XCLAIM', KEYS[1], group, consumer, 0}
  for j = i, math.min(i + 999, #out) do args[#args + 1] = out[j] end
  args[#args + 1] = 'JUSTID'
  redis.call(unpack(args))
end
return out
`;

/** Entry ids in stream order: milliseconds, then sequence. */
function idBefore(a: string, b: string): boolean {
  const [am, as] = a.split("-").map(Number) as [number, number];
  const [bm, bs] = b.split("-").map(Number) as [number, number];
  return am < bm || (am === bm && as < bs);
}

/**
 * Deletes consumer ARGV[2] of group ARGV[1] when it has no pending entries (DELCONSUMER
 * would drop them from the group's pending list, out of reach of XAUTOCLAIM); 1 if gone.
 */
const LEAVE = `
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

/** Milliseconds part of a Redis entry id (`1733000000000-0`). */
function idTime(id: string): number {
  return Number(id.slice(0, id.indexOf("-")));
}

/** A consumer of one consumer group of one Redis stream. */
export class RedisStreamBroker implements StreamBroker {
  readonly kind = "redis";
  readonly description: string;
  readonly consumer: string;
  readonly capabilities = { redeliversByItself: false } as const;
  readonly #source: StreamSourceSpec;
  readonly #group: string;
  readonly #url: string;
  #reader: RedisTransport | undefined;
  #writer: RedisTransport | undefined;
  /** Whether this consumer's own pending entries (from before a restart) were all read. */
  #historyDone = false;
  #claimCursor = "0-0";

  constructor(source: StreamSourceSpec, options: RedisStreamBrokerOptions) {
    if (!isTcpRedisUrl(options.url)) {
      throw new LarderError(
        "CONFIG_INVALID",
        `Stream source "${source.name}": streaming.redis.url must be redis:// or rediss://, got ${
          redactRedisUrl(options.url)
        }`,
      );
    }
    this.#source = source;
    this.#group = options.group;
    this.consumer = options.consumer;
    this.#url = options.url;
    this.description = `Redis stream "${source.stream}" at ${redactRedisUrl(options.url)}`;
  }

  async open(): Promise<void> {
    this.#writer ??= createRedisTransport({ url: this.#url, commandTimeoutMs: 5000 });
    const [created] = await this.#writer.pipeline([
      ["XGROUP", "CREATE", this.#source.stream, this.#group, "0", "MKSTREAM"],
    ]);
    if (created?.error !== undefined && !created.error.startsWith("BUSYGROUP")) {
      throw this.#failure("create the consumer group", created.error);
    }
  }

  async read(count: number, blockMs: number): Promise<StreamEntry[]> {
    if (!this.#historyDone) {
      const own = await this.#readGroup("0", count, 0);
      if (own.length > 0) return own;
      this.#historyDone = true;
    }
    return await this.#readGroup(">", count, blockMs);
  }

  async #readGroup(from: string, count: number, blockMs: number): Promise<StreamEntry[]> {
    this.#reader ??= createRedisTransport({
      url: this.#url,
      commandTimeoutMs: blockMs + 5000,
    });
    const block = blockMs > 0 ? ["BLOCK", String(blockMs)] : [];
    const command: RedisCommand = [
      "XREADGROUP",
      "GROUP",
      this.#group,
      this.consumer,
      "COUNT",
      String(count),
      ...block,
      "STREAMS",
      this.#source.stream,
      from,
    ];
    const [reply] = await this.#reader.pipeline([command]);
    if (reply?.error !== undefined) {
      if (reply.error.startsWith("NOGROUP")) {
        await this.open();
        return [];
      }
      throw this.#failure("read", reply.error);
    }
    const streams = reply?.result as [string, RawEntry[]][] | null;
    const raw = streams?.[0]?.[1] ?? [];
    const entries: StreamEntry[] = [];
    const gone: string[] = [];
    for (const [id, fields] of raw) {
      // A pending entry trimmed from the stream since: nothing to process.
      if (fields === null) gone.push(id);
      else entries.push(this.#entry(id, fields, from === ">" ? 1 : 2));
    }
    if (gone.length > 0) await this.#ackIds(gone);
    return entries;
  }

  #entry(id: string, fields: readonly string[], deliveries: number): StreamEntry {
    const timeMs = idTime(id);
    if (this.#source.format === "json") {
      const data = pairs(fields).get("data");
      if (typeof data !== "string") {
        return {
          id,
          event: undefined,
          problem: 'the entry has no "data" field (the stream source\'s format is "json")',
          payload: JSON.stringify(Object.fromEntries(pairs(fields))),
          deliveries,
          timeMs,
        };
      }
      const decoded = decodeJsonEvent(data);
      return "event" in decoded
        ? { id, event: decoded.event, payload: data, deliveries, timeMs }
        : { id, event: undefined, problem: decoded.problem, payload: data, deliveries, timeMs };
    }
    const event: Record<string, string> = Object.create(null);
    for (let i = 0; i + 1 < fields.length; i += 2) event[fields[i]!] = fields[i + 1]!;
    // The payload text is needed only for a dead letter: made when asked for.
    let payload: string | undefined;
    return {
      id,
      event,
      get payload() {
        return payload ??= JSON.stringify(event);
      },
      deliveries,
      timeMs,
    };
  }

  async renew(entries: readonly StreamEntry[]): Promise<StreamEntry[]> {
    if (entries.length === 0) return [];
    let [low, high] = [entries[0]!.id, entries[0]!.id];
    for (const { id } of entries) {
      if (idBefore(id, low)) low = id;
      else if (idBefore(high, id)) high = id;
    }
    const [reply] = await this.#writerTransport().pipeline([
      [
        "EVAL",
        RENEW,
        "1",
        this.#source.stream,
        this.#group,
        this.consumer,
        low,
        high,
        ...entries.map((e) => e.id),
      ],
    ]);
    if (reply?.error !== undefined) throw this.#failure("renew pending entries", reply.error);
    const kept = new Set((reply?.result as string[]).map(String));
    return entries.filter((e) => kept.has(e.id));
  }

  async ack(entries: readonly StreamEntry[]): Promise<void> {
    if (entries.length > 0) await this.#ackIds(entries.map((e) => e.id));
  }

  async #ackIds(ids: readonly string[]): Promise<void> {
    const [reply] = await this.#writerTransport().pipeline([
      ["XACK", this.#source.stream, this.#group, ...ids],
    ]);
    if (reply?.error !== undefined) throw this.#failure("acknowledge entries", reply.error);
  }

  async reclaim(minIdleMs: number, count: number): Promise<StreamEntry[]> {
    const [reply] = await this.#writerTransport().pipeline([[
      "XAUTOCLAIM",
      this.#source.stream,
      this.#group,
      this.consumer,
      String(minIdleMs),
      this.#claimCursor,
      "COUNT",
      String(count),
    ]]);
    if (reply?.error !== undefined) {
      if (reply.error.startsWith("NOGROUP")) return [];
      throw this.#failure("claim pending entries", reply.error);
    }
    const [next, claimed] = reply?.result as [string, RawEntry[], string[]?];
    this.#claimCursor = next;
    return claimed.filter((e): e is [string, string[]] => e[1] !== null)
      .map(([id, fields]) => this.#entry(id, fields, 2));
  }

  async deadLetter(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const replies = await this.#writerTransport().pipeline(letters.map((l) => [
      "XADD",
      this.#source.deadLetterStream,
      "*",
      "id",
      l.entry.id,
      "view",
      l.view,
      "reason",
      l.reason,
      "payload",
      l.entry.payload,
      "consumer",
      this.consumer,
    ]));
    const failed = replies.find((r) => r.error !== undefined);
    if (failed) throw this.#failure("write dead letters", failed.error!);
  }

  async deadLetters(count: number): Promise<DeadLetterRecord[]> {
    const [reply] = await this.#writerTransport().pipeline([
      ["XRANGE", this.#source.deadLetterStream, "-", "+", "COUNT", String(count)],
    ]);
    if (reply?.error !== undefined) throw this.#failure("read dead letters", reply.error);
    return (reply?.result as [string, string[]][]).map(([, fields]) => {
      const f = pairs(fields);
      return {
        id: String(f.get("id")),
        view: String(f.get("view")),
        reason: String(f.get("reason")),
        payload: String(f.get("payload")),
      };
    });
  }

  async lag(): Promise<BrokerLag> {
    const [reply] = await this.#writerTransport().pipeline([
      ["XINFO", "GROUPS", this.#source.stream],
    ]);
    if (reply?.error !== undefined) {
      if (/no such key/i.test(reply.error)) return { undelivered: 0, pending: 0 };
      throw this.#failure("read the group's lag", reply.error);
    }
    const group = (reply?.result as unknown[][]).map(pairs).find((g) =>
      g.get("name") === this.#group
    );
    if (!group) return { undelivered: 0, pending: 0 };
    const lag = group.get("lag");
    return {
      // Redis answers nil when it cannot tell (after deletions): then count what is left.
      undelivered: typeof lag === "number" ? lag : await this.#undeliveredSlow(group),
      pending: Number(group.get("pending") ?? 0),
    };
  }

  /** Entries after the group's last delivered one, counted up to 10,000 (it is a gauge). */
  async #undeliveredSlow(group: Map<string, unknown>): Promise<number> {
    const last = String(group.get("last-delivered-id") ?? "0-0");
    const [reply] = await this.#writerTransport().pipeline([
      ["XRANGE", this.#source.stream, `(${last}`, "+", "COUNT", "10000"],
    ]);
    return Array.isArray(reply?.result) ? reply.result.length : 0;
  }

  async publish(events: readonly Readonly<Record<string, unknown>>[]): Promise<string[]> {
    if (events.length === 0) return [];
    const commands: RedisCommand[] = events.map((event) =>
      this.#source.format === "json"
        ? ["XADD", this.#source.stream, "*", "data", JSON.stringify(event)]
        : [
          "XADD",
          this.#source.stream,
          "*",
          ...Object.entries(event).flatMap(([k, v]) => [k, fieldText(v)]),
        ]
    );
    const replies = await this.#writerTransport().pipeline(commands);
    return replies.map((r) => {
      if (r.error !== undefined) throw this.#failure("append events", r.error);
      return String(r.result);
    });
  }

  async leave(): Promise<boolean> {
    const [reply] = await this.#writerTransport().pipeline([
      ["EVAL", LEAVE, "1", this.#source.stream, this.#group, this.consumer],
    ]);
    if (reply?.error !== undefined) {
      // No stream or no group: no consumer either.
      if (reply.error.startsWith("NOGROUP") || /no such key/i.test(reply.error)) return true;
      throw this.#failure("leave the consumer group", reply.error);
    }
    return Number(reply?.result) === 1;
  }

  async close(): Promise<void> {
    await Promise.all([this.#reader?.close(), this.#writer?.close()]);
    this.#reader = this.#writer = undefined;
  }

  #writerTransport(): RedisTransport {
    return this.#writer ??= createRedisTransport({ url: this.#url, commandTimeoutMs: 5000 });
  }

  #failure(what: string, reply: string): LarderError {
    return new LarderError(
      "UNAVAILABLE",
      `Cannot ${what} on ${this.description} (group "${this.#group}"): Redis answered "${reply}"`,
    );
  }
}
