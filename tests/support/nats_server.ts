/**
 * Starts a real `nats-server` with JetStream for tests: on a free loopback port, storing in a
 * throwaway folder, ready once its monitoring endpoint says JetStream is up. Suites call
 * {@linkcode skipWithoutNats} for their `ignore` flag (skipped with a warning when the binary
 * is missing, except under `CI=true`).
 *
 * @module
 */
import { freePort } from "./redis_server.ts";

/** A `nats-server` started by {@linkcode startNatsServer}. */
export interface NatsServer {
  readonly port: number;
  /** `127.0.0.1:<port>`. */
  readonly server: string;
  /** Stops the server and removes its storage folder; safe to call twice. */
  stop(): Promise<void>;
}

const CANDIDATES = ["/usr/sbin/nats-server", "/usr/bin/nats-server", "nats-server"];
let binary: string | null | undefined;

/** The `nats-server` binary, if one runs here. */
export function natsBinary(): string | undefined {
  if (binary === undefined) {
    binary = null;
    for (const candidate of CANDIDATES) {
      try {
        const out = new Deno.Command(candidate, {
          args: ["--version"],
          stdout: "null",
          stderr: "null",
        })
          .outputSync();
        if (out.success) {
          binary = candidate;
          break;
        }
      } catch {
        // Not there; try the next.
      }
    }
  }
  return binary ?? undefined;
}

/** The `ignore` flag for a suite that needs `nats-server` (see the module doc). */
export function skipWithoutNats(suite: string): boolean {
  if (natsBinary() !== undefined || Deno.env.get("CI") === "true") return false;
  console.warn(
    `\n!!! SKIPPING "${suite}": "nats-server" is not installed (apt-get install nats-server).\n`,
  );
  return true;
}

/** Starts `nats-server -js` and waits until JetStream answers. */
export async function startNatsServer(options: { readyTimeoutMs?: number } = {}): Promise<
  NatsServer
> {
  const bin = natsBinary();
  if (bin === undefined) throw new Error('Cannot start "nats-server": it is not installed');
  const dir = await Deno.makeTempDir({ prefix: "larder_nats_" });
  const port = freePort();
  const monitor = freePort();
  const child = new Deno.Command(bin, {
    args: ["-js", "-sd", dir, "-a", "127.0.0.1", "-p", String(port), "-m", String(monitor)],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log = new Response(child.stderr).text();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const deadline = Date.now() + (options.readyTimeoutMs ?? 5000);
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${monitor}/healthz?js-enabled-only=true`);
      await res.body?.cancel();
      if (res.ok) break;
    } catch {
      // Not listening yet.
    }
    if (exited || Date.now() > deadline) {
      if (!exited) child.kill("SIGKILL");
      await status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw new Error(`Cannot start nats-server on port ${port}: ${(await log).slice(-300)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  let stopped = false;
  return {
    port,
    server: `127.0.0.1:${port}`,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (!exited) child.kill("SIGTERM");
      await status;
      await log;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
