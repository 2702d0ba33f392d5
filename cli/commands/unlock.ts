/** `unlock`: break the materialization locks that crashed runs left behind. */
import { z } from "zod";
import { parseFlags } from "../_args.ts";
import { print, printJson, table } from "../_output.ts";
import { withStore } from "../_repo.ts";
import type { Command } from "../command.ts";

const Flags = z.object({
  repo: z.string().optional(),
  json: z.boolean().default(false),
  help: z.boolean().default(false),
  force: z.boolean().default(false),
  positionals: z.array(z.string().min(1)),
});

/** `larder unlock [VIEW...] [--force]`. */
export const unlockCommand: Command = {
  name: "unlock",
  summary: "Break the materialization lock a crashed run left on a view",
  help: `Usage: larder unlock [VIEW...] [--force] [--repo DIR] [--json]

A materialization holds a lock per feature view in the online store, renewed while it
runs; a run that crashed leaves it until it expires (60 s after its last renewal), and
materialize meanwhile fails with "already being materialized by pid P on "HOST" since T".
This breaks such locks now, for the views named (default: every online view).

Without --force a lock is broken only when its holder is a process of this machine
that has ended. A lock held by a running process, or by a process on another machine
(whose liveness cannot be seen from here), is reported with its holder and expiry, and
nothing is broken (exit 1).

Options:
  --force      Break the locks whoever holds them; a run still going stops at its next
               renewal and records nothing for the view
  --repo DIR   The feature repo (default: the current folder)
  --json       Print the result as JSON`,
  async run(argv) {
    const flags = parseFlags("unlock", argv, { force: { type: "boolean" } }, Flags);
    return await withStore(flags.repo, async (store) => {
      const result = await store.breakMaterializationLocks({
        ...(flags.positionals.length > 0 ? { views: flags.positionals } : {}),
        force: flags.force,
      });
      if (flags.json) {
        printJson({
          views: result.map((r) => ({
            ...r,
            holder: r.holder && { ...r.holder, since: new Date(r.holder.since).toISOString() },
          })),
        });
        return 0;
      }
      if (result.length === 0) {
        print("No online feature views: no locks to break.");
        return 0;
      }
      print(table(
        ["VIEW", "LOCK", "HELD BY", "SINCE"],
        result.map((r) => [
          r.view,
          r.status === "free" ? "free" : `broken (${r.reason ?? "its holding ended"})`,
          r.holder ? `pid ${r.holder.pid} on ${r.holder.host}` : "-",
          r.holder ? new Date(r.holder.since).toISOString() : "-",
        ]),
      ));
      return 0;
    });
  },
};
