/**
 * The bridge in front of a Redis Cluster: one {@linkcode RedisPool} per master and the
 * cluster's slot map (`CLUSTER SLOTS`), so that each command of a request goes to the master of
 * its key's slot. A pipeline's commands are split by node and sent in parallel; the replies come
 * back in the request's order.
 *
 * What a client of one Redis may send and a cluster would refuse is made to work where that
 * stays honest:
 * - `MGET`, and `DEL` / `UNLINK` / `EXISTS` / `TOUCH`, over keys of several slots are split by
 *   slot and their replies joined (the array in order, the counts summed): not atomic, as on a
 *   single Redis they are not either with respect to other commands between them.
 * - `SCRIPT LOAD` / `SCRIPT FLUSH` / `FLUSHALL` / `FLUSHDB` go to every master; `DBSIZE` sums.
 * - `SCAN` walks the masters one after another; its cursor is `<master>-<cursor>` (`0` at the
 *   start and the end, as always).
 * Everything else that spans slots (a transaction, a script, `MSET`) gets Redis's own `CROSSSLOT`
 * error and changes nothing: a cross-slot transaction is never split.
 *
 * `MOVED` and `ASK` redirections are followed; an unreachable node fails the request with
 * `UNAVAILABLE` (503) and the slot map is read again, so that serving resumes by itself once a
 * replica has been promoted.
 *
 * @module
 */
import {
  clusterSlot,
  commandKey,
  LarderError,
  parseClusterSlots,
  type SlotMap,
} from "../../engine/mod.ts";
import { RedisPool, type RedisPoolOptions } from "./redis_pool.ts";
import { redactUrl, type SendOptions } from "./_connection.ts";
import { RespError, type RespValue } from "./_resp.ts";

type Command = readonly string[];

const MAX_REDIRECTS = 5;
const REFRESH_INTERVAL_MS = 100;
const REDIRECT = /^(MOVED|ASK) (\d+) (\S+)/;
const STALE_REPLY = /^(CLUSTERDOWN|READONLY|MASTERDOWN|TRYAGAIN)\b/;
const SPLIT_ARRAY = new Set(["MGET"]);
const SPLIT_COUNT = new Set(["DEL", "UNLINK", "EXISTS", "TOUCH"]);
const BROADCAST = new Set(["FLUSHALL", "FLUSHDB"]);
const BROADCAST_SCRIPT = new Set(["LOAD", "FLUSH"]);

/** One command as sent to one node, and where its reply goes. */
interface Part {
  readonly command: Command;
  readonly script: boolean;
  /** The node, when a redirection or a broadcast chose it. */
  to?: string;
  asking?: boolean;
  reply?: RespValue;
}

/** How the replies of a request's parts make the reply to one of its commands. */
interface Plan {
  readonly parts: Part[];
  readonly join: (replies: RespValue[]) => RespValue;
}

const text = (value: RespValue | undefined): string =>
  value instanceof Uint8Array ? new TextDecoder().decode(value) : String(value);

/** The RESP reply with bulk strings as text (for `CLUSTER SLOTS`). */
function asText(value: RespValue): unknown {
  if (Array.isArray(value)) return value.map(asText);
  return value instanceof Uint8Array ? new TextDecoder().decode(value) : value;
}

/** A Redis Cluster behind the bridge, answering as {@linkcode RedisPool} does. */
export class RedisClusterPool {
  /** The seeds' URLs, with any password shown as `***`. */
  readonly url: string;
  readonly #seeds: readonly URL[];
  readonly #options: RedisPoolOptions;
  readonly #pools = new Map<string, RedisPool>();
  /** Per pool: resolves once it has connected, or after the connect timeout. */
  readonly #first = new Map<string, Promise<void>>();
  #map: SlotMap | undefined;
  #loading: Promise<SlotMap> | undefined;
  #mapAt = 0;
  /** A node failed since the map was read. */
  #suspect = false;
  #closed = false;

  constructor(nodes: readonly string[], options: RedisPoolOptions = {}) {
    if (nodes.length === 0) {
      throw new LarderError("INPUT_INVALID", "Cannot front a Redis Cluster: no nodes given");
    }
    this.#seeds = nodes.map((node) => new URL(node));
    this.url = this.#seeds.map(redactUrl).join(",");
    this.#options = { connections: 2, ...options };
  }

  /** Connects to the seeds and reads the slot map; resolves when done or failed (never rejects). */
  async connect(): Promise<void> {
    for (const seed of this.#seeds) this.#pool(address(seed));
    await this.#slotMap().catch(() => {});
  }

  /** Whether the slot map is known and some master's connection is ready. */
  get isReady(): boolean {
    return this.#map !== undefined &&
      this.#map.masters.some((node) => this.#pools.get(node)?.isReady === true);
  }

  /** Sends the commands, each to the master of its slot; replies in order. */
  async send(commands: readonly Command[], options: SendOptions): Promise<RespValue[]> {
    if (commands[0]?.[0]?.toUpperCase() === "MULTI") {
      return await this.#transaction(commands, options);
    }
    const map = await this.#slotMap();
    const plans = commands.map((command, i) =>
      this.#plan(command, options.scripts?.[i] === true, map)
    );
    const parts = plans.flatMap((plan) => plan.parts);
    if (await this.#sendParts(parts, options)) this.#suspect = false;
    return plans.map((plan) => plan.join(plan.parts.map((part) => part.reply ?? null)));
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.close()));
  }

  /** A transaction goes whole to the node of its first key; Redis refuses one across slots. */
  async #transaction(commands: readonly Command[], options: SendOptions): Promise<RespValue[]> {
    const map = await this.#slotMap();
    const key = commands.map(commandKey).find((k) => k !== undefined);
    const node = key === undefined ? map.masters[0] : map.owners[clusterSlot(key)];
    if (node === undefined) throw this.#down();
    const replies = await this.#sendTo(node, commands, options);
    if (
      replies.some((r) =>
        r instanceof RespError && STALE_REPLY.test(r.message) ||
        r instanceof RespError && REDIRECT.test(r.message)
      )
    ) {
      this.#stale();
    }
    return replies;
  }

  #plan(command: Command, script: boolean, map: SlotMap): Plan {
    const name = command[0]?.toUpperCase() ?? "";
    const single = (): Plan => ({ parts: [{ command, script }], join: ([reply]) => reply ?? null });
    if (
      BROADCAST.has(name) ||
      (name === "SCRIPT" && BROADCAST_SCRIPT.has(command[1]?.toUpperCase() ?? ""))
    ) {
      return {
        parts: map.masters.map((to) => ({ command, script, to })),
        join: (replies) => replies.find((r) => r instanceof RespError) ?? replies[0] ?? null,
      };
    }
    if (name === "DBSIZE") {
      return {
        parts: map.masters.map((to) => ({ command, script, to })),
        join: (replies) =>
          replies.find((r) => r instanceof RespError) ??
            replies.reduce<number>((n, r) => n + Number(r), 0),
      };
    }
    if (name === "SCAN") return this.#scan(command, map);
    if ((SPLIT_ARRAY.has(name) || SPLIT_COUNT.has(name)) && command.length > 2) {
      const slots = command.slice(1).map(clusterSlot);
      if (slots.every((slot) => slot === slots[0])) return single();
      const bySlot = new Map<number, number[]>();
      slots.forEach((slot, i) => {
        let list = bySlot.get(slot);
        if (list === undefined) bySlot.set(slot, list = []);
        list.push(i);
      });
      const groups = [...bySlot.values()];
      return {
        parts: groups.map((group) => ({
          command: [command[0]!, ...group.map((i) => command[i + 1]!)],
          script,
        })),
        join: (replies) => {
          const error = replies.find((r) => r instanceof RespError);
          if (error !== undefined) return error;
          if (SPLIT_COUNT.has(name)) return replies.reduce<number>((n, r) => n + Number(r), 0);
          const out: RespValue[] = new Array(slots.length);
          groups.forEach((group, g) => {
            const values = replies[g] as RespValue[];
            group.forEach((i, j) => out[i] = values[j] ?? null);
          });
          return out;
        },
      };
    }
    return single();
  }

  /** `SCAN <master>-<cursor> …` on one master; moves to the next master when it is done. */
  #scan(command: Command, map: SlotMap): Plan {
    const masters = [...map.masters].sort();
    const cursor = command[1] ?? "0";
    const match = /^(\d+)-(\d+)$/.exec(cursor);
    const index = match === null ? 0 : Number(match[1]);
    const nodeCursor = match === null ? cursor : match[2]!;
    const to = masters[index];
    if (to === undefined) {
      return { parts: [], join: () => new RespError(`ERR invalid cursor "${cursor}"`) };
    }
    return {
      parts: [{ command: [command[0]!, nodeCursor, ...command.slice(2)], script: false, to }],
      join: ([reply]) => {
        if (!Array.isArray(reply)) return reply ?? null;
        const next = text(reply[0]);
        const outer = next !== "0"
          ? `${index}-${next}`
          : index + 1 < masters.length
          ? `${index + 1}-0`
          : "0";
        return [outer, reply[1] ?? []];
      },
    };
  }

  /**
   * Sends parts to their nodes in parallel, following redirections; whether every node
   * answered without a sign of a changed cluster.
   */
  async #sendParts(all: Part[], options: SendOptions): Promise<boolean> {
    let pending = all;
    let clean = true;
    for (let hop = 0; pending.length > 0; hop++) {
      const map = await this.#slotMap();
      const byNode = new Map<string, Part[]>();
      for (const part of pending) {
        const key = commandKey(part.command);
        const node = part.to ?? (key === undefined ? map.masters[0] : map.owners[clusterSlot(key)]);
        if (node === undefined) {
          part.reply = new RespError("CLUSTERDOWN Hash slot not served");
          clean = false;
          this.#stale();
          continue;
        }
        let list = byNode.get(node);
        if (list === undefined) byNode.set(node, list = []);
        list.push(part);
      }
      const next: Part[] = [];
      await Promise.all([...byNode].map(async ([node, parts]) => {
        const commands: Command[] = [];
        const scripts: boolean[] = [];
        for (const part of parts) {
          if (part.asking) {
            commands.push(["ASKING"]);
            scripts.push(false);
          }
          commands.push(part.command);
          scripts.push(part.script);
        }
        const pool = this.#pool(node);
        if (!pool.isReady) await this.#first.get(node);
        if (!pool.isReady && hop < MAX_REDIRECTS && parts.every((part) => part.to === undefined)) {
          // Nothing can be sent to this node: if a fresh map names another master for these
          // slots (a replica promoted since the map was read), send them there instead.
          this.#stale();
          const fresh = await this.#slotMap({ fresh: true });
          const elsewhere = parts.every((part) => {
            const key = commandKey(part.command);
            const owner = key === undefined ? fresh.masters[0] : fresh.owners[clusterSlot(key)];
            return owner !== undefined && owner !== node;
          });
          if (elsewhere) {
            next.push(...parts);
            return;
          }
        }
        const replies = await this.#sendTo(node, commands, {
          ...options,
          ...(options.shape?.what === "pipeline"
            ? { shape: { what: "pipeline", commands: commands.length } }
            : {}),
          ...(options.scripts === undefined ? {} : { scripts }),
        });
        let r = 0;
        for (const part of parts) {
          if (part.asking) r++;
          const reply = replies[r++] ?? null;
          const redirect = reply instanceof RespError ? REDIRECT.exec(reply.message) : null;
          if (redirect !== null && hop < MAX_REDIRECTS) {
            const moved = redirect[1] === "MOVED";
            if (moved) this.#stale();
            part.to = redirect[3]!;
            part.asking = !moved;
            next.push(part);
            continue;
          }
          if (reply instanceof RespError && STALE_REPLY.test(reply.message)) {
            clean = false;
            this.#stale();
          }
          part.asking = false;
          part.reply = reply;
        }
      }));
      pending = next;
    }
    return clean;
  }

  async #sendTo(
    node: string,
    commands: readonly Command[],
    options: SendOptions,
  ): Promise<RespValue[]> {
    const pool = this.#pool(node);
    if (!pool.isReady) await this.#first.get(node);
    try {
      return await pool.send(commands, options);
    } catch (err) {
      this.#stale();
      throw err;
    }
  }

  #pool(node: string): RedisPool {
    if (this.#closed) throw new LarderError("UNAVAILABLE", "The bridge is closing");
    let pool = this.#pools.get(node);
    if (pool === undefined) {
      const url = new URL(this.#seeds[0]!.href);
      const colon = node.lastIndexOf(":");
      url.hostname = node.slice(0, colon);
      url.port = node.slice(colon + 1);
      pool = new RedisPool(url.href, this.#options);
      this.#pools.set(node, pool);
      let timer: ReturnType<typeof setTimeout> | undefined;
      this.#first.set(
        node,
        Promise.race([
          pool.connect(),
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, this.#options.connectTimeoutMs ?? 1000);
          }),
        ]).finally(() => clearTimeout(timer)),
      );
    }
    return pool;
  }

  #down(): LarderError {
    this.#stale();
    return new LarderError(
      "UNAVAILABLE",
      `The Redis Cluster (${this.url}) serves no master for this slot right now`,
    );
  }

  /**
   * Reads the slot map again before the next request, and keeps doing so (at most every
   * 100 ms) until a request gets through with every node answering: a map read while a master
   * is down still names it, until its replica is promoted.
   */
  #stale(): void {
    this.#suspect = true;
  }

  /** The slot map; `fresh`: one read after this call (shared with other requests' reads). */
  #slotMap(options: { readonly fresh?: boolean } = {}): Promise<SlotMap> {
    if (options.fresh === true) this.#map = undefined;
    if (this.#suspect && Date.now() - this.#mapAt >= REFRESH_INTERVAL_MS) this.#map = undefined;
    if (this.#map !== undefined) return Promise.resolve(this.#map);
    this.#loading ??= this.#loadSlotMap().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #loadSlotMap(): Promise<SlotMap> {
    this.#mapAt = Date.now();
    const candidates = [...new Set([...this.#pools.keys(), ...this.#seeds.map(address)])];
    let reason = "no node answered";
    for (const candidate of candidates) {
      let reply: RespValue | undefined;
      try {
        [reply] = await this.#sendTo(candidate, [["CLUSTER", "SLOTS"]], { maxReplyBytes: 1 << 20 });
      } catch (err) {
        reason = (err as Error).message;
        continue;
      }
      if (reply instanceof RespError || reply === undefined) {
        reason = `${candidate} answered CLUSTER SLOTS with "${reply?.message ?? ""}"`;
        continue;
      }
      let map: SlotMap;
      try {
        map = parseClusterSlots(asText(reply), candidate);
      } catch (err) {
        reason = (err as Error).message;
        continue;
      }
      this.#map = map;
      this.#mapAt = Date.now();
      for (const [node, pool] of this.#pools) {
        if (map.known.has(node) || this.#seeds.some((seed) => address(seed) === node)) continue;
        this.#pools.delete(node);
        this.#first.delete(node);
        void pool.close();
      }
      return map;
    }
    throw new LarderError(
      "UNAVAILABLE",
      `No node of the Redis Cluster answers (${this.url}): ${reason}`,
    );
  }
}

function address(url: URL): string {
  return `${url.hostname}:${url.port || "6379"}`;
}
