/**
 * The one module that imports npm `redis` (node-redis): the TCP {@linkcode RedisTransport}.
 *
 * It speaks RESP2 (`RESP: 2`), not node-redis 6's default RESP3, on purpose: RESP2 replies are
 * exactly the shapes the Upstash REST protocol returns (it is RESP2 as JSON), so every caller
 * decodes both transports' answers the same way. Under RESP3 a Lua `false` would come back as
 * `false` instead of nil, and maps and doubles would change shape.
 *
 * One client per transport. Commands issued together are written together (node-redis
 * pipelines what is sent in one tick). While Redis is down, commands fail at once
 * (`disableOfflineQueue`) with the last connection error, and the client keeps dialling in the
 * background (every ≤500 ms) until {@linkcode NodeRedisTransport.close}. A pipeline waiting
 * while Redis sends nothing for `commandTimeoutMs` fails and the connection is dialled again (a
 * link whose peer vanished would otherwise stay silent). Replies to earlier pipelines count as
 * Redis answering (a long queue of writes is not cut off), and time this process spent stalled
 * (its timer firing late, as after a blocking DuckDB query) does not count.
 */
import { createClient, ErrorReply } from "redis";
import { LarderError } from "../../registry/mod.ts";
import {
  closedError,
  type PipelineEntry,
  redactRedisUrl,
  type RedisCommand,
  type RedisTransport,
  type RedisTransportOptions,
} from "./redis_transport.ts";

function newClient(url: string, connectTimeoutMs: number) {
  return createClient({
    url,
    RESP: 2,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: connectTimeoutMs,
      keepAlive: true,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 500),
    },
  });
}

type Client = ReturnType<typeof newClient>;

/** A timer firing this much later than asked means the process, not Redis, was stalled. */
const STALL_MS = 100;

const AUTH_FAILURE = /^(WRONGPASS|NOAUTH)\b|invalid password|invalid username-password/i;

/** The failure marked as one where no command reached Redis (`details.sent: false`). */
function notSent(err: unknown): unknown {
  if (!(err instanceof LarderError)) return err;
  return new LarderError(err.code, err.message, {
    cause: err.cause,
    details: { ...err.details, sent: false },
  });
}

/** The TCP transport over one node-redis client. */
export class NodeRedisTransport implements RedisTransport {
  readonly url: string;
  readonly #url: string;
  readonly #commandTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  #client: Client | undefined;
  /** When the last reply arrived, on any pipeline. */
  #lastReply = 0;
  /** Why the last connection attempt failed, while the client is not ready. */
  #lastError: unknown;
  #closed = false;

  constructor(options: RedisTransportOptions) {
    this.#url = options.url;
    this.url = redactRedisUrl(options.url);
    this.#commandTimeoutMs = options.commandTimeoutMs ?? 2000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 1000;
  }

  async pipeline(commands: readonly RedisCommand[]): Promise<PipelineEntry[]> {
    if (commands.length === 0) return [];
    let client: Client;
    try {
      client = await this.#ready();
    } catch (err) {
      throw notSent(err);
    }
    const sent = commands.map((command) => client.sendCommand([...command]));
    const touch = () => {
      this.#lastReply = performance.now();
    };
    for (const reply of sent) reply.then(touch, touch);
    const since = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      const arm = (ms: number) => {
        const due = performance.now() + ms;
        timer = setTimeout(() => {
          const now = performance.now();
          // Fired late: this process was stalled (a blocking query, a long GC), maybe before
          // the commands were even written. That is not Redis failing to answer: wait again.
          if (now - due > STALL_MS) return arm(this.#commandTimeoutMs);
          // Redis is still answering this connection's earlier commands: not silent.
          const quiet = now - Math.max(since, this.#lastReply);
          if (quiet < this.#commandTimeoutMs) return arm(this.#commandTimeoutMs - quiet);
          reject(
            new LarderError(
              "UNAVAILABLE",
              `Redis at ${this.url} did not answer within ${this.#commandTimeoutMs} ms`,
            ),
          );
          this.#redial(client);
        }, ms);
      };
      arm(this.#commandTimeoutMs);
    });
    let settled: PromiseSettledResult<unknown>[];
    try {
      settled = await Promise.race([Promise.allSettled(sent), timeout]);
    } finally {
      clearTimeout(timer);
    }
    return settled.map((s) => {
      if (s.status === "fulfilled") return { result: s.value, error: undefined };
      if (s.reason instanceof ErrorReply && !AUTH_FAILURE.test(s.reason.message)) {
        return { result: undefined, error: s.reason.message };
      }
      throw this.#failure(s.reason);
    });
  }

  async scriptLoad(source: string): Promise<void> {
    const [entry] = await this.pipeline([["SCRIPT", "LOAD", source]]);
    if (entry?.error !== undefined) {
      throw new LarderError("UNAVAILABLE", `Redis answered "${entry.error}"`);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    if (client?.isOpen) await client.close();
    else client?.destroy();
  }

  /** The client, connected; rejects at once with the last failure while Redis is down. */
  async #ready(): Promise<Client> {
    if (this.#closed) throw closedError();
    const client = this.#client ??= this.#create();
    if (client.isReady) return client;
    if (this.#lastError !== undefined) throw this.#failure(this.#lastError);
    await new Promise<void>((resolve, reject) => {
      const done = (err?: unknown) => {
        clearTimeout(timer);
        client.off("ready", onReady);
        client.off("error", onError);
        if (err === undefined) resolve();
        else reject(this.#failure(err));
      };
      const onReady = () => done();
      const onError = (err: unknown) => done(err);
      const timer = setTimeout(
        () => done(new Error(`no connection within ${this.#connectTimeoutMs} ms`)),
        this.#connectTimeoutMs,
      );
      client.on("ready", onReady);
      client.on("error", onError);
    });
    return client;
  }

  #create(): Client {
    const client = newClient(this.#url, this.#connectTimeoutMs);
    this.#lastError = undefined;
    client.on("error", (err: unknown) => {
      this.#lastError = err;
    });
    client.on("ready", () => {
      this.#lastError = undefined;
    });
    client.connect().catch(() => {
      // Failures arrive as "error" events; connect() only rejects once the client is closed.
    });
    return client;
  }

  /** Drops a connection that stopped answering; the next command dials a new one. */
  #redial(client: Client): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    client.destroy();
  }

  #failure(err: unknown): LarderError {
    if (err instanceof LarderError) return err;
    const reason = (err instanceof Error ? err.message : String(err)).replace(/\.$/, "") ||
      "no reason given";
    if (err instanceof ErrorReply && AUTH_FAILURE.test(reason)) {
      const what = reason.startsWith("NOAUTH")
        ? "needs a password (redis://:password@host:port)"
        : "refused the credentials";
      return new LarderError("UNAUTHENTICATED", `Redis at ${this.url} ${what}: ${reason}`, {
        cause: err,
      });
    }
    return new LarderError("UNAVAILABLE", `Redis is unreachable at ${this.url}: ${reason}`, {
      cause: err,
    });
  }
}
