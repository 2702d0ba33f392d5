/** `get-online-features`: read the latest values of features for entity rows. */
import { z } from "zod";
import { parseFlags, UsageError } from "../_args.ts";
import { print, printJson, table } from "../_output.ts";
import { withStore } from "../_repo.ts";
import type { Command } from "../command.ts";

const Flags = z.object({
  repo: z.string().optional(),
  json: z.boolean().default(false),
  help: z.boolean().default(false),
  features: z.string().min(1).optional(),
  feature_service: z.string().min(1).optional(),
  entities: z.string().min(1),
  full_feature_names: z.boolean().default(false),
  positionals: z.array(z.string()).max(0, { error: "takes no arguments" }),
});

function parseEntities(text: string): Record<string, unknown[]> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(
      `get-online-features: --entities: expected JSON such as '{"driver_id": [1001, 1002]}', got ${text}`,
    );
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new UsageError(`get-online-features: --entities: expected a JSON object of columns`);
  }
  return value as Record<string, unknown[]>;
}

function show(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** `larder get-online-features`. */
export const onlineCommand: Command = {
  name: "get-online-features",
  summary: "Read the latest feature values of entities from the online store",
  help:
    `Usage: larder get-online-features --entities JSON (--features V:F,... | --feature-service NAME)
                                  [--full-feature-names] [--repo DIR] [--json]

Reads the latest materialized values, in one read whatever the number of rows and views.
Each value has a status: PRESENT, NULL_VALUE, NOT_FOUND (nothing stored for the key) or
OUTSIDE_MAX_AGE (older than the view's ttl; the value is still returned).

Options:
  --entities JSON          Columns of entity keys (and request data), e.g. '{"driver_id": [1001, 1002]}'
  --features V:F,V:F       Feature references
  --feature-service NAME   A feature service instead of --features
  --full-feature-names     Name columns view__feature
  --repo DIR               The feature repo (default: the current folder)
  --json                   Print Feast's column-major JSON`,
  async run(argv) {
    const flags = parseFlags("get-online-features", argv, {
      entities: { type: "string" },
      features: { type: "string" },
      "feature-service": { type: "string" },
      "full-feature-names": { type: "boolean" },
    }, Flags);
    if ((flags.features === undefined) === (flags.feature_service === undefined)) {
      throw new UsageError(
        "get-online-features: pass --features or --feature-service (one of them)",
      );
    }
    const entities = parseEntities(flags.entities);
    return await withStore(flags.repo, async (store) => {
      const res = await store.getOnlineFeatures({
        ...(flags.features ? { features: flags.features.split(",").map((f) => f.trim()) } : {}),
        ...(flags.feature_service ? { featureService: flags.feature_service } : {}),
        entities,
        fullFeatureNames: flags.full_feature_names,
      });
      if (flags.json) {
        printJson(res.toJSON());
        return 0;
      }
      const rows = res.toRows();
      const names = res.featureNames;
      const statuses = res.columns.map((c) => c.statuses);
      print(table(
        names,
        rows.map((row, r) =>
          names.map((n, i) => {
            const status = statuses[i]![r];
            const v = show(row[n]);
            return status === "PRESENT" || status === undefined ? v : `${v} (${status})`;
          })
        ),
      ));
      return 0;
    });
  },
};
