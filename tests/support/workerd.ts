/**
 * Runs a built Worker under a real `workerd serve` (the binary from `npm:workerd`), for tests and
 * benchmarks: on a given loopback port, with the environment its `fromEnvironment` bindings read.
 */
import { workerdBinary } from "../../server/workers_build.ts";

/** A running `workerd serve`. */
export interface Workerd {
  readonly url: string;
  /** What workerd wrote to stdout and stderr so far (the Worker's console output). */
  output(): string;
  stop(): Promise<void>;
}

/** Why workerd cannot run here, or `undefined` when it can. */
export async function workerdUnavailable(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(await workerdBinary(), {
      args: ["--version"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) return new TextDecoder().decode(out.stderr).trim() || `exit ${out.code}`;
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Starts `workerd serve capnp` listening on 127.0.0.1:`port` (its socket "http"); resolves once
 * the port accepts connections.
 */
export async function startWorkerd(
  capnp: string,
  options: { readonly port: number; readonly env: Readonly<Record<string, string>> },
): Promise<Workerd> {
  const child = new Deno.Command(await workerdBinary(), {
    args: ["serve", capnp, "--socket-addr", `http=127.0.0.1:${options.port}`],
    env: options.env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  const drain = (stream: ReadableStream<Uint8Array>) =>
    stream.pipeTo(
      new WritableStream({ write: (chunk) => void (output += decoder.decode(chunk)) }),
    ).catch(() => {});
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
    }
    await status;
    await drained;
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited) throw new Error(`workerd exited before listening:\n${output}`);
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: options.port });
      conn.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`workerd did not listen on port ${options.port}:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  return { url: `http://127.0.0.1:${options.port}`, output: () => output, stop };
}
