/** `registry-dump`: print the registry document. */
import { z } from "zod";
import { parseFlags } from "../_args.ts";
import { printJson } from "../_output.ts";
import { withStore } from "../_repo.ts";
import type { Command } from "../command.ts";

const Flags = z.object({
  repo: z.string().optional(),
  json: z.boolean().default(true),
  help: z.boolean().default(false),
  positionals: z.array(z.string()).max(0, { error: "takes no arguments" }),
});

/** `larder registry-dump`. */
export const registryDumpCommand: Command = {
  name: "registry-dump",
  summary: "Print the registry document as JSON",
  help: `Usage: larder registry-dump [--repo DIR]

Prints the whole registry document (every object with its spec, created/updated times
and content hash, and the materialized intervals) as JSON.

Options:
  --repo DIR   The feature repo (default: the current folder)`,
  async run(argv) {
    const flags = parseFlags("registry-dump", argv, {}, Flags);
    return await withStore(flags.repo, async (store) => {
      printJson(await store.registry.read({ fresh: true }));
      return 0;
    });
  },
};
