/** Imports a feature repo's definition modules and collects what they export. */
import { isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { toFileUrl } from "./_paths.ts";
import {
  checkRepo,
  type FoundDefinition,
  isDefinition,
  isLarderError,
  LarderError,
  type RepoContents,
} from "../registry/mod.ts";

/** The definitions of a repo, checked. */
export interface LoadedDefinitions {
  /** The definitions found, checked as a whole (names, references, projections). */
  readonly contents: RepoContents;
  /** Each exported definition, with the module and export it came from. */
  readonly found: readonly FoundDefinition[];
  /** Definition modules, relative to the repo. */
  readonly files: readonly string[];
}

/**
 * Whether module text has an `export` statement, comments aside. Only exports are collected,
 * so a module without one (a script: `train.ts`, `generate_data.ts`) holds no definitions, and
 * importing it would only run it, maybe forever. Anything that looks like an export counts: a
 * module imported for nothing costs less than definitions left out.
 */
export function hasExportStatement(text: string): boolean {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/(^|[^:\\])\/\/.*$/gm, "$1");
  return /(^|[;{}\s])export\b\s*[{*A-Za-z_$]/.test(code);
}

async function defaultModules(repoDir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(repoDir)) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    if (entry.name.endsWith("_test.ts") || entry.name.endsWith(".d.ts")) continue;
    if (!hasExportStatement(await Deno.readTextFile(join(repoDir, entry.name)))) continue;
    files.push(entry.name);
  }
  return files.sort();
}

/**
 * The repo's definition modules, relative to it: `modules` (larder.yaml's `definitions`), or
 * every top-level `*.ts` module but tests and declarations.
 */
export async function definitionModules(
  repoDir: string,
  modules?: readonly string[],
): Promise<string[]> {
  return modules ? [...modules] : await defaultModules(repoDir);
}

/** A `file:` URL as a path, without the query string the loader adds. */
function urlPath(url: string): string | undefined {
  try {
    return fileURLToPath(url.replace(/[?#].*$/, ""));
  } catch {
    return undefined;
  }
}

/**
 * Larder's own modules: a stack frame in them is not where the user's mistake is (none are
 * files when Larder runs from a package).
 */
const LARDER_SOURCE = import.meta.url.startsWith("file:")
  ? ["registry", "engine", "cli", "server"].map((dir) =>
    fileURLToPath(new URL(`../${dir}/`, import.meta.url))
  )
  : [];

/**
 * Where in the repo's modules an import failed, as `file:line:column` relative to the repo:
 * for a syntax error, the position Deno's message gives; for an error thrown while the
 * module ran (an undefined name, a builder refusing its input), the first stack frame in a
 * module of the repo.
 */
export function failureLocation(err: unknown, repoDir: string): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const inRepo = (path: string) =>
    !relative(repoDir, path).startsWith("..") && !isAbsolute(relative(repoDir, path)) &&
    !LARDER_SOURCE.some((dir) => path.startsWith(dir));
  const at = (text: string): string | undefined => {
    for (const m of text.matchAll(/(file:\/\/[^\s()]+?):(\d+):(\d+)/g)) {
      const path = urlPath(m[1]!);
      if (path !== undefined && inRepo(path)) return `${relative(repoDir, path)}:${m[2]}:${m[3]}`;
    }
    return undefined;
  };
  // Deno reports a module that does not parse as a TypeError whose message ends with
  // "at file:///...:line:column"; the stack of an error thrown at run time starts in the module.
  return (/SyntaxError/.test(err.message) ? at(err.message) : undefined) ??
    at((err.stack ?? "").split("\n").filter((l) => /^\s+at /.test(l)).join("\n"));
}

function importFailure(file: string, err: unknown, repoDir: string): LarderError {
  const where = failureLocation(err, repoDir) ?? file;
  if (isLarderError(err)) {
    const message = err.message.startsWith(`${file}:`)
      ? err.message.replace(`${file}:`, `${where}:`)
      : `${where}: ${err.message}`;
    return new LarderError(err.code, message, {
      cause: err,
      ...(err.details ? { details: err.details } : {}),
    });
  }
  const lines = err instanceof Error ? err.message.split("\n") : [String(err)];
  // A syntax error: Deno's message is "SyntaxError: ..." with a code frame, then the position.
  const syntax = /^SyntaxError: (.*)$/.exec(lines[0] ?? "");
  if (syntax) {
    const frame = lines.slice(1).filter((l) => !/^\s+at /.test(l) && l.trim() !== "");
    return new LarderError(
      "DEFINITION_INVALID",
      `${where}: syntax error: ${syntax[1]}${frame.length ? `\n${frame.join("\n")}` : ""}`,
      { cause: err },
    );
  }
  // The loader's cache-busting query string says nothing to the user.
  const text = (lines[0] ?? "").replace(/\?v=[0-9-]+/g, "");
  const hint = /larder/.test(text) && /resolve|find|import/i.test(text)
    ? ' (is "larder" mapped in the repo\'s deno.json? "larder init" writes it)'
    : "";
  const kind = err instanceof Error && err.name !== "Error" && !text.startsWith(err.name)
    ? `${err.name}: `
    : "";
  return new LarderError(
    "DEFINITION_INVALID",
    `${where}: cannot import the module: ${kind}${text}${hint}`,
    { cause: err },
  );
}

/**
 * Collects the definitions of modules the caller already imported (statically: edge
 * platforms such as Deno Deploy do not allow computed dynamic imports).
 */
export function definitionsFromModules(
  modules: Readonly<Record<string, Readonly<Record<string, unknown>>>>,
): LoadedDefinitions {
  const found: FoundDefinition[] = [];
  for (const [file, mod] of Object.entries(modules)) {
    for (const [exported, value] of Object.entries(mod)) {
      if (isDefinition(value)) found.push({ value, file, exported });
    }
  }
  return { contents: checkRepo(found), found, files: Object.keys(modules) };
}

/**
 * Imports every definition module of the repo (the `definitions` list of `larder.yaml`, or
 * every top-level `*.ts` module with an `export` statement) and checks the exported objects
 * as a whole.
 */
export async function loadDefinitions(
  repoDir: string,
  modules?: readonly string[],
): Promise<LoadedDefinitions> {
  const files = await definitionModules(repoDir, modules);
  const found: FoundDefinition[] = [];
  for (const file of files) {
    const path = isAbsolute(file) ? file : resolve(repoDir, file);
    const shown = relative(repoDir, path) || file;
    let stat: Deno.FileInfo;
    try {
      stat = await Deno.stat(path);
    } catch {
      throw new LarderError(
        "CONFIG_INVALID",
        `larder.yaml: definitions: cannot find "${file}" in ${join(repoDir)}`,
      );
    }
    // The query string makes edits visible to a long-lived process (a new module instance).
    const url = `${toFileUrl(path)}?v=${stat.mtime?.getTime() ?? 0}-${stat.size}`;
    let mod: Record<string, unknown>;
    try {
      mod = await import(url);
    } catch (err) {
      throw importFailure(shown, err, repoDir);
    }
    for (const [exported, value] of Object.entries(mod)) {
      if (isDefinition(value)) found.push({ value, file: shown, exported });
    }
  }
  return { contents: checkRepo(found), found, files };
}
