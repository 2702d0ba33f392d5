/**
 * The {@linkcode RedisTransport} of a Redis Cluster: one TCP transport per master, and the
 * cluster's slot map (`CLUSTER SLOTS`) kept on the client, so that each command goes straight
 * to the master of its key's slot.
 *
 * A pipeline is split by node and the parts are sent in parallel: one round trip per node
 * touched. Nothing here relies on a command spanning slots (Redis refuses multi-key commands
 * and scripts across slots, and a cross-slot `MULTI` pipeline applies partially): callers group
 * their keys by slot (hash tags) before building multi-key commands.
 *
 * `MOVED` and `ASK` redirections are followed (up to five hops). When a node is unreachable the
 * pipeline fails with `UNAVAILABLE` at once, and the slot map is read again (at most every
 * 100 ms while failures go on), so that once a replica has been promoted, the next requests go
 * to it without any restart.
 */
import { LarderError } from "../../registry/mod.ts";
import { clusterSlot, commandKey, parseClusterSlots, type SlotMap } from "./cluster_slot.ts";
import {
  closedError,
  createRedisTransport,
  type PipelineEntry,
  redactRedisUrl,
  type RedisClusterView,
  type RedisCommand,
  type RedisTransport,
} from "./redis_transport.ts";

/** Options for {@linkcode RedisClusterTransport}. */
export interface RedisClusterTransportOptions {
  /** `redis://` or `rediss://` URLs of some of the cluster's nodes (credentials apply to all). */
  readonly nodes: readonly string[];
  /**
   * How long a pipeline may wait for one node's replies before it fails with `UNAVAILABLE`.
   * @default {2000}
   */
  readonly commandTimeoutMs?: number | undefined;
  /**
   * How long one connection attempt to a node may take.
   * @default {1000}
   */
  readonly connectTimeoutMs?: number | undefined;
  /** Makes the transport of one node (tests count round trips with it). */
  readonly connect?: ((url: string) => RedisTransport) | undefined;
}

const MAX_REDIRECTS = 5;
const REFRESH_INTERVAL_MS = 100;
const REDIRECT = /^(MOVED|ASK) (\d+) (\S+)/;
const STALE_REPLY = /^(CLUSTERDOWN|READONLY|MASTERDOWN|TRYAGAIN)\b/;

function address(url: URL): string {
  return `${url.hostname}:${url.port || "6379"}`;
}

function notSent(err: unknown): boolean {
  return err instanceof LarderError && err.details?.sent === false;
}

/**
 * A Redis Cluster reached over TCP, slot-aware.
 *
 * @example
 * ```ts ignore
 * import { RedisClusterTransport } from "./redis_cluster_transport.ts";
 * const redis = new RedisClusterTransport({ nodes: ["redis://127.0.0.1:7000"] });
 * const [a, b] = await redis.pipeline([["GET", "a"], ["GET", "b"]]); // two nodes, in parallel
 * await redis.close();
 * ```
 */
export class RedisClusterTransport implements RedisTransport {
  readonly url: string;
  readonly cluster: RedisClusterView;
  readonly #seeds: readonly URL[];
  readonly #connect: (url: string) => RedisTransport;
  readonly #nodes = new Map<string, RedisTransport>();
  #map: Promise<SlotMap> | undefined;
  #mapAt = 0;
  /** The map is being read. */
  #loading = false;
  /** A node failed since the map was read: read it again (every 100 ms) until all answer. */
  #suspect = false;
  #closed = false;

  constructor(options: RedisClusterTransportOptions) {
    if (options.nodes.length === 0) {
      throw new LarderError("CONFIG_INVALID", "Cannot reach the Redis Cluster: no nodes given");
    }
    this.#seeds = options.nodes.map((node) => {
      try {
        const url = new URL(node);
        if (url.protocol === "redis:" || url.protocol === "rediss:") return url;
      } catch {
        // reported below
      }
      throw new LarderError(
        "CONFIG_INVALID",
        `Cannot reach the Redis Cluster: expected redis:// or rediss:// node URLs, got "${
          redactRedisUrl(node)
        }"`,
      );
    });
    this.url = options.nodes.map(redactRedisUrl).join(",");
    this.#connect = options.connect ?? ((url) =>
      createRedisTransport({
        url,
        commandTimeoutMs: options.commandTimeoutMs,
        connectTimeoutMs: options.connectTimeoutMs,
      }));
    this.cluster = { masters: () => this.#masters() };
  }

  async pipeline(commands: readonly RedisCommand[]): Promise<PipelineEntry[]> {
    if (commands.length === 0) return [];
    const entries: PipelineEntry[] = new Array(commands.length);
    /** Commands still to send, each with where a redirection sent it (if one did). */
    let pending: { index: number; to?: string; asking?: boolean }[] = commands.map((_, i) => ({
      index: i,
    }));
    let failed = false;
    for (let hop = 0; pending.length > 0; hop++) {
      const map = await this.#slotMap();
      const byNode = new Map<string, typeof pending>();
      for (const item of pending) {
        const key = commandKey(commands[item.index]!);
        const node = item.to ?? (key === undefined ? map.masters[0] : map.owners[clusterSlot(key)]);
        if (node === undefined) {
          entries[item.index] = {
            result: undefined,
            error: "CLUSTERDOWN Hash slot not served",
          };
          failed = true;
          this.#stale();
          continue;
        }
        let list = byNode.get(node);
        if (list === undefined) byNode.set(node, list = []);
        list.push(item);
      }
      const next: typeof pending = [];
      await Promise.all([...byNode].map(async ([node, items]) => {
        const sent: RedisCommand[] = [];
        for (const item of items) {
          if (item.asking) sent.push(["ASKING"]);
          sent.push(commands[item.index]!);
        }
        let replies: PipelineEntry[];
        try {
          replies = await this.#node(node).pipeline(sent);
        } catch (err) {
          this.#stale();
          // Nothing reached the node: if a fresh map names another master for these slots (a
          // replica promoted since the map was read), send them there instead.
          if (!notSent(err) || hop >= MAX_REDIRECTS) throw err;
          const fresh = await this.#slotMap({ fresh: true });
          const moved = items.filter((item) => {
            const key = commandKey(commands[item.index]!);
            const owner = key === undefined ? fresh.masters[0] : fresh.owners[clusterSlot(key)];
            return owner !== undefined && owner !== node && item.to === undefined;
          });
          if (moved.length !== items.length) throw err;
          next.push(...moved);
          return;
        }
        let r = 0;
        for (const item of items) {
          if (item.asking) r++;
          const entry = replies[r++]!;
          const redirect = entry.error === undefined ? null : REDIRECT.exec(entry.error);
          if (redirect !== null && hop < MAX_REDIRECTS) {
            const moved = redirect[1] === "MOVED";
            if (moved) this.#stale();
            next.push({ index: item.index, to: redirect[3]!, asking: !moved });
            continue;
          }
          if (entry.error !== undefined && STALE_REPLY.test(entry.error)) {
            failed = true;
            this.#stale();
          }
          entries[item.index] = entry;
        }
      }));
      pending = next;
    }
    if (!failed) this.#suspect = false;
    return entries;
  }

  async scriptLoad(source: string): Promise<void> {
    await Promise.all((await this.#masters()).map((node) => node.scriptLoad(source)));
  }

  async close(): Promise<void> {
    this.#closed = true;
    const nodes = [...this.#nodes.values()];
    this.#nodes.clear();
    await Promise.all(nodes.map((node) => node.close()));
  }

  async #masters(): Promise<RedisTransport[]> {
    return (await this.#slotMap()).masters.map((node) => this.#node(node));
  }

  #node(node: string): RedisTransport {
    if (this.#closed) throw closedError();
    let transport = this.#nodes.get(node);
    if (transport === undefined) {
      const url = new URL(this.#seeds[0]!.href);
      const colon = node.lastIndexOf(":");
      url.hostname = node.slice(0, colon);
      url.port = node.slice(colon + 1);
      transport = this.#connect(url.href);
      this.#nodes.set(node, transport);
    }
    return transport;
  }

  /**
   * Reads the slot map again before the next commands, and keeps doing so (at most every
   * 100 ms) until a pipeline gets through with every node answering: a map read while a
   * master is down still names it, until its replica is promoted.
   */
  #stale(): void {
    this.#suspect = true;
  }

  /** The slot map; `fresh`: one read after this call (shared with other callers' reads). */
  #slotMap(options: { readonly fresh?: boolean } = {}): Promise<SlotMap> {
    if (this.#closed) return Promise.reject(closedError());
    if (options.fresh === true && !this.#loading) this.#map = undefined;
    if (this.#suspect && Date.now() - this.#mapAt >= REFRESH_INTERVAL_MS) this.#map = undefined;
    if (this.#map === undefined) {
      this.#mapAt = Date.now();
      const loading = this.#loadSlotMap();
      this.#map = loading;
      this.#loading = true;
      loading.then(
        () => {
          if (this.#map === loading) this.#loading = false;
        },
        () => {
          if (this.#map === loading) {
            this.#map = undefined;
            this.#loading = false;
          }
        },
      );
    }
    return this.#map;
  }

  /** `CLUSTER SLOTS` from the first node that answers: known masters first, then the seeds. */
  async #loadSlotMap(): Promise<SlotMap> {
    const candidates = [...new Set([...this.#nodes.keys(), ...this.#seeds.map(address)])];
    let lastError: unknown;
    for (const candidate of candidates) {
      let entry: PipelineEntry | undefined;
      try {
        [entry] = await this.#node(candidate).pipeline([["CLUSTER", "SLOTS"]]);
      } catch (err) {
        lastError = err;
        continue;
      }
      if (entry === undefined || entry.error !== undefined) {
        lastError = new LarderError(
          "UNAVAILABLE",
          `Redis at ${candidate} answered CLUSTER SLOTS with "${entry?.error ?? ""}"`,
        );
        continue;
      }
      const map = parseClusterSlots(entry.result, candidate);
      this.#forget(map.known);
      return map;
    }
    if (lastError instanceof LarderError) {
      throw new LarderError(
        lastError.code,
        `No node of the Redis Cluster answers (${this.url}): ${lastError.message}`,
        { cause: lastError },
      );
    }
    throw new LarderError("UNAVAILABLE", `No node of the Redis Cluster answers (${this.url})`, {
      cause: lastError,
    });
  }

  /** Closes the transports of nodes the cluster no longer lists (a failed master, removed). */
  #forget(known: ReadonlySet<string>): void {
    const seeds = new Set(this.#seeds.map(address));
    for (const [node, transport] of this.#nodes) {
      if (known.has(node) || seeds.has(node)) continue;
      this.#nodes.delete(node);
      transport.close().catch(() => {});
    }
  }
}
