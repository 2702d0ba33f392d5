/**
 * CLI entry of the Redis HTTP bridge:
 * `deno task redis-http --port 8079 --redis-url redis://127.0.0.1:6379 --token TOKEN`.
 * Each flag may also come from the environment (`LARDER_BRIDGE_PORT`, `LARDER_BRIDGE_TOKEN`,
 * `LARDER_BRIDGE_ALLOW_ADMIN` …, see `--help`); flags win.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { isLarderError, LarderError } from "../../engine/mod.ts";
import { BRIDGE_CONNECTION_LIMITS, BRIDGE_DEFAULTS, startBridge } from "./bridge.ts";

const HELP = `Usage: deno task redis-http [options]

Serves the Upstash REST protocol (the one @upstash/redis speaks) in front of a redis-server.
A token holder may run data commands on every key; see docs/redis-http-bridge.md.

Options:
  --port <n>          Port to listen on, 0 for a free one  [env LARDER_BRIDGE_PORT, default 8079]
  --hostname <host>   Interface to listen on  [env LARDER_BRIDGE_HOSTNAME, default 127.0.0.1]
  --redis-url <url>   redis:// or rediss:// URL of the server
                      [env LARDER_BRIDGE_REDIS_URL, default redis://127.0.0.1:6379]
  --redis-cluster <host:port,...>
                      A Redis Cluster instead: some of its nodes, as host:port or
                      redis(s):// URLs  [env LARDER_BRIDGE_REDIS_CLUSTER]
  --token <token>     Bearer token clients must send  [env LARDER_BRIDGE_TOKEN, required]

What a token may run:
  --allow-admin       Also admin and server commands (FLUSHALL, CONFIG, KEYS, CLIENT, DEBUG,
                      SHUTDOWN, INFO …)  [env LARDER_BRIDGE_ALLOW_ADMIN=true]
  --allow-scripts     Any Lua script or function, not only registered ones
                      [env LARDER_BRIDGE_ALLOW_SCRIPTS=true]
  --script <file>     Register a Lua script (its exact contents); repeatable. Larder's own
                      scripts are always registered  [env LARDER_BRIDGE_SCRIPTS, ":"-separated]

Limits:
  --max-commands <n>  Commands in one request
                      [env LARDER_BRIDGE_MAX_COMMANDS, default ${BRIDGE_DEFAULTS.maxCommands}]
  --max-body-bytes <n>
                      Bytes of a request body
                      [env LARDER_BRIDGE_MAX_BODY_BYTES, default ${BRIDGE_DEFAULTS.maxBodyBytes}]
  --max-reply-bytes <n>
                      Bytes of the replies to one request
                      [env LARDER_BRIDGE_MAX_REPLY_BYTES, default ${BRIDGE_DEFAULTS.maxReplyBytes}]
  --connections <n>   Connections to Redis  [env LARDER_BRIDGE_CONNECTIONS, default 4]
  --command-timeout-ms <n>
                      503 once a request's connection gets no reply for this long
                      [env LARDER_BRIDGE_COMMAND_TIMEOUT_MS, default 2000]
  --script-timeout-ms <n>
                      SCRIPT KILL a script that has run this long
                      [env LARDER_BRIDGE_SCRIPT_TIMEOUT_MS, default 5000]
  --max-connections <n>
                      HTTP connections open at once; one more is answered 503 and closed
                      [env LARDER_BRIDGE_MAX_CONNECTIONS, default ${BRIDGE_CONNECTION_LIMITS.maxConnections}]
  --header-timeout-ms <n>
                      Close a connection that has not sent a request's headers this long
                      [env LARDER_BRIDGE_HEADER_TIMEOUT_MS, default ${BRIDGE_CONNECTION_LIMITS.headerTimeoutMs}]
  --idle-timeout-ms <n>
                      Close a connection idle this long after a response
                      [env LARDER_BRIDGE_IDLE_TIMEOUT_MS, default ${BRIDGE_CONNECTION_LIMITS.idleTimeoutMs}]
  -h, --help          Show this help`;

const positive = z.string().regex(/^\d{1,15}$/).transform(Number).pipe(z.number().min(1));
const flag = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");

const configSchema = z.object({
  port: z.string().regex(/^\d{1,5}$/).transform(Number).pipe(z.number().max(65535)),
  hostname: z.string().min(1),
  redisUrl: z.url({ protocol: /^rediss?$/ }),
  redisCluster: z.string().transform((list) =>
    list.split(",").map((node) => node.trim()).filter((node) => node !== "").map((node) =>
      /^(\[[^\]]+\]|[^/:]+):\d+$/.test(node) ? `redis://${node}` : node
    )
  ).pipe(z.array(z.url({ protocol: /^rediss?$/ }))),
  token: z.string().min(1),
  allowAdmin: flag,
  allowScripts: flag,
  scripts: z.array(z.string().min(1)),
  maxCommands: positive,
  maxBodyBytes: positive,
  maxReplyBytes: positive,
  connections: positive.pipe(z.number().max(64)),
  commandTimeoutMs: positive,
  scriptTimeoutMs: positive,
  maxConnections: positive,
  headerTimeoutMs: positive,
  idleTimeoutMs: positive,
});

/** Validated bridge settings (`scripts`: paths of the files to register). */
export type BridgeConfig = z.output<typeof configSchema>;

interface Field {
  readonly flag: string;
  readonly env: string;
  readonly expected: string;
  readonly fallback?: string;
}

const FIELDS: Record<keyof BridgeConfig, Field> = {
  port: {
    flag: "--port",
    env: "LARDER_BRIDGE_PORT",
    expected: "an integer from 0 to 65535",
    fallback: "8079",
  },
  hostname: {
    flag: "--hostname",
    env: "LARDER_BRIDGE_HOSTNAME",
    expected: "a host name",
    fallback: "127.0.0.1",
  },
  redisUrl: {
    flag: "--redis-url",
    env: "LARDER_BRIDGE_REDIS_URL",
    expected: "a redis:// or rediss:// URL",
    fallback: "redis://127.0.0.1:6379",
  },
  redisCluster: {
    flag: "--redis-cluster",
    env: "LARDER_BRIDGE_REDIS_CLUSTER",
    expected: "host:port,host:port,… or redis:// URLs, comma-separated",
    fallback: "",
  },
  token: { flag: "--token", env: "LARDER_BRIDGE_TOKEN", expected: "a non-empty token" },
  allowAdmin: {
    flag: "--allow-admin",
    env: "LARDER_BRIDGE_ALLOW_ADMIN",
    expected: '"true" or "false"',
    fallback: "false",
  },
  allowScripts: {
    flag: "--allow-scripts",
    env: "LARDER_BRIDGE_ALLOW_SCRIPTS",
    expected: '"true" or "false"',
    fallback: "false",
  },
  scripts: { flag: "--script", env: "LARDER_BRIDGE_SCRIPTS", expected: "a file path" },
  maxCommands: {
    flag: "--max-commands",
    env: "LARDER_BRIDGE_MAX_COMMANDS",
    expected: "a positive integer",
    fallback: String(BRIDGE_DEFAULTS.maxCommands),
  },
  maxBodyBytes: {
    flag: "--max-body-bytes",
    env: "LARDER_BRIDGE_MAX_BODY_BYTES",
    expected: "a positive integer",
    fallback: String(BRIDGE_DEFAULTS.maxBodyBytes),
  },
  maxReplyBytes: {
    flag: "--max-reply-bytes",
    env: "LARDER_BRIDGE_MAX_REPLY_BYTES",
    expected: "a positive integer",
    fallback: String(BRIDGE_DEFAULTS.maxReplyBytes),
  },
  connections: {
    flag: "--connections",
    env: "LARDER_BRIDGE_CONNECTIONS",
    expected: "an integer from 1 to 64",
    fallback: "4",
  },
  commandTimeoutMs: {
    flag: "--command-timeout-ms",
    env: "LARDER_BRIDGE_COMMAND_TIMEOUT_MS",
    expected: "a positive integer",
    fallback: "2000",
  },
  scriptTimeoutMs: {
    flag: "--script-timeout-ms",
    env: "LARDER_BRIDGE_SCRIPT_TIMEOUT_MS",
    expected: "a positive integer",
    fallback: "5000",
  },
  maxConnections: {
    flag: "--max-connections",
    env: "LARDER_BRIDGE_MAX_CONNECTIONS",
    expected: "a positive integer",
    fallback: String(BRIDGE_CONNECTION_LIMITS.maxConnections),
  },
  headerTimeoutMs: {
    flag: "--header-timeout-ms",
    env: "LARDER_BRIDGE_HEADER_TIMEOUT_MS",
    expected: "a positive integer",
    fallback: String(BRIDGE_CONNECTION_LIMITS.headerTimeoutMs),
  },
  idleTimeoutMs: {
    flag: "--idle-timeout-ms",
    env: "LARDER_BRIDGE_IDLE_TIMEOUT_MS",
    expected: "a positive integer",
    fallback: String(BRIDGE_CONNECTION_LIMITS.idleTimeoutMs),
  },
};

const envSchema = z.record(z.string(), z.string());

/**
 * Reads the bridge settings from `args` and `env` (flags win); `undefined` when `--help` was
 * asked. Throws a {@linkcode LarderError} `INPUT_INVALID` with a one-line message otherwise.
 */
export function parseBridgeConfig(
  args: readonly string[],
  env: Record<string, string>,
): BridgeConfig | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        port: { type: "string" },
        hostname: { type: "string" },
        "redis-url": { type: "string" },
        "redis-cluster": { type: "string" },
        token: { type: "string" },
        "allow-admin": { type: "boolean" },
        "allow-scripts": { type: "boolean" },
        script: { type: "string", multiple: true },
        "max-commands": { type: "string" },
        "max-body-bytes": { type: "string" },
        "max-reply-bytes": { type: "string" },
        connections: { type: "string" },
        "command-timeout-ms": { type: "string" },
        "script-timeout-ms": { type: "string" },
        "max-connections": { type: "string" },
        "header-timeout-ms": { type: "string" },
        "idle-timeout-ms": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new LarderError("INPUT_INVALID", `Invalid arguments: ${(err as Error).message}`);
  }
  if (values.help) return undefined;
  const fromEnv = envSchema.parse(env);
  const bool = (value: boolean | undefined) => value === undefined ? undefined : String(value);
  const given: Record<keyof BridgeConfig, string | undefined> = {
    port: values.port,
    hostname: values.hostname,
    redisUrl: values["redis-url"],
    redisCluster: values["redis-cluster"],
    token: values.token,
    allowAdmin: bool(values["allow-admin"]),
    allowScripts: bool(values["allow-scripts"]),
    scripts: undefined,
    maxCommands: values["max-commands"],
    maxBodyBytes: values["max-body-bytes"],
    maxReplyBytes: values["max-reply-bytes"],
    connections: values.connections,
    commandTimeoutMs: values["command-timeout-ms"],
    scriptTimeoutMs: values["script-timeout-ms"],
    maxConnections: values["max-connections"],
    headerTimeoutMs: values["header-timeout-ms"],
    idleTimeoutMs: values["idle-timeout-ms"],
  };
  const input: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(FIELDS) as [keyof BridgeConfig, Field][]) {
    input[key] = given[key] ?? fromEnv[field.env] ?? field.fallback;
  }
  input.scripts = values.script ??
    (fromEnv.LARDER_BRIDGE_SCRIPTS ?? "").split(":").filter((path) => path !== "");
  const parsed = configSchema.safeParse(input);
  if (parsed.success) {
    const urlGiven = (given.redisUrl ?? fromEnv.LARDER_BRIDGE_REDIS_URL) !== undefined;
    if (parsed.data.redisCluster.length > 0 && urlGiven) {
      throw new LarderError(
        "INPUT_INVALID",
        "Invalid --redis-cluster with --redis-url: give one Redis or the nodes of a cluster, not both",
      );
    }
    return parsed.data;
  }
  const key = parsed.error.issues[0]?.path[0] as keyof BridgeConfig;
  const field = FIELDS[key];
  const value = input[key];
  throw new LarderError(
    "INPUT_INVALID",
    value === undefined
      ? `Missing ${field.flag}: pass it or set ${field.env}`
      : `Invalid ${field.flag} ${JSON.stringify(value)}: expected ${field.expected}`,
  );
}

/** The contents of each script file, exactly; throws `INPUT_INVALID` naming a file it cannot read. */
async function readScripts(paths: readonly string[]): Promise<string[]> {
  return await Promise.all(paths.map(async (path) => {
    try {
      return await Deno.readTextFile(path);
    } catch (err) {
      throw new LarderError(
        "INPUT_INVALID",
        `Cannot read --script "${path}": ${(err as Error).message}`,
      );
    }
  }));
}

/** Runs the bridge until SIGINT or SIGTERM; returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  let config: BridgeConfig | undefined;
  try {
    config = parseBridgeConfig(args, Deno.env.toObject());
  } catch (err) {
    console.error(`redis-http: ${isLarderError(err) ? err.message : String(err)}`);
    return 1;
  }
  if (config === undefined) {
    console.log(HELP);
    return 0;
  }
  let bridge;
  try {
    const {
      scripts: paths,
      maxConnections,
      headerTimeoutMs,
      idleTimeoutMs,
      redisUrl,
      redisCluster,
      ...settings
    } = config;
    const scripts = await readScripts(paths);
    bridge = await startBridge({
      ...settings,
      ...(redisCluster.length > 0 ? { redisCluster } : { redisUrl }),
      scripts,
      limits: { maxConnections, headerTimeoutMs, idleTimeoutMs },
    });
  } catch (err) {
    const message = isLarderError(err) ? err.message : `Cannot start: ${(err as Error).message}`;
    console.error(`redis-http: ${message}`);
    return 1;
  }
  console.log(`Redis HTTP bridge listening on ${bridge.url} (Redis at ${bridge.redisUrl})`);
  const registered = bridge.scriptSha1s.join(", ");
  console.log(
    `Admin commands: ${config.allowAdmin ? "allowed" : "refused (--allow-admin allows them)"}; ` +
      `scripts: ${
        config.allowScripts ? "any" : `the registered ones only (--allow-scripts allows any)`
      }, registered SHA-1s: ${registered}`,
  );
  const stopped = Promise.withResolvers<void>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const onSignal = (): void => stopped.resolve();
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  await stopped.promise;
  for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
  await bridge.close();
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
