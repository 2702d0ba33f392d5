/** `teardown`: remove every object from the registry and every row from the online store. */
import { z } from "zod";
import { parseFlags } from "../_args.ts";
import { print, printJson } from "../_output.ts";
import { withStore } from "../_repo.ts";
import type { Command } from "../command.ts";

const Flags = z.object({
  repo: z.string().optional(),
  json: z.boolean().default(false),
  help: z.boolean().default(false),
  positionals: z.array(z.string()).max(0, { error: "takes no arguments" }),
});

/** `larder teardown`. */
export const teardownCommand: Command = {
  name: "teardown",
  summary: "Remove every object from the registry and all online data",
  help: `Usage: larder teardown [--repo DIR] [--json]

Deletes the project's online data and empties the registry (the registry keeps its
version counter, so concurrent writers still conflict correctly). Source files are not
touched.

Options:
  --repo DIR   The feature repo (default: the current folder)
  --json       Print the result as JSON`,
  async run(argv) {
    const flags = parseFlags("teardown", argv, {}, Flags);
    return await withStore(flags.repo, async (store) => {
      const { version } = await store.teardown();
      if (flags.json) printJson({ project: store.config.project, version });
      else {print(
          `Removed every object of project "${store.config.project}" (registry version ${version}).`,
        );}
      return 0;
    });
  },
};
