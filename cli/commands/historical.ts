/** `get-historical-features`: build a point-in-time-correct training set into a file. */
import { resolve } from "node:path";
import { z } from "zod";
import { parseFlags, UsageError, userCwd } from "../_args.ts";
import { parseTimestamp, timestampError } from "../../engine/mod.ts";
import { print, printJson } from "../_output.ts";
import { rowProgress } from "../_progress.ts";
import { withStore } from "../_repo.ts";
import type { Command } from "../command.ts";

const Time = z.string().refine((s) => parseTimestamp(s) !== undefined, {
  error: (iss) =>
    timestampError(String(iss.input), "an ISO 8601 time such as 2026-01-31T00:00:00Z"),
});

const Flags = z.object({
  repo: z.string().optional(),
  json: z.boolean().default(false),
  help: z.boolean().default(false),
  entities: z.string().min(1).optional(),
  features: z.string().min(1).optional(),
  feature_service: z.string().min(1).optional(),
  full_feature_names: z.boolean().default(false),
  filter_by_created_timestamp: z.boolean().default(false),
  timestamp_column: z.string().min(1).optional(),
  start: Time.optional(),
  end: Time.optional(),
  output: z.string().regex(/\.(parquet|csv|json)$/i, {
    error: "expected a file ending in .parquet, .csv or .json",
  }),
  positionals: z.array(z.string()).max(0, { error: "takes no arguments" }),
});

/** `larder get-historical-features`. */
export const historicalCommand: Command = {
  name: "get-historical-features",
  summary: "Build a point-in-time-correct training set",
  help:
    `Usage: larder get-historical-features --entities FILE (--features V:F,... | --feature-service NAME)
                                      --output FILE [options]
       larder get-historical-features --start T --end T (--features ... | --feature-service NAME)
                                      --output FILE [options]

For every row of the entity table (join keys and a timestamp), the feature values known at
that timestamp: no leakage from the future, no row dropped. Without an entity table, the
latest value per entity key within [start, end].

Every entity row needs a timestamp: a missing one is an error naming the row (the line of a
CSV file). In a CSV entity file, the join keys are parsed as their entities declare and
the timestamp as ISO 8601 (2026-01-31, 2026-01-31T08:00:00Z, ...+02:00); a value that does
not fit names the line, column and value. CSV sources are read the same way. In .json
output, NaN and infinities are the strings "NaN", "Infinity", "-Infinity".

FILE paths are relative to the current folder (not to the repo).

Options:
  --entities FILE                  Entity table (.parquet or .csv)
  --features V:F,V:F               Feature references
  --feature-service NAME           A feature service instead of --features
  --start T, --end T               The window, instead of --entities (ISO 8601)
  --output FILE                    Where to write (.parquet, .csv or .json)
  --full-feature-names             Name columns view__feature
  --filter-by-created-timestamp    Also require created <= entity timestamp
  --timestamp-column NAME          The entity table's timestamp column
  --repo DIR                       The feature repo (default: the current folder)
  --json                           Print the result as JSON`,
  async run(argv) {
    const flags = parseFlags("get-historical-features", argv, {
      entities: { type: "string" },
      features: { type: "string" },
      "feature-service": { type: "string" },
      "full-feature-names": { type: "boolean" },
      "filter-by-created-timestamp": { type: "boolean" },
      "timestamp-column": { type: "string" },
      start: { type: "string" },
      end: { type: "string" },
      output: { type: "string" },
    }, Flags);
    if ((flags.features === undefined) === (flags.feature_service === undefined)) {
      throw new UsageError(
        "get-historical-features: pass --features or --feature-service (one of them)",
      );
    }
    if ((flags.entities === undefined) === (flags.start === undefined || flags.end === undefined)) {
      throw new UsageError(
        "get-historical-features: pass --entities, or --start and --end (not both)",
      );
    }
    const cwd = userCwd();
    const output = resolve(cwd, flags.output);
    return await withStore(flags.repo, async (store) => {
      const started = performance.now();
      const progress = rowProgress("Writing " + flags.output);
      const job = await store.getHistoricalFeatures({
        onStage: (s) =>
          progress.status(
            s.phase === "output"
              ? "reading the result"
              : `${s.phase === "load" ? "loading" : "joining"} ${s.view} (view ${
                s.index + 1
              } of ${s.views})`,
          ),
        ...(flags.entities ? { entities: resolve(cwd, flags.entities) } : {}),
        ...(flags.start ? { start: flags.start } : {}),
        ...(flags.end ? { end: flags.end } : {}),
        ...(flags.features ? { features: flags.features.split(",").map((f) => f.trim()) } : {}),
        ...(flags.feature_service ? { featureService: flags.feature_service } : {}),
        ...(flags.timestamp_column ? { timestampColumn: flags.timestamp_column } : {}),
        fullFeatureNames: flags.full_feature_names,
        filterByCreatedTimestamp: flags.filter_by_created_timestamp,
      });
      let rows = 0;
      const counted = (async function* () {
        for await (const batch of job.batches()) {
          rows += batch.numRows;
          progress.update(rows);
          yield batch;
        }
      })();
      const { writeBatches } = await import("../../engine/mod.ts");
      await writeBatches(output, counted);
      progress.done(rows);
      const seconds = (performance.now() - started) / 1000;
      if (flags.json) printJson({ output, rows, columns: job.columns, seconds });
      else {
        print(`Wrote ${rows.toLocaleString("en-US")} rows to ${output} in ${seconds.toFixed(1)}s`);
        print(`Columns: ${job.columns.join(", ")}`);
      }
      return 0;
    });
  },
};
