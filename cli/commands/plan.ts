/** `plan` and `apply`: compare the repo's definitions with the registry, and write them. */
import { z } from "zod";
import { KIND_LABEL, type ObjectChange, type Plan } from "../../engine/mod.ts";
import { parseFlags } from "../_args.ts";
import { print, printJson, table, warn } from "../_output.ts";
import { fieldChangeLine } from "../_plan_diff.ts";
import { withStore } from "../_repo.ts";
import type { Command } from "../command.ts";

const MARK = { create: "+", update: "~", delete: "-", unchanged: " " } as const;

/**
 * The plan as a readable table and a summary line; under each update, its changed fields
 * with the registry's value and the repo's (`ttl: 2h → 3h`).
 */
export function renderPlan(plan: Plan, options: { showUnchanged?: boolean } = {}): string {
  const shown = plan.changes.filter((c) =>
    options.showUnchanged !== false || c.action !== "unchanged"
  );
  const rows = shown.map((c: ObjectChange) => [
    MARK[c.action],
    KIND_LABEL[c.kind].toLowerCase(),
    c.name,
    c.action,
    c.fields.join(", "),
  ]);
  const count = (a: ObjectChange["action"]) => plan.changes.filter((c) => c.action === a).length;
  const summary = `${count("create")} to create, ${count("update")} to update, ${
    count("delete")
  } to delete, ${count("unchanged")} unchanged`;
  if (rows.length === 0) return `No objects in the repo or the registry.\n${summary}`;
  const [header, ...lines] = table(["", "KIND", "NAME", "CHANGE", "FIELDS"], rows).split("\n");
  const out = [header!];
  shown.forEach((c, i) => {
    out.push(lines[i]!);
    for (const field of c.fields) {
      const change = c.diff[field];
      if (change) out.push(`     ${fieldChangeLine(field, change)}`);
    }
  });
  return `${out.join("\n")}\n\n${summary}`;
}

function changesJson(plan: Plan) {
  return plan.changes.map((c) => ({
    kind: c.kind,
    name: c.name,
    action: c.action,
    fields: c.fields,
    ...(c.action === "update" ? { diff: c.diff } : {}),
  }));
}

const PlanFlags = z.object({
  repo: z.string().optional(),
  json: z.boolean().default(false),
  help: z.boolean().default(false),
  positionals: z.array(z.string()).max(0, { error: "takes no arguments" }),
});

/** `larder plan`. */
export const planCommand: Command = {
  name: "plan",
  summary: "Show what apply would change in the registry",
  help: `Usage: larder plan [--repo DIR] [--json]

Imports the repo's definitions, validates them and compares them with the registry,
object by object (create, update, delete, unchanged). Under each update, its changed
fields with the registry's value and the repo's ("ttl: 2h → 3h"; long values are cut
around the change); with --json, "diff" holds each field's full {old, new}.
Writes nothing.

Options:
  --repo DIR   The feature repo (default: the current folder)
  --json       Print the plan as JSON`,
  async run(argv) {
    const flags = parseFlags("plan", argv, {}, PlanFlags);
    return await withStore(flags.repo, async (store) => {
      const { plan, files } = await store.plan();
      if (flags.json) {
        printJson({
          project: store.config.project,
          baseVersion: plan.baseVersion,
          files,
          changes: changesJson(plan),
        });
      } else {
        print(
          `Plan for project "${store.config.project}" against registry version ${plan.baseVersion} (${store.registry.backend.location}):\n`,
        );
        print(renderPlan(plan));
      }
      return 0;
    });
  },
};

const ApplyFlags = PlanFlags.extend({
  skip_source_validation: z.boolean().default(false),
  positionals: z.array(z.string()).max(0, { error: "takes no arguments" }),
});

/** `larder apply`. */
export const applyCommand: Command = {
  name: "apply",
  summary: "Validate the definitions and write them to the registry",
  help: `Usage: larder apply [--repo DIR] [--skip-source-validation] [--json]

Does what plan does, checks that every source file has the columns the definitions
name with compatible types (in CSV files, that every value of those columns parses as
its declared type: whole numbers for integers, ISO 8601 or the source's timestampFormat
for timestamps; a bad value is named with its file, line and column), then writes the
registry (compare-and-set: if someone else
applied meanwhile, nothing is written and the command fails). Deleting a feature view
deletes its online data. Applying twice in a row changes nothing the second time.
Applying onto an empty registry while the online store holds data warns (on stderr,
and under "warnings" with --json): the registry may have been reset.

Options:
  --repo DIR                 The feature repo (default: the current folder)
  --skip-source-validation   Do not read the source files
  --json                     Print the result as JSON`,
  async run(argv) {
    const flags = parseFlags(
      "apply",
      argv,
      { "skip-source-validation": { type: "boolean" } },
      ApplyFlags,
    );
    return await withStore(flags.repo, async (store) => {
      const result = await store.apply({ skipSourceValidation: flags.skip_source_validation });
      for (const warning of result.warnings) warn(warning);
      if (flags.json) {
        printJson({
          project: store.config.project,
          written: result.written,
          version: result.version,
          changes: changesJson(result.plan),
          warnings: result.warnings,
        });
        return 0;
      }
      print(renderPlan(result.plan));
      print(
        result.written
          ? `\nApplied: registry version ${result.version} (${store.registry.backend.location}).`
          : `\nNothing to apply: the registry (version ${result.version}) already matches the repo.`,
      );
      return 0;
    });
  },
};
