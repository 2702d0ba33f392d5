/**
 * CLI entry of the Redis HTTP bridge:
 * `deno task redis-http --port 8079 --redis-url redis://127.0.0.1:6379 --token TOKEN`.
 * Each flag may also come from the environment (`LARDER_BRIDGE_PORT`,
 * `LARDER_BRIDGE_HOSTNAME`, `LARDER_BRIDGE_REDIS_URL`, `LARDER_BRIDGE_TOKEN`); flags win.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { isLarderError, LarderError } from "../../engine/mod.ts";
import { startBridge } from "./bridge.ts";

const HELP = `Usage: deno task redis-http [options]

Serves the Upstash REST protocol (the one @upstash/redis speaks) in front of a redis-server.

Options:
  --port <n>          Port to listen on, 0 for a free one  [env LARDER_BRIDGE_PORT, default 8079]
  --hostname <host>   Interface to listen on  [env LARDER_BRIDGE_HOSTNAME, default 127.0.0.1]
  --redis-url <url>   redis:// or rediss:// URL of the server
                      [env LARDER_BRIDGE_REDIS_URL, default redis://127.0.0.1:6379]
  --token <token>     Bearer token clients must send  [env LARDER_BRIDGE_TOKEN, required]
  -h, --help          Show this help`;

const envSchema = z.object({
  LARDER_BRIDGE_PORT: z.string().optional(),
  LARDER_BRIDGE_HOSTNAME: z.string().optional(),
  LARDER_BRIDGE_REDIS_URL: z.string().optional(),
  LARDER_BRIDGE_TOKEN: z.string().optional(),
});

const configSchema = z.object({
  port: z.string().regex(/^\d{1,5}$/).transform(Number).pipe(z.number().max(65535)),
  hostname: z.string().min(1),
  redisUrl: z.url({ protocol: /^rediss?$/ }),
  token: z.string().min(1),
});

/** Validated bridge settings. */
export type BridgeConfig = z.output<typeof configSchema>;

const FIELDS: Record<keyof BridgeConfig, { flag: string; env: string; expected: string }> = {
  port: { flag: "--port", env: "LARDER_BRIDGE_PORT", expected: "an integer from 0 to 65535" },
  hostname: { flag: "--hostname", env: "LARDER_BRIDGE_HOSTNAME", expected: "a host name" },
  redisUrl: {
    flag: "--redis-url",
    env: "LARDER_BRIDGE_REDIS_URL",
    expected: "a redis:// or rediss:// URL",
  },
  token: { flag: "--token", env: "LARDER_BRIDGE_TOKEN", expected: "a non-empty token" },
};

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
        token: { type: "string" },
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
  const input: Record<keyof BridgeConfig, string | undefined> = {
    port: values.port ?? fromEnv.LARDER_BRIDGE_PORT ?? "8079",
    hostname: values.hostname ?? fromEnv.LARDER_BRIDGE_HOSTNAME ?? "127.0.0.1",
    redisUrl: values["redis-url"] ?? fromEnv.LARDER_BRIDGE_REDIS_URL ?? "redis://127.0.0.1:6379",
    token: values.token ?? fromEnv.LARDER_BRIDGE_TOKEN,
  };
  const parsed = configSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const key = parsed.error.issues[0]?.path[0] as keyof BridgeConfig;
  const field = FIELDS[key];
  const given = input[key];
  throw new LarderError(
    "INPUT_INVALID",
    given === undefined
      ? `Missing ${field.flag}: pass it or set ${field.env}`
      : `Invalid ${field.flag} ${JSON.stringify(given)}: expected ${field.expected}`,
  );
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
    bridge = await startBridge({
      port: config.port,
      hostname: config.hostname,
      redisUrl: config.redisUrl,
      token: config.token,
    });
  } catch (err) {
    const message = isLarderError(err) ? err.message : `Cannot start: ${(err as Error).message}`;
    console.error(`redis-http: ${message}`);
    return 1;
  }
  const shownUrl = new URL(config.redisUrl);
  if (shownUrl.password !== "") shownUrl.password = "***";
  console.log(`Redis HTTP bridge listening on ${bridge.url} (Redis at ${shownUrl.href})`);
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
