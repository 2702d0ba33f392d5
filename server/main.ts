/**
 * The feature server's entry: `deno task serve [--repo DIR] [--port 6566] [--host 127.0.0.1]
 * [--no-ui]`. Opens the feature repo, loads the registry once, and serves the Hono app within
 * the connection limits of `feature_server:` in `larder.yaml` (`serveWithLimits`), and Feast's
 * web UI at `/ui` (built on its first request, then cached).
 *
 * @module
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { FeatureStore, formatIssues, isLarderError } from "../engine/mod.ts";
import { createApp } from "./app.ts";
import { depsFromFeatureStore } from "./feature_store_deps.ts";
import { connectionLimits, serveWithLimits } from "./serve_with_limits.ts";
import { buildUiBundle } from "./ui_bundle.ts";

/** The `--help` text, for the command the server was started by. */
export function serveHelp(prog = "deno task serve"): string {
  return `Usage: ${prog} [options]

Serves the feature repo's features over HTTP (Feast-compatible API; docs at /docs) and
Feast's web UI at /ui (built with "deno bundle" on the first request to it, then
cached).

Options:
  --repo <dir>    The feature repo (the folder holding larder.yaml), relative to the
                  current folder; paths in larder.yaml are relative to the repo  [default .]
  --port <n>      Port to listen on, 0 for a free one  [default 6566]
  --host <host>   Interface to listen on  [default 127.0.0.1]
  --no-ui         Do not serve (nor build) the web UI
  -h, --help      Show this help`;
}

const FlagsSchema = z.strictObject({
  repo: z.string().min(1).default("."),
  port: z.string().regex(/^\d{1,5}$/, { error: "expected an integer from 0 to 65535" })
    .transform(Number).pipe(z.number().max(65535, { error: "expected at most 65535" }))
    .default(6566),
  host: z.string().min(1).default("127.0.0.1"),
  "no-ui": z.boolean().default(false),
  help: z.boolean().default(false),
});

/** Parses the flags; throws an `Error` whose message is one line for the user. */
export function parseFlags(
  argv: readonly string[],
  prog = "deno task serve",
): z.output<typeof FlagsSchema> {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        repo: { type: "string" },
        port: { type: "string" },
        host: { type: "string" },
        "no-ui": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (err) {
    const text = (err as Error).message.split("\n")[0]!.replace(/\. To specify.*$/, "");
    throw new Error(`serve: ${text} (see "${prog} --help")`);
  }
  const parsed = FlagsSchema.safeParse(values);
  if (!parsed.success) {
    const issue = formatIssues(parsed.error, values)[0] ?? "invalid flags";
    throw new Error(`serve: --${issue} (see "${prog} --help")`);
  }
  return parsed.data;
}

/** After a failed build of the web UI, how long until a request to it builds again. */
const UI_RETRY_MS = 60_000;

function messageOf(err: unknown): string {
  return isLarderError(err) ? err.message : String(err);
}

/**
 * Runs the feature server with command-line `argv` until SIGINT/SIGTERM; returns the exit
 * code. `prog` is the command the user typed, for messages (`larder serve` from the CLI).
 */
export async function serveMain(
  argv: readonly string[],
  prog = "deno task serve",
): Promise<number> {
  let flags: z.output<typeof FlagsSchema>;
  try {
    flags = parseFlags(argv, prog);
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  }
  if (flags.help) {
    console.log(serveHelp(prog));
    return 0;
  }
  let store: FeatureStore | undefined;
  try {
    // `--repo` is relative to the folder the user ran the command from (`deno task` runs
    // tasks in the project's folder and says where the user was in INIT_CWD).
    const cwd = Deno.env.get("INIT_CWD") ?? Deno.cwd();
    store = await FeatureStore.open({ repo: resolve(cwd, flags.repo) });
    const wired = await depsFromFeatureStore(store);
    const doc = wired.registry.current();
    if (
      store.config.auth.type === "none" && doc && Object.keys(doc.objects.permission).length > 0
    ) {
      console.error(
        'Warning: the registry has permissions, but auth.type is "none": they are not enforced',
      );
    }
    // The UI is built on its first request (once: later starts find it in the cache, and
    // "deno task build-ui" builds it ahead); until then /ui answers "being built". The builder
    // remembers the bundle, or a failure until it tries again; each is reported once here
    // (every caller of one attempt gets the same bundle or error object).
    const uiAbort = new AbortController();
    const reported = new WeakSet<object>();
    let uiAnswer: Promise<unknown> | undefined;
    const ui = () => {
      const answer = buildUiBundle({
        log: (line) => console.error(line),
        signal: uiAbort.signal,
        retryMs: UI_RETRY_MS,
      }).then(
        (bundle) => {
          if (!reported.has(bundle)) console.error("Web UI ready at /ui/");
          reported.add(bundle);
          return bundle;
        },
        (err: unknown) => {
          const seen = typeof err === "object" && err !== null && reported.has(err);
          if (!seen && !uiAbort.signal.aborted) {
            console.error(
              `Web UI unavailable: ${messageOf(err)} (tried again on a request after ${
                UI_RETRY_MS / 1000
              } s)`,
            );
          }
          if (typeof err === "object" && err !== null) reported.add(err);
          throw err;
        },
      );
      uiAnswer = answer;
      return answer;
    };
    const app = createApp(flags["no-ui"] ? wired.deps : { ...wired.deps, ui });
    const server = serveWithLimits(app.fetch, {
      hostname: flags.host,
      port: flags.port,
      limits: connectionLimits(store.config.feature_server),
      warn: (text) => console.error(`serve: ${text}`),
      onListen: ({ hostname, port }) => {
        const host = hostname.includes(":") ? `[${hostname}]` : hostname;
        console.log(
          `Larder feature server for project "${
            store!.config.project
          }" listening on http://${host}:${port} (auth: ${store!.config.auth.type}, docs: /docs)`,
        );
      },
    });
    const stop = async () => {
      await server.shutdown();
    };
    for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, stop);
    await server.finished;
    uiAbort.abort();
    await uiAnswer?.catch(() => {});
    // Requests are done: the feature log writes what waits.
    await wired.close();
    await store.close();
    return 0;
  } catch (err) {
    await store?.close().catch(() => {});
    if (isLarderError(err) && err.code !== "INTERNAL") {
      console.error(`serve: ${err.message}`);
      return 1;
    }
    console.error("internal error (a bug in Larder; please report it):", err);
    return 2;
  }
}

if (import.meta.main) Deno.exit(await serveMain(Deno.args));
