/** Benchmark helpers: a throwaway `redis-server` plus the Redis HTTP bridge, in process or not. */
import { startBridge } from "../server/redis_http/bridge.ts";
import { freePort, type RedisServer, startRedisServer } from "../tests/support/redis_server.ts";

/** A running redis-server with a bridge in front of it. */
export interface RedisStack {
  readonly server: RedisServer;
  /** The bridge's base URL. */
  readonly url: string;
  readonly token: string;
  stop(): Promise<void>;
}

/**
 * Starts redis-server and the bridge: `"process"` runs the bridge's CLI entry as a child
 * process (as deployed), `"inprocess"` calls `startBridge` in this isolate.
 */
export async function startRedisStack(bridge: "process" | "inprocess"): Promise<RedisStack> {
  const server = await startRedisServer();
  const token = "bench-token";
  if (bridge === "inprocess") {
    const running = await startBridge({ port: 0, redisUrl: server.url, token });
    return {
      server,
      url: running.url,
      token,
      stop: async () => {
        await running.close();
        await server.stop();
      },
    };
  }
  const port = freePort();
  const main = new URL("../server/redis_http/main.ts", import.meta.url).pathname;
  const config = new URL("../deno.json", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      config,
      main,
      "--port",
      String(port),
      "--redis-url",
      server.url,
    ],
    env: { LARDER_BRIDGE_TOKEN: token },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0;; i++) {
    try {
      await (await fetch(url)).body?.cancel();
      break;
    } catch (err) {
      if (i > 200) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    server,
    url,
    token,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
      await server.stop();
    },
  };
}
