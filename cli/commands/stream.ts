/** `stream`: run the stream processor until SIGINT or SIGTERM. */
import { z } from "zod";
import { StreamMetrics, type StreamResult, streamTerminalProgress } from "../../engine/mod.ts";
import { parseFlags } from "../_args.ts";
import { print, printJson, table } from "../_output.ts";
import { withStore } from "../_repo.ts";
import type { Command } from "../command.ts";

const positive = (flag: string) =>
  z.string().regex(/^[1-9]\d*$/, { error: `expected a positive whole number (${flag})` })
    .transform(Number);

const StreamFlags = z.object({
  repo: z.string().optional(),
  json: z.boolean().default(false),
  help: z.boolean().default(false),
  views: z.string().min(1).transform((s) => s.split(",").map((v) => v.trim())).optional(),
  consumer: z.string().min(1).optional(),
  batch_size: positive("--batch-size").optional(),
  reclaim_idle_ms: positive("--reclaim-idle-ms").optional(),
  metrics_port: z.string().regex(/^\d+$/, { error: "expected a port number" }).transform(Number)
    .refine((p) => p <= 65535, { error: "expected a port number" }).optional(),
  metrics_host: z.string().min(1).default("127.0.0.1"),
  positionals: z.tuple([], { error: "takes no arguments" }),
});

function report(result: StreamResult, json: boolean): void {
  if (json) {
    printJson({
      views: result.views.map((v) => ({
        view: v.view,
        events: v.events,
        redelivered: v.redelivered,
        onlineWritten: v.onlineWritten,
        offlineRows: v.offlineRows,
        offlineParts: v.offlineParts,
        offlineDuplicatesSkipped: v.offlineDuplicatesSkipped,
        deadLetters: v.deadLetters,
        acked: v.acked,
        undelivered: v.undelivered,
        pending: v.pending,
      })),
    });
    return;
  }
  print(table(
    ["VIEW", "EVENTS", "ONLINE WRITTEN", "OFFLINE ROWS", "DEAD LETTERS", "LAG"],
    result.views.map((v) => [
      v.view,
      String(v.events),
      String(v.onlineWritten),
      String(v.offlineRows),
      String(v.deadLetters),
      String(v.undelivered + v.pending),
    ]),
  ));
}

/** `larder stream`. */
export const streamCommand: Command = {
  name: "stream",
  summary: "Keep stream feature views fresh from their streams, until stopped",
  help: `Usage: larder stream [--views a,b] [--consumer NAME] [--batch-size 500]
                     [--reclaim-idle-ms 30000] [--metrics-port PORT]
                     [--metrics-host 127.0.0.1] [--repo DIR] [--json]

Reads the stream sources of the stream feature views (or those named by --views) through
their brokers' consumer groups (Redis Streams, NATS JetStream; "streaming:" in larder.yaml
says where they are) and writes each batch of events online (a stored row as new or newer
is kept) and offline (a part file appended to the batch source, every few seconds), as
each view's writeTo says. An event is acknowledged only once every destination took it:
after a crash it is read again, and written again only online (where that changes
nothing). Events that cannot be rows (wrong types, missing join keys or timestamps, a
transform that throws) go to the source's dead-letter stream with the reason.

Run as many processes as you like, on any machines: each view's consumer group shares
its stream between them, and the entries of one that died are taken over by the others
once they have waited --reclaim-idle-ms (30 s by default).

Runs until SIGINT (Ctrl-C) or SIGTERM: then finishes the batches in flight, appends and
acknowledges what it holds, prints what it did and exits 0. A terminal shows events/s,
lag, batch latency and dead letters; --metrics-port serves the same as Prometheus metrics
at /metrics.

Options:
  --views a,b          Only these stream feature views
  --consumer NAME      This process's name in the consumer groups (default: host-pid)
  --batch-size N       Most events per batch (default 500)
  --reclaim-idle-ms N  Take over entries unacknowledged this long (default 30000)
  --metrics-port PORT  Serve Prometheus metrics on this port
  --metrics-host HOST  The address to serve them on (default 127.0.0.1)
  --repo DIR           The feature repo (default: the current folder)
  --json               Print the result as JSON`,
  async run(argv) {
    const flags = parseFlags("stream", argv, {
      views: { type: "string" },
      consumer: { type: "string" },
      "batch-size": { type: "string" },
      "reclaim-idle-ms": { type: "string" },
      "metrics-port": { type: "string" },
      "metrics-host": { type: "string" },
    }, StreamFlags);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
    for (const s of signals) Deno.addSignalListener(s, onSignal);
    const metrics = new StreamMetrics();
    let server: Deno.HttpServer | undefined;
    try {
      return await withStore(flags.repo, async (store) => {
        if (flags.metrics_port !== undefined) {
          server = Deno.serve({
            port: flags.metrics_port,
            hostname: flags.metrics_host,
            onListen: () => {},
          }, (req) =>
            new URL(req.url).pathname === "/metrics"
              ? new Response(metrics.render(), {
                headers: { "content-type": "text/plain; version=0.0.4" },
              })
              : new Response("Not found: the metrics are at /metrics\n", { status: 404 }));
        }
        const progress = streamTerminalProgress();
        const result = await store.stream({
          signal: stop.signal,
          metrics,
          ...(flags.views ? { views: flags.views } : {}),
          ...(flags.consumer ? { consumer: flags.consumer } : {}),
          ...(flags.batch_size ? { batchSize: flags.batch_size } : {}),
          ...(flags.reclaim_idle_ms ? { reclaimIdleMs: flags.reclaim_idle_ms } : {}),
          ...(progress ? { onProgress: progress } : {}),
        });
        if (progress) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
        report(result, flags.json);
        return 0;
      });
    } finally {
      for (const s of signals) Deno.removeSignalListener(s, onSignal);
      await server?.shutdown();
    }
  },
};
