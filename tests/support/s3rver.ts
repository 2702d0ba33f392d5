/**
 * Starts a real S3-compatible server for tests: `s3rver` (npm, through `deno.json`'s import
 * map) on a free loopback port, with a throwaway data folder and the buckets asked for. Its
 * credentials are `S3RVER` / `S3RVER`; it checks signatures, serves explicit byte ranges and
 * ListObjectsV2, but does not honour conditional writes and answers suffix ranges wrongly (see
 * `s3_double.ts` for a server that does both as AWS documents).
 *
 * @example
 * ```ts ignore
 * const s3 = await startS3rver({ buckets: ["features"] });
 * try {
 *   const store = new ObjectStore(s3.settings);
 * } finally {
 *   await s3.stop();
 * }
 * ```
 *
 * @module
 */
import type { ObjectStoreSettings } from "../../engine/object_store/mod.ts";

/** A running s3rver. */
export interface S3rver {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** Client settings for it: path-style, its keys, a short timeout. */
  readonly settings: ObjectStoreSettings;
  /** The environment variables a CLI run needs to reach it. */
  readonly env: Record<string, string>;
  /** Stops the server (by its PID) and removes its data; safe to call twice. */
  stop(): Promise<void>;
}

const REPO = new URL("../../", import.meta.url).pathname;

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Starts s3rver with `buckets` created, and waits until it answers. */
export async function startS3rver(
  options: { buckets: readonly string[]; readyTimeoutMs?: number },
): Promise<S3rver> {
  const dir = await Deno.makeTempDir({ prefix: "larder_s3rver_" });
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      "npm:s3rver@3.7.1",
      "-d",
      dir,
      "-a",
      "127.0.0.1",
      "-p",
      String(port),
      ...options.buckets.flatMap((b) => ["--configure-bucket", b]),
      "--silent",
    ],
    cwd: REPO,
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
  const stop = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
    }
    await status;
    await stderr.catch(() => "");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (exited) {
      const text = await stderr;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw new Error(`s3rver exited before it was ready: ${text}`);
    }
    try {
      const res = await fetch(`${endpoint}/${options.buckets[0] ?? ""}`);
      await res.body?.cancel();
      if (res.status < 500) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`s3rver did not answer on ${endpoint} within the timeout`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  let stopped = false;
  return {
    port,
    endpoint,
    settings: {
      endpoint,
      region: "us-east-1",
      pathStyle: true,
      accessKeyId: "S3RVER",
      secretAccessKey: "S3RVER",
      timeoutMs: 10_000,
      retries: 0,
    },
    env: {
      AWS_ENDPOINT_URL: endpoint,
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
      AWS_REGION: "us-east-1",
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stop();
    },
  };
}
