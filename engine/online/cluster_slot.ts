/**
 * Redis Cluster's key-to-slot rule, computed on the client: the CRC16 (XMODEM) of the key, or
 * of its hash tag (the text between the first `{` and the next `}`, when not empty), modulo
 * 16384. Keys with the same hash tag share a slot, so one command or script may use them all.
 */
import { LarderError } from "../../registry/mod.ts";
import type { RedisCommand } from "./redis_transport.ts";

/** Slots of a Redis Cluster. */
export const CLUSTER_SLOTS = 16384;

const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    table[i] = crc;
  }
  return table;
})();

const encoder = new TextEncoder();

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc;
}

/**
 * Buckets of entity keys on a Redis Cluster: an entity key's bucket is its key's hash tag, so a
 * bucket's rows (of every view) share a slot. Fewer buckets mean more rows per script call in a
 * write; enough of them spread the rows evenly over the masters (±5% for three).
 */
export const CLUSTER_BUCKETS = 1024;

/** The bucket (0–1023) of an entity key: the CRC16 of its UTF-8 bytes, modulo 1024. */
export function clusterBucket(entityKey: string): number {
  return crc16(encoder.encode(entityKey)) % CLUSTER_BUCKETS;
}

/** The hash slot (0–16383) of a key, hash tags included. */
export function clusterSlot(key: string): number {
  let bytes = encoder.encode(key);
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) bytes = bytes.subarray(open + 1, close);
  }
  return crc16(bytes) % CLUSTER_SLOTS;
}

const SCRIPT_COMMANDS = new Set(["EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"]);
/** Commands that name no key (they go to any master). */
const KEYLESS = new Set([
  "PING",
  "ECHO",
  "INFO",
  "TIME",
  "DBSIZE",
  "SCAN",
  "SCRIPT",
  "FUNCTION",
  "CLUSTER",
  "FLUSHALL",
  "FLUSHDB",
  "RANDOMKEY",
  "KEYS",
  "CONFIG",
  "COMMAND",
  "LASTSAVE",
  "MEMORY",
  "SLOWLOG",
  "CLIENT",
  "HELLO",
  "AUTH",
  "SELECT",
  "READONLY",
  "READWRITE",
  "ASKING",
  "WAIT",
]);

/**
 * The key that places a command in a slot (the first key it names), or `undefined` for a
 * command that names none. A script call's first key follows its key count.
 */
export function commandKey(command: RedisCommand): string | undefined {
  const name = command[0]?.toUpperCase() ?? "";
  if (SCRIPT_COMMANDS.has(name)) return Number(command[2]) > 0 ? command[3] : undefined;
  if (KEYLESS.has(name)) return undefined;
  return command[1];
}

/** Which master serves each slot. */
export interface SlotMap {
  /** The node (`host:port`) of each slot; `undefined` where no master serves it. */
  readonly owners: readonly (string | undefined)[];
  readonly masters: readonly string[];
  /** Masters and replicas, as listed. */
  readonly known: ReadonlySet<string>;
}

/**
 * The slot map of a `CLUSTER SLOTS` reply (RESP2, strings as text); `asked` (`host:port`, the
 * node that answered) fills in a node listed without an IP.
 */
export function parseClusterSlots(reply: unknown, asked: string): SlotMap {
  const owners: (string | undefined)[] = new Array(CLUSTER_SLOTS).fill(undefined);
  const masters = new Set<string>();
  const known = new Set<string>();
  const askedHost = asked.slice(0, asked.lastIndexOf(":"));
  const nodeOf = (entry: unknown): string | undefined => {
    if (!Array.isArray(entry)) return undefined;
    const [ip, port] = entry as [unknown, unknown];
    const host = typeof ip === "string" && ip !== "" && ip !== "?" ? ip : askedHost;
    return `${host.includes(":") ? `[${host}]` : host}:${Number(port)}`;
  };
  for (const range of Array.isArray(reply) ? reply : []) {
    if (!Array.isArray(range)) continue;
    const [from, to, master, ...replicas] = range as [unknown, unknown, unknown, ...unknown[]];
    const node = nodeOf(master);
    if (node === undefined) continue;
    masters.add(node);
    known.add(node);
    for (const replica of replicas) {
      const r = nodeOf(replica);
      if (r !== undefined) known.add(r);
    }
    for (let slot = Number(from); slot <= Number(to); slot++) owners[slot] = node;
  }
  if (masters.size === 0) {
    throw new LarderError(
      "UNAVAILABLE",
      `Redis at ${asked} serves no slots: is it a cluster node, and is the cluster created?`,
    );
  }
  return { owners, masters: [...masters], known };
}
