/** `init [DIR]`: scaffold a feature repo with definitions and generated demo data. */
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { fileSystemFailure } from "../../engine/mod.ts";
import { parseFlags, UsageError, userCwd } from "../_args.ts";
import { print, printJson } from "../_output.ts";
import type { Command } from "../command.ts";

const LARDER_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TEMPLATE = join(LARDER_ROOT, "examples", "driver_repo");

async function templateFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(join(dir, prefix))) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory && entry.name !== "data") out.push(...await templateFiles(dir, rel));
    else if (entry.isFile && entry.name !== "deno.json") out.push(rel);
  }
  return out.sort();
}

/** The repo's `deno.json`: maps `"larder"` to this Larder's `mod.ts`, plus its dependencies. */
async function repoDenoJson(target: string): Promise<string> {
  const larder = JSON.parse(await Deno.readTextFile(join(LARDER_ROOT, "deno.json"))) as {
    imports: Record<string, string>;
    compilerOptions: unknown;
  };
  const toMod = relative(target, join(LARDER_ROOT, "mod.ts")).split("\\").join("/");
  const imports: Record<string, string> = {};
  for (const [key, value] of Object.entries(larder.imports)) {
    imports[key] = key === "larder" ? (toMod.startsWith(".") ? toMod : `./${toMod}`) : value;
  }
  return JSON.stringify(
    {
      imports,
      nodeModulesDir: "none",
      unstable: ["kv"],
      compilerOptions: larder.compilerOptions,
      tasks: { "generate-data": "deno run -A scripts/generate_data.ts" },
    },
    null,
    2,
  ) + "\n";
}

function projectName(dir: string): string {
  const name = basename(dir).replace(/[^A-Za-z0-9_]/g, "_");
  return /^[A-Za-z_]/.test(name) ? name : `repo_${name}`;
}

/** Options for {@linkcode initRepo}. */
export interface InitOptions {
  /** Project name in `larder.yaml` (default: from the folder name). */
  readonly project?: string;
  /** Generate the demo data (default true). */
  readonly data?: boolean;
  /** Last hour of generated data (default: the current hour). */
  readonly end?: Date;
  /** Write into a folder that is not empty. */
  readonly force?: boolean;
}

/** Writes one file of the scaffold; `IO_FAILED` naming it when the machine refuses. */
async function writeScaffold(path: string, text: string): Promise<void> {
  try {
    await Deno.mkdir(dirname(path), { recursive: true });
    await Deno.writeTextFile(path, text);
  } catch (err) {
    throw fileSystemFailure(err, { path, action: "write" }) ?? err;
  }
}

/** Scaffolds a feature repo at `target`; returns the files written, relative to it. */
export async function initRepo(target: string, options: InitOptions = {}): Promise<string[]> {
  try {
    const entries = [];
    for await (const e of Deno.readDir(target)) entries.push(e.name);
    if (entries.length > 0 && !options.force) {
      throw new UsageError(`init: "${target}" is not empty (use --force to write into it anyway)`);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      throw fileSystemFailure(err, { path: target, action: "read" }) ?? err;
    }
  }
  const written: string[] = [];
  for (const file of await templateFiles(TEMPLATE)) {
    let text = await Deno.readTextFile(join(TEMPLATE, file));
    if (file === "larder.yaml") {
      text = text.replace(/^project: .*$/m, `project: ${options.project ?? projectName(target)}`);
    }
    await writeScaffold(join(target, file), text);
    written.push(file);
  }
  await writeScaffold(join(target, "deno.json"), await repoDenoJson(target));
  written.push("deno.json");
  if (options.data !== false) {
    const generator = await import(
      new URL(`file://${join(target, "scripts", "generate_data.ts")}`).href
    ) as { generateDriverData: (dir: string, o: { end?: Date }) => Promise<unknown> };
    await generator.generateDriverData(target, options.end ? { end: options.end } : {});
    written.push("data/driver_stats.parquet", "data/driver_entities.parquet");
  }
  return written.sort();
}

const Flags = z.object({
  repo: z.string().optional(),
  json: z.boolean().default(false),
  help: z.boolean().default(false),
  force: z.boolean().default(false),
  no_data: z.boolean().default(false),
  project: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
    error: "expected a name of letters, digits and _",
  })
    .optional(),
  positionals: z.array(z.string()).max(1, { error: "takes at most one folder" }),
});

/** `larder init`. */
export const initCommand: Command = {
  name: "init",
  summary: "Create a feature repo with demo definitions and data",
  help: `Usage: larder init [DIR] [--project NAME] [--no-data] [--force] [--json]

Creates DIR (default: driver_repo) holding larder.yaml, features.ts (a driver entity,
a Parquet source, a feature view and two feature services), deno.json (mapping
"larder" to this Larder) and scripts/generate_data.ts, which it runs to write hourly
driver statistics for 50 drivers over 4 weeks (with late corrections) and an entity
table for training.

Options:
  --project NAME   Project name (default: from DIR)
  --no-data        Do not generate the data files
  --force          Write into DIR even if it is not empty
  --json           Print the result as JSON`,
  async run(argv) {
    const flags = parseFlags("init", argv, {
      force: { type: "boolean" },
      "no-data": { type: "boolean" },
      project: { type: "string" },
    }, Flags);
    const target = resolve(userCwd(), flags.positionals[0] ?? "driver_repo");
    const files = await initRepo(target, {
      force: flags.force,
      data: !flags.no_data,
      ...(flags.project ? { project: flags.project } : {}),
    });
    if (flags.json) printJson({ repo: target, files });
    else {
      print(`Created a feature repo in ${target}:`);
      for (const f of files) print(`  ${f}`);
      print(`\nNext: deno task plan --repo ${relative(userCwd(), target) || "."}`);
    }
    return 0;
  },
};
