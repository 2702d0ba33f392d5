/**
 * Starts a real Redis Cluster for tests: `redis-server --cluster-enabled yes` processes on free
 * loopback ports (each one's bus port, port + 10000, free too), joined by
 * `redis-cli --cluster create`, ready once every node reports `cluster_state:ok`. The servers
 * run daemonized and are stopped by their PIDs (also when the test process exits early), so a
 * cluster can be shared by every test of a file.
 *
 * @example
 * ```ts ignore
 * import { startRedisCluster } from "./redis_cluster.ts";
 * const cluster = await startRedisCluster({ masters: 3 });
 * try {
 *   // use cluster.seeds
 * } finally {
 *   await cluster.stop();
 * }
 * ```
 *
 * @module
 */
import { redisAvailable } from "./redis_server.ts";

/** One `redis-server` of a {@linkcode RedisCluster}. */
export interface ClusterNode {
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly pid: number;
}

/** A cluster started by {@linkcode startRedisCluster}. */
export interface RedisCluster {
  /** Every node, masters first as created (replicas follow, when asked for). */
  readonly nodes: readonly ClusterNode[];
  /** The URLs of the nodes created as masters: the seeds a client is given. */
  readonly seeds: readonly string[];
  /** `FLUSHALL` on every node that is a master now. */
  flush(): Promise<void>;
  /** Kills the node on `port` as a crash would (SIGKILL). */
  kill(port: number): void;
  /**
   * Starts a killed node again with its cluster state file: it rejoins the cluster (a master
   * whose replica took over comes back as that replica's replica).
   */
  restart(port: number): Promise<void>;
  /** The ports of the masters not marked failed right now. */
  masterPorts(): Promise<number[]>;
  /** The port of the master serving `key`'s slot right now. */
  masterOf(key: string): Promise<number>;
  /**
   * Waits until every node still running says `cluster_state:ok`, `masters` masters serve the
   * slots, none of them killed, and every other running node is a replica that has applied its
   * master's whole replication stream (so a master killed next fails over with nothing lost).
   */
  waitUntilOk(options?: { readonly timeoutMs?: number }): Promise<void>;
  /** Stops every node (SIGKILL: nothing is persisted) and removes the working directory; idempotent. */
  stop(): Promise<void>;
}

/** Options for {@linkcode startRedisCluster}. */
export interface StartRedisClusterOptions {
  /** @default {3} */
  readonly masters?: number;
  /** @default {0} */
  readonly replicasPerMaster?: number;
  /**
   * `cluster-node-timeout` in ms: how long a master may be silent before its replica takes over.
   * @default {1000}
   */
  readonly nodeTimeoutMs?: number;
  /** @default {20000} */
  readonly readyTimeoutMs?: number;
}

/** Redis's `redis-cli` runs one command against one node and returns its output. */
async function cli(port: number, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("redis-cli", {
    args: ["-h", "127.0.0.1", "-p", String(port), ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`redis-cli -p ${port} ${args.join(" ")}: ${text.trim()}`);
  return text;
}

function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

/**
 * A port in 10000–21999 that is free, with its bus port (+10000) free too: both below the
 * kernel's ephemeral range (32768 and up), where ports handed out to other tests' servers and to
 * outgoing connections come from.
 */
function freeClusterPort(taken: Set<number>): number {
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * 12_000);
    if (taken.has(port) || taken.has(port + 10_000)) continue;
    if (portFree(port) && portFree(port + 10_000)) {
      taken.add(port);
      taken.add(port + 10_000);
      return port;
    }
  }
}

async function readPid(file: string, deadline: number): Promise<number> {
  for (;;) {
    try {
      const pid = Number((await Deno.readTextFile(file)).trim());
      if (pid > 0) return pid;
    } catch {
      // not written yet
    }
    if (Date.now() > deadline) throw new Error(`redis-server wrote no pid file ${file}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function killQuietly(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Starts one daemonized `redis-server`; returns its PID. */
async function spawn(args: string[], deadline: number): Promise<number> {
  const pidFile = args[args.indexOf("--pidfile") + 1]!;
  await Deno.remove(pidFile).catch(() => {});
  const started = await new Deno.Command("redis-server", {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!started.success) {
    throw new Error(
      `Cannot start redis-server on port ${args[1]}: ${new TextDecoder().decode(started.stderr)}`,
    );
  }
  return await readPid(pidFile, deadline);
}

/**
 * Starts a cluster of `masters` masters (and `replicasPerMaster` replicas each); tries again on
 * other ports (up to three times) if a port was taken between probing and binding.
 */
export async function startRedisCluster(
  options: StartRedisClusterOptions = {},
): Promise<RedisCluster> {
  for (let attempt = 1;; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if (attempt >= 3 || !redisAvailable()) throw err;
    }
  }
}

async function startOnce(options: StartRedisClusterOptions): Promise<RedisCluster> {
  if (!redisAvailable()) {
    throw new Error("Cannot start a Redis Cluster: redis-server is not installed");
  }
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 0;
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  const deadline = Date.now() + readyTimeoutMs;
  const dir = await Deno.makeTempDir({ prefix: "larder_redis_cluster_" });
  const taken = new Set<number>();
  const nodes: ClusterNode[] = [];
  const argsOf = new Map<number, string[]>();
  const killed = new Set<number>();
  let stopped = false;

  const killAll = () => {
    for (const node of nodes) killQuietly(node.pid, "SIGKILL");
  };
  // A test process that exits without stop() (a failure, a filter) leaves no server behind.
  globalThis.addEventListener("unload", killAll);

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    globalThis.removeEventListener("unload", killAll);
    // Nothing is persisted, so nothing is lost by not letting the nodes shut down cleanly
    // (a master would wait for its replicas first).
    // SIGKILL is certain; the dead daemons are reaped by init, whenever it does so.
    killAll();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };

  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const port = freeClusterPort(taken);
      const nodeDir = `${dir}/${port}`;
      await Deno.mkdir(nodeDir);
      const pidFile = `${nodeDir}/redis.pid`;
      const args = [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        `${nodeDir}/nodes.conf`,
        "--cluster-node-timeout",
        String(options.nodeTimeoutMs ?? 1000),
        "--save",
        "",
        "--appendonly",
        "no",
        // A replica's first sync starts at once (the default waits 5 s for more replicas).
        "--repl-diskless-sync-delay",
        "0",
        "--dir",
        nodeDir,
        "--daemonize",
        "yes",
        "--pidfile",
        pidFile,
        "--logfile",
        `${nodeDir}/redis.log`,
      ];
      argsOf.set(port, args);
      nodes.push({ port, url: `redis://127.0.0.1:${port}`, pid: await spawn(args, deadline) });
    }
    for (const node of nodes) {
      while ((await cli(node.port, "PING").catch(() => "")).trim() !== "PONG") {
        if (Date.now() > deadline) throw new Error(`redis-server on ${node.port} never answered`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    await cli(
      nodes[0]!.port,
      "--cluster",
      "create",
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      "--cluster-replicas",
      String(replicas),
      "--cluster-yes",
    );
  } catch (err) {
    await stop();
    throw err;
  }

  const running = () => nodes.filter((n) => !killed.has(n.port));

  /** The masters that are not marked failed, with their slot ranges, from `CLUSTER NODES`. */
  const liveMasters = async (): Promise<{ port: number; ranges: [number, number][] }[]> => {
    for (const node of running()) {
      let text: string;
      try {
        text = await cli(node.port, "CLUSTER", "NODES");
      } catch {
        continue;
      }
      return text.split("\n").flatMap((line) => {
        const fields = line.split(" ");
        const flags = (fields[2] ?? "").split(",");
        if (!flags.includes("master") || flags.some((f) => f.startsWith("fail"))) return [];
        const port = Number(fields[1]!.split("@")[0]!.split(":")[1]);
        const ranges = fields.slice(8).filter((r) => !r.startsWith("[")).map((r) => {
          const [from, to] = r.split("-").map(Number) as [number, number | undefined];
          return [from, to ?? from] as [number, number];
        });
        return ranges.length > 0 ? [{ port, ranges }] : [];
      });
    }
    throw new Error("No node of the cluster answers CLUSTER NODES");
  };

  const cluster: RedisCluster = {
    nodes,
    seeds: nodes.slice(0, masters).map((n) => n.url),
    async flush() {
      for (const { port } of await liveMasters()) await cli(port, "FLUSHALL");
    },
    kill(port) {
      const node = nodes.find((n) => n.port === port);
      if (node === undefined) throw new Error(`No node of the cluster listens on ${port}`);
      killed.add(port);
      killQuietly(node.pid, "SIGKILL");
    },
    async restart(port) {
      const index = nodes.findIndex((n) => n.port === port);
      if (index < 0 || !killed.has(port)) throw new Error(`Node ${port} was not killed`);
      const pid = await spawn(argsOf.get(port)!, Date.now() + readyTimeoutMs);
      nodes[index] = { ...nodes[index]!, pid };
      killed.delete(port);
    },
    async masterPorts() {
      return (await liveMasters()).map((m) => m.port);
    },
    async masterOf(key) {
      const slot = Number((await cli(running()[0]!.port, "CLUSTER", "KEYSLOT", key)).trim());
      const owner = (await liveMasters()).find((m) =>
        m.ranges.some(([from, to]) => slot >= from && slot <= to)
      );
      if (owner === undefined) throw new Error(`No live master serves slot ${slot}`);
      return owner.port;
    },
    async waitUntilOk(waitOptions = {}) {
      const until = Date.now() + (waitOptions.timeoutMs ?? readyTimeoutMs);
      for (;;) {
        let ok = true;
        for (const node of running()) {
          const info = await cli(node.port, "CLUSTER", "INFO").catch(() => "");
          if (!info.includes("cluster_state:ok")) ok = false;
        }
        const live = ok ? await liveMasters() : [];
        // A killed master counts until the others mark it failed and promote its replica.
        if (live.length === masters && live.every((m) => !killed.has(m.port))) {
          if (replicas === 0 || (await replicasInSync())) return;
        }
        if (Date.now() > until) throw new Error("The Redis Cluster did not reach cluster_state:ok");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    stop,
  };

  /**
   * Every running node that is not a master is a replica in sync: its link to its master up and
   * its master's whole replication stream applied. A restarted master first comes back claiming
   * its old role and turns replica only once the cluster tells it so, then loads a full copy;
   * a replica in that state would be promoted empty if its master died, so it must not count.
   */
  const replicasInSync = async (): Promise<boolean> => {
    const infos = await Promise.all(
      running().map(async (node) => await cli(node.port, "INFO", "replication").catch(() => "")),
    );
    const field = (info: string, name: string) =>
      info.match(new RegExp(`^${name}:(.*)$`, "m"))?.[1];
    let inSync = 0;
    for (const info of infos) {
      if (field(info, "role")?.trim() !== "master") continue;
      const offset = Number(field(info, "master_repl_offset"));
      for (
        const [, state, replicaOffset] of info.matchAll(/^slave\d+:.*state=(\w+),offset=(\d+)/gm)
      ) {
        if (state === "online" && Number(replicaOffset) === offset) inSync++;
      }
    }
    const replicaNodes = infos.filter((info) => field(info, "role")?.trim() === "slave");
    const linked = replicaNodes.every((info) => field(info, "master_link_status")?.trim() === "up");
    return linked && inSync === running().length - masters;
  };

  try {
    await cluster.waitUntilOk();
  } catch (err) {
    await stop();
    throw err;
  }
  return cluster;
}
