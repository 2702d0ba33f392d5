/**
 * Starts `fauxqs` (an S3/SQS/SNS emulator from npm, through `deno.json`'s import map) on a free
 * loopback port for tests, with the buckets asked for. It checks no signatures and, like
 * s3rver, does not honour conditional writes.
 *
 * @module
 */
import type { ObjectStoreSettings } from "../../engine/object_store/mod.ts";

/** A running fauxqs. */
export interface Fauxqs {
  readonly endpoint: string;
  readonly settings: ObjectStoreSettings;
  /** Stops the server (by its PID); safe to call twice. */
  stop(): Promise<void>;
}

const REPO = new URL("../../", import.meta.url).pathname;

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Starts fauxqs, waits until it answers, and creates `buckets`. */
export async function startFauxqs(
  options: { buckets: readonly string[]; readyTimeoutMs?: number },
): Promise<Fauxqs> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "npm:fauxqs@2.4.1"],
    cwd: REPO,
    env: { FAUXQS_PORT: String(port), FAUXQS_HOST: "127.0.0.1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const endpoint = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
    }
    await status;
    await stderr.catch(() => "");
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (exited) throw new Error(`fauxqs exited before it was ready: ${await stderr}`);
    try {
      const res = await fetch(`${endpoint}/`);
      await res.body?.cancel();
      break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`fauxqs did not answer on ${endpoint} within the timeout`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const bucket of options.buckets) {
    const res = await fetch(`${endpoint}/${bucket}`, { method: "PUT" });
    await res.body?.cancel();
    if (!res.ok) {
      await stop();
      throw new Error(`fauxqs did not create bucket "${bucket}": HTTP ${res.status}`);
    }
  }
  return {
    endpoint,
    settings: {
      endpoint,
      region: "us-east-1",
      pathStyle: true,
      accessKeyId: "test",
      secretAccessKey: "test",
      timeoutMs: 10_000,
      retries: 0,
    },
    stop,
  };
}
