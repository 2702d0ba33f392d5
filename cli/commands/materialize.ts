/** `materialize` and `materialize-incremental`: copy the latest values into the online store. */
import { z } from "zod";
import { type MaterializeResult, parseWindowBound, timestampError } from "../../engine/mod.ts";
import { parseFlags } from "../_args.ts";
import { print, printJson, table } from "../_output.ts";
import { withStore } from "../_repo.ts";
import type { Command } from "../command.ts";

/** A window bound; finer than a millisecond it is widened (see `parseWindowBound`). */
function time(side: "start" | "end") {
  return z.string().refine((s) => timestampError(s) === undefined, {
    error: (iss) =>
      timestampError(String(iss.input), "an ISO 8601 time such as 2026-01-31T00:00:00Z"),
  }).transform((s) => parseWindowBound(s, side)!);
}

const Common = {
  repo: z.string().optional(),
  json: z.boolean().default(false),
  help: z.boolean().default(false),
  views: z.string().min(1).transform((s) => s.split(",").map((v) => v.trim())).optional(),
};

function report(result: MaterializeResult, json: boolean): void {
  if (json) {
    printJson({
      views: result.views.map((v) => ({
        ...v,
        start: v.start.toISOString(),
        end: v.end.toISOString(),
        onDemand: v.onDemand ?? [],
      })),
    });
    return;
  }
  if (result.views.length === 0) {
    print("No online feature views to materialize.");
    return;
  }
  // Each view is followed by the write-time on-demand views computed from its rows.
  print(table(
    ["VIEW", "START", "END", "ROWS", "WRITTEN", "SKIPPED", "NULL KEYS"],
    result.views.flatMap((v) => [
      [
        v.view,
        v.start.toISOString(),
        v.end.toISOString(),
        String(v.rows),
        String(v.written),
        String(v.skipped),
        String(v.nullKeyRows),
      ],
      ...(v.onDemand ?? []).map((od) => [
        `  ${od.view} (on demand)`,
        "",
        "",
        "",
        String(od.written),
        String(od.skipped),
        "",
      ]),
    ]),
  ));
}

const MaterializeFlags = z.object({
  ...Common,
  positionals: z.tuple([time("start"), time("end")], {
    error: "expected START and END (or --disable-event-timestamp)",
  }),
});

/** With `--disable-event-timestamp` there is no START or END (as in Feast's CLI). */
const MaterializeAllFlags = z.object({
  ...Common,
  disable_event_timestamp: z.literal(true),
  positionals: z.tuple([], {
    error: "START and END cannot be given with --disable-event-timestamp",
  }),
});

/** `larder materialize START END`. */
export const materializeCommand: Command = {
  name: "materialize",
  summary: "Copy the latest values in [START, END] into the online store",
  help: `Usage: larder materialize START END [--views a,b] [--repo DIR] [--json]
       larder materialize --disable-event-timestamp [--views a,b] [--repo DIR] [--json]

For each online feature view (or those named by --views), reads the source rows with
START <= event time <= END, keeps the newest row per entity key (newest event time, then
newest created time), writes them to the online store (a stored row that is as new or
newer is kept), then records the interval in the registry. Source rows stream in batches;
a terminal shows rows, rows/s and an ETA. An empty registry (before apply, after teardown)
is an error (exit 1).

Output, per view: ROWS (entity keys with a row in the window), WRITTEN, SKIPPED (the store
held a row as new or newer), NULL KEYS (source rows in the window without a join key
value: they belong to no entity and are left out, as historical retrieval ignores them).
Under a view, each on-demand view with writeToOnlineStore reading it, with the rows of
its outputs WRITTEN and SKIPPED ("onDemand" with --json).

One run per view at a time: a run holds a lock per view in the online store. While
another holds it, this fails (exit 1) naming the holder (pid, host, since) and when the
lock expires; if that run crashed, "larder unlock VIEW" breaks its lock.

With --disable-event-timestamp (Feast's flag), the window is from 1970-01-01T00:00:00Z to
now: everything up to now. Rows are still chosen and stored by their event times (as Feast
does); that window is recorded, so a later materialize-incremental starts from now.

Arguments:
  START, END    ISO 8601 times, inclusive

Options:
  --disable-event-timestamp
                Materialize from 1970-01-01T00:00:00Z to now, without START and END
  --views a,b   Only these feature views
  --repo DIR    The feature repo (default: the current folder)
  --json        Print the result as JSON`,
  async run(argv) {
    const options = {
      views: { type: "string" },
      "disable-event-timestamp": { type: "boolean" },
    } as const;
    const all = argv.includes("--disable-event-timestamp");
    const flags = all
      ? parseFlags("materialize", argv, options, MaterializeAllFlags)
      : parseFlags("materialize", argv, options, MaterializeFlags);
    const window = "disable_event_timestamp" in flags
      ? { disableEventTimestamp: true as const }
      : { start: flags.positionals[0], end: flags.positionals[1] };
    return await withStore(flags.repo, async (store) => {
      const { terminalProgress } = await import("../../engine/mod.ts").then((m) =>
        m.loadMaterialize()
      );
      const onProgress = terminalProgress();
      report(
        await store.materialize({
          ...window,
          ...(flags.views ? { views: flags.views } : {}),
          ...(onProgress ? { onProgress } : {}),
        }),
        flags.json,
      );
      return 0;
    });
  },
};

const IncrementalFlags = z.object({
  ...Common,
  positionals: z.tuple([time("end")], { error: "expected END" }),
});

/** `larder materialize-incremental END`. */
export const materializeIncrementalCommand: Command = {
  name: "materialize-incremental",
  summary: "Materialize each view from where it stopped up to END",
  help: `Usage: larder materialize-incremental END [--views a,b] [--repo DIR] [--json]

Like materialize, with START per view: the end of its last materialized interval; if it
was never materialized, END minus its ttl; with an unlimited ttl, END minus 52 weeks.

Options:
  --views a,b   Only these feature views
  --repo DIR    The feature repo (default: the current folder)
  --json        Print the result as JSON`,
  async run(argv) {
    const flags = parseFlags(
      "materialize-incremental",
      argv,
      { views: { type: "string" } },
      IncrementalFlags,
    );
    const [end] = flags.positionals;
    return await withStore(flags.repo, async (store) => {
      const { terminalProgress } = await import("../../engine/mod.ts").then((m) =>
        m.loadMaterialize()
      );
      const onProgress = terminalProgress();
      report(
        await store.materializeIncremental({
          end,
          ...(flags.views ? { views: flags.views } : {}),
          ...(onProgress ? { onProgress } : {}),
        }),
        flags.json,
      );
      return 0;
    });
  },
};
