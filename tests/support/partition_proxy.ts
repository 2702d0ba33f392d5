/**
 * A TCP proxy in front of a local port that can cut the links it carries the way a network
 * partition does: the sockets stay open on both sides, but nothing more gets through, not even
 * a close. {@linkcode PartitionProxy.heal} lets new links through again while the cut ones stay
 * dead, as after a NAT or a load balancer forgot them, or a failover to a new server.
 *
 * @example
 * ```ts
 * import { startPartitionProxy } from "./partition_proxy.ts";
 * const proxy = startPartitionProxy(6379);
 * // connect to 127.0.0.1:<proxy.port> …
 * proxy.partition();
 * proxy.heal();
 * await proxy.close();
 * ```
 *
 * @module
 */

/** A proxy started by {@linkcode startPartitionProxy}. */
export interface PartitionProxy {
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  /** Cuts every link open now, and lets no new link through, until {@linkcode heal}. */
  partition(): void;
  /** Lets new links through again; those cut stay dead. */
  heal(): void;
  /** Closes the listener and every socket. */
  close(): Promise<void>;
}

interface Link {
  dead: boolean;
  readonly sockets: Deno.Conn[];
}

/** Starts a proxy from a free port of 127.0.0.1 to `targetPort` on 127.0.0.1. */
export function startPartitionProxy(targetPort: number): PartitionProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const links = new Set<Link>();
  const tasks: Promise<void>[] = [];
  let partitioned = false;

  async function carry(client: Deno.Conn): Promise<void> {
    const link: Link = { dead: partitioned, sockets: [client] };
    links.add(link);
    // A link cut from the start reaches nothing: the client's bytes go nowhere.
    if (link.dead) return void await drain(client, link, undefined);
    let server: Deno.Conn;
    try {
      server = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
    } catch {
      close(client);
      return;
    }
    link.sockets.push(server);
    await Promise.all([drain(client, link, server), drain(server, link, client)]);
  }

  const accepting = (async () => {
    for await (const client of listener) tasks.push(carry(client));
  })().catch(() => {});

  return {
    port: listener.addr.port,
    partition() {
      partitioned = true;
      for (const link of links) link.dead = true;
    },
    heal() {
      partitioned = false;
    },
    async close() {
      close(listener);
      for (const link of links) link.sockets.forEach(close);
      await accepting;
      await Promise.all(tasks);
    },
  };
}

/**
 * Copies `from` to `to` while the link lives; once it is cut, reads and drops (a cut link
 * delivers nothing, not even the end of the stream).
 */
async function drain(from: Deno.Conn, link: Link, to: Deno.Conn | undefined): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  for (;;) {
    let n: number | null;
    try {
      n = await from.read(buffer);
    } catch {
      n = null;
    }
    if (n === null) break;
    if (link.dead || to === undefined) continue;
    try {
      let offset = 0;
      while (offset < n) offset += await to.write(buffer.subarray(offset, n));
    } catch {
      break;
    }
  }
  if (!link.dead && to !== undefined) close(to);
}

function close(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // Already closed.
  }
}
