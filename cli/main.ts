/**
 * @module
 * The `larder` command line. `larder <command> --help` describes each command.
 *
 * Install it as a command: `deno install -g -A -n larder --config <checkout>/deno.json
 * <checkout>/cli/main.ts`.
 *
 * @example
 * ```ts ignore
 * // Run a command from code; the exit code is what the command line would exit with.
 * import { main } from "@larder/larder/cli";
 * const code = await main(["plan", "--repo", "examples/driver_repo"]);
 * ```
 */
import { didYouMean, fileSystemRefusal, isLarderError } from "../engine/mod.ts";
import { UsageError } from "./_args.ts";
import { table } from "./_output.ts";
import type { Command } from "./command.ts";

export type { Command };
import { exitCodeFor } from "./exit_codes.ts";
import { historicalCommand } from "./commands/historical.ts";
import { initCommand } from "./commands/init.ts";
import { materializeCommand, materializeIncrementalCommand } from "./commands/materialize.ts";
import { onlineCommand } from "./commands/online.ts";
import { objectCommands } from "./commands/objects.ts";
import { applyCommand, planCommand } from "./commands/plan.ts";
import { registryDumpCommand } from "./commands/registry_dump.ts";
import { serveCommand } from "./commands/serve.ts";
import { streamCommand } from "./commands/stream.ts";
import { teardownCommand } from "./commands/teardown.ts";
import { unlockCommand } from "./commands/unlock.ts";
import { VERSION } from "./version.ts";

/** Every command, in the order `--help` lists them. */
export const COMMANDS: readonly Command[] = [
  initCommand,
  planCommand,
  applyCommand,
  teardownCommand,
  materializeCommand,
  materializeIncrementalCommand,
  unlockCommand,
  onlineCommand,
  historicalCommand,
  streamCommand,
  serveCommand,
  registryDumpCommand,
  ...objectCommands,
];

function usage(): string {
  return `Larder: a feature store for TypeScript and the edge.

Usage: larder <command> [options]
       larder --version

${table(["COMMAND", "WHAT IT DOES"], COMMANDS.map((c) => [c.name, c.summary]))}

Every command takes --help, --repo DIR (default: the current folder) and --json.
Paths on the command line (--repo, --entities, --output, ...) are relative to the
current folder; paths in larder.yaml and in the definitions (sources, the registry, the
online store) are relative to the repo.

Exit codes: 0 done; 1 something to fix outside Larder (the input, the data, the
configuration, or the machine: a full disk, a read-only folder, an unreachable store),
with a message and no stack trace; 2 a bug in Larder (please report it).`;
}

/** Runs the CLI with `args`; returns the exit code (see `exit_codes.ts`). */
export async function main(args: readonly string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name === undefined ? 1 : 0;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    console.log(
      rest.includes("--json") ? JSON.stringify({ version: VERSION }) : `larder ${VERSION}`,
    );
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  const json = rest.includes("--json");
  try {
    if (!command) {
      throw new UsageError(
        `Unknown command "${name}"${
          didYouMean(name, COMMANDS.map((c) => c.name))
        }: run "larder --help" for the list`,
      );
    }
    if (!command.handlesHelp && (rest.includes("--help") || rest.includes("-h"))) {
      console.log(command.help);
      return 0;
    }
    return await command.run(rest);
  } catch (err) {
    const code = exitCodeFor(err);
    const refusal = isLarderError(err) ? undefined : fileSystemRefusal(err);
    const message = refusal !== undefined
      ? `The machine refused a file operation: ${refusal} (${(err as Error).message})`
      : err instanceof Error
      ? err.message
      : String(err);
    if (json) {
      const errorCode = isLarderError(err)
        ? err.code
        : refusal !== undefined
        ? "IO_FAILED"
        : code === 1
        ? "USAGE"
        : "INTERNAL";
      console.error(JSON.stringify({ error: { code: errorCode, message } }));
    } else if (code === 1) {
      console.error(`error: ${message}`);
    } else {
      console.error(`internal error (a bug in Larder; please report it): ${message}`);
      if (err instanceof Error && err.stack) console.error(err.stack);
    }
    return code;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
