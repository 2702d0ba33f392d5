/** Flag parsing for commands: `node:util` parseArgs, then a zod schema. */
import { join } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import type { z } from "zod";
import { closestName, formatIssues } from "../engine/mod.ts";

/** A mistake in how a command was called; exit code 1. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Flags every command accepts. */
export const COMMON_OPTIONS = {
  repo: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

/** Parses `argv` for a command and validates the result with `schema`. */
export function parseFlags<S extends z.ZodType>(
  command: string,
  argv: readonly string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  schema: S,
): z.output<S> {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  const all = { ...COMMON_OPTIONS, ...options };
  try {
    parsed = parseArgs({
      args: [...argv],
      options: all,
      allowPositionals: true,
      strict: true,
    }) as typeof parsed;
  } catch (err) {
    const text = (err as Error).message.split("\n")[0]!.replace(/\. To specify.*$/, "");
    const unknown = /^Unknown option '(--[^'=]+)'/.exec(text)?.[1];
    const known = unknown === undefined
      ? undefined
      : closestName(unknown, Object.keys(all).map((name) => `--${name}`));
    const hint = known === undefined ? "" : `: did you mean "${known}"?`;
    throw new UsageError(`${command}: ${text}${hint} (see "larder ${command} --help")`);
  }
  const values = Object.fromEntries(
    Object.entries(parsed.values).map(([k, v]) => [k.replaceAll("-", "_"), v]),
  );
  const input = { ...values, positionals: parsed.positionals };
  const result = schema.safeParse(input);
  if (!result.success) {
    const lines = formatIssues(result.error, input).map((l) =>
      l.startsWith("positionals")
        ? l.replace(/^positionals(\[\d+\])?: /, "")
        : l.replace(/^([a-z_]+)/, (m) => `--${m.replaceAll("_", "-")}`)
    );
    throw new UsageError(`${command}: ${lines.join("; ")}`);
  }
  return result.data;
}

/**
 * The folder the user ran the command from. `deno task` runs a task in the folder of its
 * `deno.json` and says where the user was in `INIT_CWD`; an installed `larder` runs where the
 * user is, so an `INIT_CWD` inherited from some outer task is ignored unless the working
 * folder holds a `deno.json` (as it does under `deno task`).
 */
export function userCwd(): string {
  const cwd = Deno.cwd();
  const init = Deno.env.get("INIT_CWD");
  if (init === undefined || init === cwd) return cwd;
  const config = ["deno.json", "deno.jsonc"].some((name) => {
    try {
      return Deno.statSync(join(cwd, name)).isFile;
    } catch {
      return false;
    }
  });
  return config ? init : cwd;
}
