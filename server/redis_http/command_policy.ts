/**
 * What a bridge token may run: an allowlist of data commands, Lua scripts only when
 * registered (Larder's own, plus any the operator registers), admin commands only with
 * `allowAdmin`, any script only with `allowScripts`, and never a command that would block or
 * change the state of a connection the bridge shares between callers.
 *
 * @example
 * ```ts
 * import { CommandPolicy } from "./command_policy.ts";
 * const policy = new CommandPolicy();
 * console.log(policy.refusal(["FLUSHALL"])?.reason);
 * // it is an admin command: the bridge allows it only with --allow-admin
 * ```
 *
 * @module
 */
import type { LarderErrorCode } from "../../engine/mod.ts";
import { LARDER_REDIS_SCRIPTS, scriptSha1 } from "../../engine/mod.ts";

/** Options for {@linkcode CommandPolicy}. */
export interface CommandPolicyOptions {
  /**
   * Let admin and server commands through (`FLUSHALL`, `CONFIG`, `KEYS`, `CLIENT`, `DEBUG`,
   * `SHUTDOWN`, `INFO`, `SCRIPT FLUSH`, `FUNCTION FLUSH` …, and any command not on the data
   * list).
   * @default {false}
   */
  readonly allowAdmin?: boolean;
  /**
   * Let every Lua script and function through (`EVAL`, `EVALSHA`, `SCRIPT LOAD`, `FCALL`,
   * `FUNCTION LOAD`, `LIST`, `DUMP`, `STATS`), not only the registered ones.
   * @default {false}
   */
  readonly allowScripts?: boolean;
  /** Sources of Lua scripts callers may run besides Larder's own, each exactly as sent. */
  readonly scripts?: readonly string[];
}

/** Why a command is refused, and how the refusal is reported. */
export interface Refusal {
  /** `FORBIDDEN` when a flag would allow it, `INPUT_INVALID` when nothing does. */
  readonly code: LarderErrorCode;
  /** The command's name, upper case. */
  readonly name: string;
  /** Lower case, no trailing period: `it is an admin command: …`. */
  readonly reason: string;
}

/**
 * What {@linkcode CommandPolicy.check} says of a command: refused (and why), or allowed (and
 * whether it may run a Lua script or function, for the busy-script watch).
 */
export type Verdict =
  | { readonly allowed: false; readonly refusal: Refusal }
  | { readonly allowed: true; readonly runsScript: boolean };

const ALLOWED: Verdict = Object.freeze({ allowed: true, runsScript: false });
const ALLOWED_SCRIPT: Verdict = Object.freeze({ allowed: true, runsScript: true });

/** Largest `COUNT` of `SCAN`, `HSCAN`, `SSCAN` and `ZSCAN` without `allowAdmin`. */
export const MAX_SCAN_COUNT = 10_000;

/**
 * Commands a token holder may run on any key by default: reads and writes of strings,
 * bitmaps, hashes, lists, sets, sorted sets, HyperLogLogs, geo indexes and streams, expiry,
 * key management within the database, `SCAN` (with a bounded `COUNT`), `PUBLISH`, and `PING`,
 * `ECHO`, `TIME`, `DBSIZE`. Blocking forms are refused below; `KEYS` is admin.
 */
const DATA_COMMANDS: ReadonlySet<string> = new Set([
  // strings
  "APPEND",
  "DECR",
  "DECRBY",
  "GET",
  "GETDEL",
  "GETEX",
  "GETRANGE",
  "GETSET",
  "INCR",
  "INCRBY",
  "INCRBYFLOAT",
  "LCS",
  "MGET",
  "MSET",
  "MSETNX",
  "PSETEX",
  "SET",
  "SETEX",
  "SETNX",
  "SETRANGE",
  "STRLEN",
  "SUBSTR",
  // bitmaps
  "BITCOUNT",
  "BITFIELD",
  "BITFIELD_RO",
  "BITOP",
  "BITPOS",
  "GETBIT",
  "SETBIT",
  // keys
  "COPY",
  "DEL",
  "DUMP",
  "EXISTS",
  "EXPIRE",
  "EXPIREAT",
  "EXPIRETIME",
  "OBJECT",
  "PERSIST",
  "PEXPIRE",
  "PEXPIREAT",
  "PEXPIRETIME",
  "PTTL",
  "RANDOMKEY",
  "RENAME",
  "RENAMENX",
  "SCAN",
  "SORT",
  "SORT_RO",
  "TOUCH",
  "TTL",
  "TYPE",
  "UNLINK",
  // hashes (with the field expiry of Redis 7.4 and 8)
  "HDEL",
  "HEXISTS",
  "HEXPIRE",
  "HEXPIREAT",
  "HEXPIRETIME",
  "HGET",
  "HGETALL",
  "HGETDEL",
  "HGETEX",
  "HINCRBY",
  "HINCRBYFLOAT",
  "HKEYS",
  "HLEN",
  "HMGET",
  "HMSET",
  "HPERSIST",
  "HPEXPIRE",
  "HPEXPIREAT",
  "HPEXPIRETIME",
  "HPTTL",
  "HRANDFIELD",
  "HSCAN",
  "HSET",
  "HSETEX",
  "HSETNX",
  "HSTRLEN",
  "HTTL",
  "HVALS",
  // lists
  "LINDEX",
  "LINSERT",
  "LLEN",
  "LMOVE",
  "LMPOP",
  "LPOP",
  "LPOS",
  "LPUSH",
  "LPUSHX",
  "LRANGE",
  "LREM",
  "LSET",
  "LTRIM",
  "RPOP",
  "RPOPLPUSH",
  "RPUSH",
  "RPUSHX",
  // sets
  "SADD",
  "SCARD",
  "SDIFF",
  "SDIFFSTORE",
  "SINTER",
  "SINTERCARD",
  "SINTERSTORE",
  "SISMEMBER",
  "SMEMBERS",
  "SMISMEMBER",
  "SMOVE",
  "SPOP",
  "SRANDMEMBER",
  "SREM",
  "SSCAN",
  "SUNION",
  "SUNIONSTORE",
  // sorted sets
  "ZADD",
  "ZCARD",
  "ZCOUNT",
  "ZDIFF",
  "ZDIFFSTORE",
  "ZINCRBY",
  "ZINTER",
  "ZINTERCARD",
  "ZINTERSTORE",
  "ZLEXCOUNT",
  "ZMPOP",
  "ZMSCORE",
  "ZPOPMAX",
  "ZPOPMIN",
  "ZRANDMEMBER",
  "ZRANGE",
  "ZRANGEBYLEX",
  "ZRANGEBYSCORE",
  "ZRANGESTORE",
  "ZRANK",
  "ZREM",
  "ZREMRANGEBYLEX",
  "ZREMRANGEBYRANK",
  "ZREMRANGEBYSCORE",
  "ZREVRANGE",
  "ZREVRANGEBYLEX",
  "ZREVRANGEBYSCORE",
  "ZREVRANK",
  "ZSCAN",
  "ZSCORE",
  "ZUNION",
  "ZUNIONSTORE",
  // HyperLogLog
  "PFADD",
  "PFCOUNT",
  "PFMERGE",
  // geo
  "GEOADD",
  "GEODIST",
  "GEOHASH",
  "GEOPOS",
  "GEORADIUS",
  "GEORADIUS_RO",
  "GEORADIUSBYMEMBER",
  "GEORADIUSBYMEMBER_RO",
  "GEOSEARCH",
  "GEOSEARCHSTORE",
  // streams (XREAD and XREADGROUP without BLOCK)
  "XACK",
  "XADD",
  "XAUTOCLAIM",
  "XCLAIM",
  "XDEL",
  "XGROUP",
  "XINFO",
  "XLEN",
  "XPENDING",
  "XRANGE",
  "XREAD",
  "XREADGROUP",
  "XREVRANGE",
  "XSETID",
  "XTRIM",
  // messages, and harmless server replies
  "PUBLISH",
  "SPUBLISH",
  "PING",
  "ECHO",
  "TIME",
  "DBSIZE",
]);

/** Commands that run Lua: registered scripts only, unless `allowScripts`. */
const EVAL_COMMANDS: ReadonlySet<string> = new Set(["EVAL", "EVAL_RO"]);
const EVALSHA_COMMANDS: ReadonlySet<string> = new Set(["EVALSHA", "EVALSHA_RO"]);
/** Functions (Redis 7): there is no registry of them, so only with `allowScripts`. */
const FCALL_COMMANDS: ReadonlySet<string> = new Set(["FCALL", "FCALL_RO"]);
/**
 * `FUNCTION` subcommands that load or read functions: with `allowScripts`. The others (`FLUSH`,
 * `DELETE`, `RESTORE`, `KILL` …) remove functions or stop one, like `SCRIPT FLUSH` and
 * `SCRIPT KILL`: admin commands.
 */
const FUNCTION_SCRIPT_SUBCOMMANDS: ReadonlySet<string> = new Set(["LOAD", "LIST", "DUMP", "STATS"]);

/** Commands that would block the shared connection or change its state: never. */
const CONNECTION_COMMANDS: ReadonlySet<string> = new Set([
  "AUTH",
  "BLMOVE",
  "BLMPOP",
  "BLPOP",
  "BRPOP",
  "BRPOPLPUSH",
  "BZMPOP",
  "BZPOPMAX",
  "BZPOPMIN",
  "DISCARD",
  "EXEC",
  "HELLO",
  "MONITOR",
  "MULTI",
  "PSUBSCRIBE",
  "PSYNC",
  "PUNSUBSCRIBE",
  "QUIT",
  "READONLY",
  "READWRITE",
  "RESET",
  "SELECT",
  "SSUBSCRIBE",
  "SUBSCRIBE",
  "SUNSUBSCRIBE",
  "SYNC",
  "UNSUBSCRIBE",
  "UNWATCH",
  "WAIT",
  "WAITAOF",
  "WATCH",
]);

/** `CLIENT` subcommands that change the connection they run on. */
const CLIENT_STATE_SUBCOMMANDS: ReadonlySet<string> = new Set([
  "CACHING",
  "NO-EVICT",
  "NO-TOUCH",
  "REPLY",
  "SETINFO",
  "SETNAME",
  "TRACKING",
]);

const SCAN_COMMANDS: ReadonlySet<string> = new Set(["SCAN", "HSCAN", "SSCAN", "ZSCAN"]);

/**
 * Decides which commands a bridge token may run. Larder's own Lua scripts are always
 * registered; `options.scripts` adds more.
 */
export class CommandPolicy {
  readonly allowAdmin: boolean;
  readonly allowScripts: boolean;
  /** SHA-1 → source of every registered script. */
  readonly scripts: ReadonlyMap<string, string>;
  readonly #sources: ReadonlySet<string>;

  constructor(options: CommandPolicyOptions = {}) {
    this.allowAdmin = options.allowAdmin ?? false;
    this.allowScripts = options.allowScripts ?? false;
    const sources = [...LARDER_REDIS_SCRIPTS, ...(options.scripts ?? [])];
    this.scripts = new Map(sources.map((source) => [scriptSha1(source), source]));
    this.#sources = new Set(sources);
  }

  /** Why `command` is refused, or `undefined` when it may run. */
  refusal(command: readonly string[]): Refusal | undefined {
    const verdict = this.check(command);
    return verdict.allowed ? undefined : verdict.refusal;
  }

  /** Whether `command` may run and, if so, whether it runs a script (allocates nothing then). */
  check(command: readonly string[]): Verdict {
    const name = (command[0] ?? "").toUpperCase();
    if (DATA_COMMANDS.has(name)) return verdict(this.#dataRefusal(name, command));
    if (EVALSHA_COMMANDS.has(name)) {
      if (this.allowScripts || this.scripts.has((command[1] ?? "").toLowerCase())) {
        return ALLOWED_SCRIPT;
      }
      return refused(this.#unregistered(name, command[1] ?? ""));
    }
    if (EVAL_COMMANDS.has(name)) {
      if (this.allowScripts || this.#sources.has(command[1] ?? "")) return ALLOWED_SCRIPT;
      return refused(this.#unregistered(name, scriptSha1(command[1] ?? "")));
    }
    if (FCALL_COMMANDS.has(name)) {
      return this.allowScripts ? ALLOWED_SCRIPT : refused(forbidden(name, FUNCTIONS_REASON));
    }
    if (name === "FUNCTION") return verdict(this.#functionRefusal(command));
    if (name === "SCRIPT") return verdict(this.#scriptRefusal(command));
    if (CONNECTION_COMMANDS.has(name)) return refused(unsupported(name));
    if (name === "CLIENT" && CLIENT_STATE_SUBCOMMANDS.has((command[1] ?? "").toUpperCase())) {
      return refused(unsupported(`CLIENT ${(command[1] ?? "").toUpperCase()}`));
    }
    if (this.allowAdmin) return ALLOWED;
    return refused(forbidden(
      name,
      "it is an admin or server command, or not one the bridge knows: the bridge allows it only with --allow-admin",
    ));
  }

  #dataRefusal(name: string, command: readonly string[]): Refusal | undefined {
    if (name === "XREAD" || name === "XREADGROUP") {
      if (command.some((arg) => arg.toUpperCase() === "BLOCK")) return unsupported(`${name} BLOCK`);
      return;
    }
    if (this.allowAdmin) return;
    if (SCAN_COMMANDS.has(name)) {
      // Redis uses the last COUNT given: every one must be within the limit.
      const count = scanCounts(name, command).find((count) => !(Number(count) <= MAX_SCAN_COUNT));
      if (count !== undefined) {
        return forbidden(
          name,
          `COUNT ${
            JSON.stringify(count)
          } is over ${MAX_SCAN_COUNT} (a scan step that large blocks Redis like KEYS): the bridge allows it only with --allow-admin`,
        );
      }
    }
    if (name === "COPY" && command.slice(3).some((arg) => arg.toUpperCase() === "DB")) {
      return forbidden(
        "COPY",
        "DB reaches another database: the bridge allows it only with --allow-admin",
      );
    }
    return;
  }

  #functionRefusal(command: readonly string[]): Refusal | undefined {
    const sub = (command[1] ?? "").toUpperCase();
    if (FUNCTION_SCRIPT_SUBCOMMANDS.has(sub)) {
      return this.allowScripts ? undefined : forbidden(`FUNCTION ${sub}`, FUNCTIONS_REASON);
    }
    if (this.allowAdmin) return;
    return forbidden(
      `FUNCTION ${sub}`,
      "it is an admin command: the bridge allows it only with --allow-admin",
    );
  }

  #scriptRefusal(command: readonly string[]): Refusal | undefined {
    const sub = (command[1] ?? "").toUpperCase();
    const name = `SCRIPT ${sub}`;
    if (sub === "EXISTS") return;
    if (sub === "LOAD") {
      if (this.allowScripts || this.#sources.has(command[2] ?? "")) return;
      return this.#unregistered(name, scriptSha1(command[2] ?? ""));
    }
    if (sub === "DEBUG") return unsupported(name);
    if (this.allowAdmin) return;
    return forbidden(name, "it is an admin command: the bridge allows it only with --allow-admin");
  }

  #unregistered(name: string, sha: string): Refusal {
    return forbidden(
      name,
      `the script with SHA-1 ${
        JSON.stringify(sha)
      } is not registered with the bridge: register its source with --script FILE, or allow every script with --allow-scripts`,
    );
  }
}

const FUNCTIONS_REASON =
  "it runs Redis functions: the bridge allows them only with --allow-scripts";

function refused(refusal: Refusal): Verdict {
  return { allowed: false, refusal };
}

/** The refusal's verdict, or allowed (running no script) when there is none. */
function verdict(refusal: Refusal | undefined): Verdict {
  return refusal === undefined ? ALLOWED : refused(refusal);
}

function forbidden(name: string, reason: string): Refusal {
  return { code: "FORBIDDEN", name, reason };
}

function unsupported(name: string): Refusal {
  return {
    code: "INPUT_INVALID",
    name,
    reason:
      "the bridge never runs it: it would block or change the connection the bridge shares between callers (use /multi-exec for a transaction)",
  };
}

/**
 * Every `COUNT` argument of a scan command, read as Redis reads the options after the cursor:
 * `COUNT`, `MATCH` and `TYPE` take a value, anything else one word (Redis refuses it).
 */
function scanCounts(name: string, command: readonly string[]): string[] {
  const counts: string[] = [];
  for (let i = name === "SCAN" ? 2 : 3; i < command.length; i++) {
    const option = command[i]!.toUpperCase();
    if (option === "COUNT") counts.push(command[++i] ?? "");
    else if (option === "MATCH" || option === "TYPE") i++;
  }
  return counts;
}
