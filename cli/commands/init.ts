/** `init [DIR]`: scaffold a feature repo with definitions and generated demo data. */
import { basename, dirname, join, relative, resolve } from "node:path";
import { z } from "zod";
import { fileSystemFailure } from "../../engine/mod.ts";
import { parseFlags, UsageError, userCwd } from "../_args.ts";
import { larderSource, readLarderFile } from "../_larder_source.ts";
import { print, printJson } from "../_output.ts";
import type { Command } from "../command.ts";
import LARDER_CONFIG from "../../deno.json" with { type: "json" };

/** This Larder's root folder: a `file:` URL in a checkout, an `https:` one from a package. */
const LARDER_ROOT = new URL("../../", import.meta.url);
const SOURCE = larderSource(LARDER_ROOT);
const TEMPLATE = new URL("examples/driver_repo/", LARDER_ROOT);
/** Files that replace the template's with `--no-data`: definitions that read no file. */
const NO_DATA_TEMPLATE = new URL("examples/no_data_repo/", LARDER_ROOT);

/**
 * The template's files, listed (a package read over HTTPS cannot list a folder); a test
 * checks the list against the template folders. No name starts with a dot, which a JSR
 * package never holds: {@linkcode scaffoldName} gives the name each file is written under.
 */
export const TEMPLATE_FILES: readonly string[] = [
  "features.ts",
  "gitignore",
  "larder.yaml",
  "scripts/generate_data.ts",
];
/** The files of `examples/no_data_repo/` that replace the template's with `--no-data`. */
export const NO_DATA_FILES: readonly string[] = ["features.ts", "gitignore"];

/** The name a template file is written under in the new repo (`gitignore` → `.gitignore`). */
export function scaffoldName(file: string): string {
  return file === "gitignore" ? ".gitignore" : file;
}

/**
 * Where the scaffolded repo imports Larder from: its package specifier when this Larder
 * runs from JSR, else this Larder's `mod.ts` as an absolute URL (a `file:` URL for a checkout
 * or an installed command), so that the repo works from any folder.
 */
export const LARDER_MODULE: string = SOURCE.module;

/**
 * Import-map entries of this Larder that only its benchmarks and tests use (browser driver,
 * S3 test servers, the Workers runtime the tests start). `redis` is not one: Redis over TCP
 * (`redis://` URLs) loads it.
 */
const NOT_FOR_REPOS = new Set(["puppeteer-core", "s3rver", "fauxqs", "workerd"]);

/**
 * The repo's `deno.json`: `"larder"` mapped to {@linkcode LARDER_MODULE}; when that is a
 * URL, also the packages Larder itself imports (a definition module and the Larder it
 * imports run with the repo's import map); and tasks.
 */
function repoDenoJson(options: { data: boolean }): string {
  const larder = LARDER_CONFIG;
  const imports: Record<string, string> = { larder: SOURCE.module };
  if (SOURCE.packageSpecifier === undefined) {
    for (const [key, value] of Object.entries(larder.imports)) {
      if (key !== "larder" && !NOT_FOR_REPOS.has(key)) imports[key] = value;
    }
  }
  return JSON.stringify(
    {
      imports,
      nodeModulesDir: "none",
      unstable: ["kv"],
      compilerOptions: larder.compilerOptions,
      tasks: {
        larder: SOURCE.task,
        ...(options.data ? { "generate-data": "deno run -A scripts/generate_data.ts" } : {}),
      },
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
  /**
   * Generate the demo data (default true). Without it, the definitions hold only an entity
   * (the source and views are commented out) and `data/` is left for the user's files.
   */
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
    throw fileSystemFailure(err, { path, action: "write", mkdir: true }) ?? err;
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
  const data = options.data !== false;
  const written: string[] = [];
  for (const file of TEMPLATE_FILES) {
    if (!data && file.startsWith("scripts/")) continue;
    const from = !data && NO_DATA_FILES.includes(file) ? NO_DATA_TEMPLATE : TEMPLATE;
    let text = await readLarderFile(new URL(file, from));
    if (file === "larder.yaml") {
      text = text.replace(/^project: .*$/m, `project: ${options.project ?? projectName(target)}`);
    }
    await writeScaffold(join(target, scaffoldName(file)), text);
    written.push(scaffoldName(file));
  }
  await writeScaffold(join(target, "deno.json"), repoDenoJson({ data }));
  written.push("deno.json");
  if (data) {
    // This Larder's own copy of the script the repo got: it resolves "larder" where this
    // Larder does (a package's own import map), which the new repo's folder may not.
    const generator = await import(
      new URL("scripts/generate_data.ts", TEMPLATE).href
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

Creates DIR (default: driver_repo, relative to the current folder) holding:
  larder.yaml    the project, registry and stores (paths in it are relative to DIR)
  features.ts    a driver entity, a Parquet source, a push source over it, two feature
                 views (one fed by the push source), an on-demand view and three services
  deno.json      maps "larder" to this Larder (its package specifier, or the absolute URL
                 of the checkout it runs from, so the repo works from any folder) and has
                 a "larder" task: "deno task larder plan" inside DIR
  .gitignore     the registry, the online store and the generated demo data only
  scripts/generate_data.ts, which init runs to write hourly driver statistics for 50
                 drivers over 4 weeks (with late corrections) and an entity table

With --no-data, features.ts defines only the entity (the source and views are there,
commented out, for when your data is in DIR/data/), and no data or script is written.

Options:
  --project NAME   Project name (default: from DIR)
  --no-data        Write no data: definitions that read no file, to fill in
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
      const shown = relative(userCwd(), target) || ".";
      print(`Created a feature repo in ${target}:`);
      for (const f of files) print(`  ${f}`);
      if (flags.no_data) {
        print(
          `\nIt has no data yet: put your Parquet or CSV files under ${
            join(shown, "data")
          }/, then define sources and views on them in ${join(shown, "features.ts")}.`,
        );
      }
      print(`\nNext: larder plan --repo ${shown}`);
      print(`  (or inside the repo: cd ${shown} && deno task larder plan)`);
    }
    return 0;
  },
};
