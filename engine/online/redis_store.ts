/**
 * `RedisOnlineStore`: Redis over HTTP (the Upstash REST protocol, against Upstash itself or a
 * bridge in front of a self-hosted Redis) or over TCP (`redis://`, `rediss://`), the same keys
 * and scripts on either; or a Redis Cluster (`nodes`, or a bridge in front of one), where keys
 * carry a bucket of the entity key as hash tag and every command stays within one slot. Key layout and the
 * reasons for it: `docs/online-store.md`.
 */
import { LarderError } from "../../registry/mod.ts";
import { currentHolder, type LockState, parseHolder } from "./lock_holder.ts";
import type {
  LockLease,
  OnlineKey,
  OnlineRecord,
  OnlineRow,
  OnlineStore,
  OnlineStoreCapabilities,
  OnlineWriteResult,
  StoredValue,
  ViewsWithData,
} from "./online_store.ts";
import {
  createRedisTransport,
  evalScriptCalls,
  type PipelineEntry,
  type RedisCommand,
  redisFailure,
  type RedisScript,
  redisScript,
  type RedisTransport,
  type ScriptCall,
} from "./redis_transport.ts";
import { RedisClusterTransport } from "./redis_cluster_transport.ts";
import { clusterBucket, clusterSlot } from "./cluster_slot.ts";

/** Options for {@linkcode RedisOnlineStore}. */
export interface RedisOnlineStoreOptions {
  /** The project: every key carries it. */
  readonly project: string;
  /**
   * `http(s)://…`: REST URL of Upstash or of a bridge (with `token`); `redis://[[user]:password@]host[:port][/db]`
   * or `rediss://…` (TLS): Redis itself, over TCP.
   */
  readonly url?: string;
  /** The REST token; only for `http(s)://` URLs. */
  readonly token?: string | undefined;
  /**
   * A Redis Cluster instead of `url`: `redis://` or `rediss://` URLs of some of its nodes. Keys
   * then carry a bucket of the entity key as hash tag (see {@linkcode RedisOnlineStore.key}).
   */
  readonly nodes?: readonly string[] | undefined;
  /**
   * The `url` is a Redis HTTP bridge in front of a Redis Cluster (`redis-http --redis-cluster`):
   * use the cluster's key layout and keep each command within one slot, as with `nodes`.
   * @default {false}
   */
  readonly cluster?: boolean | undefined;
  /** Use this transport instead of one made from `url` (the store closes it). */
  readonly transport?: RedisTransport;
  /**
   * First part of every key.
   * @default {"larder"}
   */
  readonly keyPrefix?: string;
  /** Rows expire this many seconds after they are written; absent: never. */
  readonly keyTtlSeconds?: number | undefined;
  /**
   * HTTP only: retries of a request that failed with a network error.
   * @default {2}
   */
  readonly retries?: number;
  /**
   * TCP only: how long a pipeline may wait for Redis's replies before it fails.
   * @default {2000}
   */
  readonly commandTimeoutMs?: number;
  /**
   * Rows per script call (one Redis command).
   * @default {200}
   */
  readonly rowsPerCommand?: number;
  /**
   * Commands per HTTP request (pipeline); at most 1000.
   * @default {1000}
   */
  readonly commandsPerRequest?: number;
  /**
   * Approximate upper bound on one request's body (Upstash's free tier accepts 1 MB).
   * @default {1000000}
   */
  readonly maxRequestBytes?: number;
  /**
   * Write requests in flight at once.
   * @default {4}
   */
  readonly writeConcurrency?: number;
}

/** Keys per `MGET` inside the read pipeline. */
const KEYS_PER_MGET = 1000;
/** Keys asked per `SCAN` step when deleting. */
const SCAN_COUNT = 1000;
/** The record format written: times in epoch microseconds. Format 1 held milliseconds. */
const RECORD_VERSION = "2";
const MS_RECORD_VERSION = "1";

/**
 * Writes many rows, each only when its event timestamp is strictly later than the stored one.
 * KEYS[i]: the row's key; ARGV[1]: expiry in seconds (0: none); ARGV[i + 1]: the record
 * `2;<event µs>;<created µs>;<values JSON>`. A stored record of format 1 (times in epoch
 * milliseconds, possibly fractional) is compared in microseconds too. Lua numbers are doubles:
 * epoch microseconds are exact in them. Returns how many rows were written.
 */
const WRITE_SCRIPT = `
local ttl = tonumber(ARGV[1])
local function micros(record)
  local version, ts = string.match(record, '^(%d+);([^;]*);')
  ts = tonumber(ts)
  if ts and version == '${MS_RECORD_VERSION}' then ts = math.floor(ts * 1000 + 0.5) end
  return ts
end
local written = 0
for i = 1, #KEYS do
  local record = ARGV[i + 1]
  local ts = micros(record)
  local current = redis.call('GET', KEYS[i])
  local stored = current and micros(current)
  if not stored or ts > stored then
    if ttl > 0 then
      redis.call('SET', KEYS[i], record, 'EX', ttl)
    else
      redis.call('SET', KEYS[i], record)
    end
    written = written + 1
  end
end
return written
`;

/**
 * A held lock's value is its holding, the JSON `{"token",…holder,"renewals":n}`; a lease knows
 * its stem, the JSON up to `"renewals":`. Extending counts the renewal in the value, so that a
 * holding renewed since it was inspected is no longer the inspected value (see `breakLock`).
 */
const RENEWALS = '"renewals":';

/**
 * If KEYS[1] holds the holding whose stem is ARGV[1], counts one more renewal and sets its
 * expiry to ARGV[2] ms: 1; else 0.
 */
const EXTEND_LOCK_SCRIPT = `
local value = redis.call('GET', KEYS[1])
if not value or string.sub(value, 1, #ARGV[1]) ~= ARGV[1] then return 0 end
local renewals = string.match(string.sub(value, #ARGV[1] + 1), '^${RENEWALS}(%d+)}$')
if not renewals then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. '${RENEWALS}' .. (tonumber(renewals) + 1) .. '}', 'PX', ARGV[2])
return 1
`;
const EXTEND_LOCK = redisScript(EXTEND_LOCK_SCRIPT);

/** Deletes KEYS[1] if it holds the holding whose stem is ARGV[1], however renewed: 1, else 0. */
const RELEASE_LOCK_SCRIPT = `
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, #ARGV[1]) == ARGV[1]
  and string.match(string.sub(value, #ARGV[1] + 1), '^${RENEWALS}%d+}$') then
  return redis.call('DEL', KEYS[1])
end
return 0
`;
const RELEASE_LOCK = redisScript(RELEASE_LOCK_SCRIPT);

/**
 * Deletes KEYS[1] if its value is exactly ARGV[1], the value `inspectLock` read (renewed since,
 * it differs): 1, else 0.
 */
const BREAK_LOCK_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;
const BREAK_LOCK = redisScript(BREAK_LOCK_SCRIPT);

const WRITE = redisScript(WRITE_SCRIPT);

/** The sources of every Lua script the store sends (the Redis HTTP bridge registers them). */
export const REDIS_STORE_SCRIPTS: readonly string[] = [
  WRITE_SCRIPT,
  EXTEND_LOCK_SCRIPT,
  RELEASE_LOCK_SCRIPT,
  BREAK_LOCK_SCRIPT,
];

const UNAVAILABLE_REPLY = /^(OOM|BUSY|LOADING|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN)\b/;

/** A lock's expiry for `PX` / `PEXPIRE`: a whole number of milliseconds, at least 1. */
function lockTtl(ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs));
}

/** Redis glob metacharacters in a literal part of a `SCAN MATCH` pattern. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}

/** The record text stored under a key. */
export function encodeRedisRecord(record: OnlineRecord): string {
  return `${RECORD_VERSION};${record.eventMicros};${record.createdMicros ?? ""};${
    JSON.stringify(record.values)
  }`;
}

/** Epoch microseconds of a stored time (format 1 held milliseconds). */
function storedMicros(text: string, version: string): number {
  const n = Number(text);
  return version === RECORD_VERSION ? n : Math.round(n * 1000);
}

/**
 * The record of stored text (format 2, or format 1 written by earlier versions), or `null`
 * when the text is not a record.
 */
export function decodeRedisRecord(text: string): OnlineRecord | null {
  const a = text.indexOf(";");
  const b = text.indexOf(";", a + 1);
  const c = text.indexOf(";", b + 1);
  if (a < 0 || b < 0 || c < 0) return null;
  const version = text.slice(0, a);
  if (version !== RECORD_VERSION && version !== MS_RECORD_VERSION) return null;
  const created = text.slice(b + 1, c);
  return {
    eventMicros: storedMicros(text.slice(a + 1, b), version),
    createdMicros: created === "" ? null : storedMicros(created, version),
    values: JSON.parse(text.slice(c + 1)) as Record<string, StoredValue>,
  };
}

/**
 * The online store on Redis, over HTTP or TCP, on one Redis or a Redis Cluster.
 *
 * - A read of any number of entity rows and views is one round trip (one HTTP request, or one
 *   write on the TCP connection: a pipeline of `MGET`s of up to 1000 keys). On a cluster: one
 *   `MGET` per slot (per bucket of entities), and one round trip per node touched, in parallel.
 * - Writes go in pipelines of at most 1000 commands; each command is one call of a Lua script
 *   (`EVALSHA`, falling back to `EVAL` on `NOSCRIPT`) writing up to 200 rows skip-if-not-newer,
 *   atomically on the server (on a cluster, rows of one slot per call).
 *
 * @example
 * ```ts
 * import { RedisOnlineStore } from "./redis_store.ts";
 * const store = new RedisOnlineStore({
 *   project: "demo",
 *   url: "http://127.0.0.1:8079",
 *   token: "secret",
 * });
 * const [record] = await store.read([{ view: "driver_stats", entityKey: "driver_id=1001" }]);
 * ```
 */
export class RedisOnlineStore implements OnlineStore {
  readonly name: string;
  readonly capabilities: OnlineStoreCapabilities = {
    ttl: true,
    singleRoundTripRead: true,
    locks: true,
  };
  readonly #redis: RedisTransport;
  /** Keys carry hash tags and multi-key commands stay within one slot. */
  readonly #cluster: boolean;
  readonly #base: string;
  readonly #lockBase: string;
  readonly #ttl: number;
  readonly #rowsPerCommand: number;
  readonly #commandsPerRequest: number;
  readonly #maxRequestBytes: number;
  readonly #concurrency: number;
  #script: Promise<RedisScript> | undefined;

  constructor(options: RedisOnlineStoreOptions) {
    this.#redis = options.transport ?? (options.nodes === undefined
      ? createRedisTransport({
        url: options.url ?? "",
        token: options.token,
        retries: options.retries,
        commandTimeoutMs: options.commandTimeoutMs,
      })
      : new RedisClusterTransport({
        nodes: options.nodes,
        commandTimeoutMs: options.commandTimeoutMs,
      }));
    this.#cluster = this.#redis.cluster !== undefined || options.cluster === true;
    this.name = `redis ${this.#cluster ? "cluster " : ""}${this.#redis.url}`;
    if (this.#cluster && /[{}]/.test(options.keyPrefix ?? "")) {
      throw new LarderError(
        "CONFIG_INVALID",
        `Cannot use the key prefix "${options.keyPrefix}" on a Redis Cluster: braces would change the keys' hash tags`,
      );
    }
    this.#base = `${options.keyPrefix ?? "larder"}:${options.project}:`;
    this.#lockBase = `${options.keyPrefix ?? "larder"}-lock:${options.project}:`;
    this.#ttl = options.keyTtlSeconds ?? 0;
    this.#rowsPerCommand = Math.max(1, options.rowsPerCommand ?? 200);
    this.#commandsPerRequest = Math.min(1000, Math.max(1, options.commandsPerRequest ?? 1000));
    this.#maxRequestBytes = options.maxRequestBytes ?? 1_000_000;
    this.#concurrency = Math.max(1, options.writeConcurrency ?? 4);
  }

  /**
   * The Redis key of one row: `<prefix>:<project>:<view>:<entity key>`; on a Redis Cluster
   * `<prefix>:<project>:<view>:{<bucket>}<entity key>`, the bucket (0–1023) a hash of the entity
   * key: every view's row of one entity lives in one slot, and a write's rows fall in at most
   * 1024 slots, so each script call carries many.
   */
  key(view: string, entityKey: string): string {
    return this.#cluster
      ? `${this.#base}${view}:{${clusterBucket(entityKey)}}${entityKey}`
      : `${this.#base}${view}:${entityKey}`;
  }

  async write(view: string, rows: readonly OnlineRow[]): Promise<OnlineWriteResult> {
    if (rows.length === 0) return { written: 0, skipped: 0 };
    const script = await this.#loadScript();
    const requests = this.#plan(view, rows);
    let written = 0;
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (next < requests.length && !failed) {
        const calls = requests[next++]!;
        let results: unknown[];
        try {
          results = await this.#results(
            "write to",
            () => evalScriptCalls(this.#redis, { script, calls }),
          );
        } catch (err) {
          failed = true;
          throw err;
        }
        for (const result of results) written += Number(result);
      }
    };
    const workers = Array.from({ length: Math.min(this.#concurrency, requests.length) }, worker);
    const settled = await Promise.allSettled(workers);
    const failure = settled.find((s) => s.status === "rejected");
    if (failure) throw failure.reason;
    return { written, skipped: rows.length - written };
  }

  /**
   * The write script, loaded into Redis once per store so that the first pipelines need no
   * `NOSCRIPT` round (a later flush or restart is still covered by the fallback to `EVAL`).
   */
  #loadScript(): Promise<RedisScript> {
    this.#script ??= (async () => {
      try {
        await this.#redis.scriptLoad(WRITE.source);
      } catch (err) {
        this.#script = undefined;
        throw redisFailure(err, `Cannot write to the online store (${this.name})`);
      }
      return WRITE;
    })();
    return this.#script;
  }

  /** Groups rows into script calls, and calls into requests, within the size limits. */
  #plan(view: string, rows: readonly OnlineRow[]): ScriptCall[][] {
    const requests: ScriptCall[][] = [];
    let request: ScriptCall[] = [];
    let requestBytes = 0;
    let keys: string[] = [];
    let args: string[] = [String(this.#ttl)];
    let callBytes = 0;
    const endCall = () => {
      if (keys.length === 0) return;
      if (
        request.length >= this.#commandsPerRequest ||
        (request.length > 0 && requestBytes + callBytes > this.#maxRequestBytes)
      ) {
        requests.push(request);
        request = [];
        requestBytes = 0;
      }
      request.push({ keys, args });
      requestBytes += callBytes;
      keys = [];
      args = [String(this.#ttl)];
      callBytes = 0;
    };
    for (const group of this.#bySlot(rows, (row) => this.key(view, row.entityKey))) {
      for (const [key, row] of group) {
        const record = encodeRedisRecord(row.record);
        keys.push(key);
        args.push(record);
        callBytes += key.length + record.length + 8;
        if (keys.length >= this.#rowsPerCommand || callBytes >= this.#maxRequestBytes / 4) {
          endCall();
        }
      }
      endCall();
    }
    if (request.length > 0) requests.push(request);
    return requests;
  }

  /**
   * `items` with their keys, in groups whose keys share a slot (on a cluster; elsewhere one
   * group, in order).
   */
  #bySlot<T>(items: readonly T[], keyOf: (item: T) => string): [string, T][][] {
    if (!this.#cluster) return [items.map((item) => [keyOf(item), item])];
    const groups = new Map<number, [string, T][]>();
    for (const item of items) {
      const key = keyOf(item);
      const slot = clusterSlot(key);
      let group = groups.get(slot);
      if (group === undefined) groups.set(slot, group = []);
      group.push([key, item]);
    }
    return [...groups.values()];
  }

  async read(keys: readonly OnlineKey[]): Promise<(OnlineRecord | null)[]> {
    if (keys.length === 0) return [];
    const positions = keys.map((_, i) => i);
    const commands: RedisCommand[] = [];
    const order: number[] = [];
    for (
      const group of this.#bySlot(positions, (i) => this.key(keys[i]!.view, keys[i]!.entityKey))
    ) {
      for (let i = 0; i < group.length; i += KEYS_PER_MGET) {
        const part = group.slice(i, i + KEYS_PER_MGET);
        commands.push(["MGET", ...part.map(([key]) => key)]);
        for (const [, position] of part) order.push(position);
      }
    }
    const results = await this.#results("read from", () => this.#redis.pipeline(commands));
    const out: (OnlineRecord | null)[] = new Array(keys.length);
    let n = 0;
    for (const result of results) {
      for (const text of result as (string | null)[]) {
        out[order[n++]!] = typeof text === "string" ? decodeRedisRecord(text) : null;
      }
    }
    return out;
  }

  async deleteViews(views: readonly string[]): Promise<void> {
    for (const view of views) await this.#deleteMatching(`${globEscape(this.#base)}${view}:*`);
  }

  async deleteAll(): Promise<void> {
    await this.#deleteMatching(`${globEscape(this.#base)}*`);
  }

  /** Closes the connection (TCP); the store cannot be used after. */
  close(): Promise<void> {
    return this.#redis.close();
  }

  /**
   * SCANs the project's row keys (`SCAN` walks the whole keyspace: there is no index by
   * prefix; on a cluster, each master's), at most about `maxKeys` of the database's keys.
   */
  async viewsWithData(options: { readonly maxKeys?: number } = {}): Promise<ViewsWithData> {
    const nodes = await this.#scanNodes("list the views of");
    const steps = Math.max(
      1,
      Math.ceil((options.maxKeys ?? 10_000) / SCAN_COUNT / nodes.length),
    );
    const views = new Set<string>();
    let complete = true;
    for (const node of nodes) {
      let cursor = "0";
      let step = 0;
      do {
        if (step++ >= steps) {
          complete = false;
          break;
        }
        const from = cursor;
        const [result] = await this.#results("list the views of", () =>
          node.pipeline([
            ["SCAN", from, "MATCH", `${globEscape(this.#base)}*`, "COUNT", String(SCAN_COUNT)],
          ]));
        const [next, keys] = result as [string | number, string[]];
        for (const key of keys) {
          const end = key.indexOf(":", this.#base.length);
          if (end > this.#base.length) views.add(key.slice(this.#base.length, end));
        }
        cursor = String(next);
      } while (cursor !== "0");
    }
    return { views: [...views].sort(), complete };
  }

  /** Where `SCAN` must run: the one Redis, or every master of a cluster. */
  async #scanNodes(action: string): Promise<readonly RedisTransport[]> {
    if (this.#redis.cluster === undefined) return [this.#redis];
    try {
      return await this.#redis.cluster.masters();
    } catch (err) {
      throw redisFailure(err, `Cannot ${action} the online store (${this.name})`);
    }
  }

  /**
   * `SET <prefix>-lock:<project>:<name> <holding> NX PX <ttl>`, where the holding is the JSON
   * `{"token","host","pid","since",…,"renewals":0}` (unique by its token): outside the rows'
   * keys, so no view name can collide with a lock and deletes of rows leave locks alone.
   * Extending and releasing compare the stored text with the holding up to `"renewals"`
   * (extending counts one more); breaking compares the whole text.
   */
  async acquireLock(name: string, ttlMs: number): Promise<LockLease | null> {
    const key = `${this.#lockBase}${name}`;
    const holding = JSON.stringify({ token: crypto.randomUUID(), ...currentHolder() });
    const stem = `${holding.slice(0, -1)},`;
    const [taken] = await this.#results(
      `take the lock "${name}" in`,
      () =>
        this.#redis.pipeline([
          ["SET", key, `${stem}${RENEWALS}0}`, "NX", "PX", String(lockTtl(ttlMs))],
        ]),
    );
    if (taken === null) return null;
    return {
      name,
      extend: async (ttl) => {
        const args = [stem, String(lockTtl(ttl))];
        return await this.#lockScript(EXTEND_LOCK, { key, args }) === 1;
      },
      release: async () => {
        await this.#lockScript(RELEASE_LOCK, { key, args: [stem] });
      },
    };
  }

  /** The holding as stored (with its renewal count) is the token `breakLock` compares. */
  async inspectLock(name: string): Promise<LockState | null> {
    const key = `${this.#lockBase}${name}`;
    const [value, ttl] = await this.#results(
      `read the lock "${name}" in`,
      () => this.#redis.pipeline([["GET", key], ["PTTL", key]]),
    );
    if (typeof value !== "string" || Number(ttl) === -2) return null;
    let holder = null;
    try {
      holder = parseHolder(JSON.parse(value));
    } catch {
      // A plain token, from an older Larder.
    }
    const remaining = Number(ttl);
    return {
      name,
      holder,
      // -1: no expiry (set by hand); report it as never.
      expiresAt: remaining >= 0 ? Date.now() + remaining : Number.POSITIVE_INFINITY,
      token: value,
    };
  }

  async breakLock(name: string, token: string): Promise<boolean> {
    const key = `${this.#lockBase}${name}`;
    return await this.#lockScript(BREAK_LOCK, { key, args: [token] }) === 1;
  }

  /** Runs a compare-and-set script on a lock key; returns its integer reply. */
  async #lockScript(
    script: RedisScript,
    call: { readonly key: string; readonly args: readonly string[] },
  ): Promise<number> {
    const [result] = await this.#results("update a lock in", () =>
      evalScriptCalls(this.#redis, {
        script,
        calls: [{ keys: [call.key], args: call.args }],
      }));
    return Number(result);
  }

  /**
   * SCAN for the pattern, unlinking each step's keys in the same request as the next step; on
   * a cluster, on each master, unlinking by slot through the routing transport.
   */
  async #deleteMatching(pattern: string): Promise<void> {
    if (this.#cluster) {
      for (const node of await this.#scanNodes("delete from")) {
        let cursor = "0";
        do {
          const from = cursor;
          const [result] = await this.#results(
            "delete from",
            () => node.pipeline([["SCAN", from, "MATCH", pattern, "COUNT", String(SCAN_COUNT)]]),
          );
          const [next, keys] = result as [string | number, string[]];
          cursor = String(next);
          const unlink = this.#bySlot(keys, (key) => key).map((
            group,
          ) => ["UNLINK", ...group.map(([key]) => key)]);
          if (unlink.length > 0) {
            await this.#results("delete from", () => this.#redis.pipeline(unlink));
          }
        } while (cursor !== "0");
      }
      return;
    }
    let cursor = "0";
    let found: string[] = [];
    do {
      const unlink = found;
      const scanFrom = cursor;
      const results = await this.#results("delete from", () =>
        this.#redis.pipeline([
          ...(unlink.length > 0 ? [["UNLINK", ...unlink]] : []),
          ["SCAN", scanFrom, "MATCH", pattern, "COUNT", String(SCAN_COUNT)],
        ]));
      const [next, keys] = results.at(-1) as [string | number, string[]];
      cursor = String(next);
      found = keys;
    } while (cursor !== "0");
    if (found.length > 0) {
      await this.#results("delete from", () => this.#redis.pipeline([["UNLINK", ...found]]));
    }
  }

  /**
   * The results of one request's commands. A failed request and an error reply both throw,
   * as "Cannot <action> the online store": UNAVAILABLE for the transport or a transient
   * reply, INTERNAL for any other reply.
   */
  async #results(action: string, run: () => Promise<PipelineEntry[]>): Promise<unknown[]> {
    let entries: PipelineEntry[];
    try {
      entries = await run();
    } catch (err) {
      throw redisFailure(err, `Cannot ${action} the online store (${this.name})`);
    }
    const failed = entries.find((e) => e.error !== undefined);
    if (failed) throw this.#replyError(failed.error!, action);
    return entries.map((e) => e.result);
  }

  #replyError(reply: string, action: string): LarderError {
    return new LarderError(
      UNAVAILABLE_REPLY.test(reply) ? "UNAVAILABLE" : "INTERNAL",
      `Cannot ${action} the online store (${this.name}): Redis answered "${reply}"`,
    );
  }
}
