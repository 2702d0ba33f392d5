/** Imports a feature repo's definition modules and collects what they export. */
import { isAbsolute, join, relative, resolve } from "node:path";
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
  readonly contents: RepoContents;
  readonly found: readonly FoundDefinition[];
  /** Definition modules, relative to the repo. */
  readonly files: readonly string[];
}

async function defaultModules(repoDir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(repoDir)) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    if (entry.name.endsWith("_test.ts") || entry.name.endsWith(".d.ts")) continue;
    files.push(entry.name);
  }
  return files.sort();
}

function importFailure(file: string, err: unknown): LarderError {
  if (isLarderError(err)) {
    const message = err.message.startsWith(`${file}:`) ? err.message : `${file}: ${err.message}`;
    return new LarderError(err.code, message, {
      cause: err,
      ...(err.details ? { details: err.details } : {}),
    });
  }
  const text = err instanceof Error ? err.message.split("\n")[0] : String(err);
  const hint = /larder/.test(text ?? "") && /resolve|find|import/i.test(text ?? "")
    ? ' (is "larder" mapped in the repo\'s deno.json? "deno task larder init" writes it)'
    : "";
  return new LarderError(
    "DEFINITION_INVALID",
    `${file}: cannot import the module: ${text}${hint}`,
    {
      cause: err,
    },
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
    for (const value of Object.values(mod)) {
      if (isDefinition(value)) found.push({ value, file });
    }
  }
  return { contents: checkRepo(found), found, files: Object.keys(modules) };
}

/**
 * Imports every definition module of the repo (the `definitions` list of `larder.yaml`,
 * or every top-level `*.ts` module) and checks the exported objects as a whole.
 */
export async function loadDefinitions(
  repoDir: string,
  modules?: readonly string[],
): Promise<LoadedDefinitions> {
  const files = modules ? [...modules] : await defaultModules(repoDir);
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
      throw importFailure(shown, err);
    }
    for (const value of Object.values(mod)) {
      if (isDefinition(value)) found.push({ value, file: shown });
    }
  }
  return { contents: checkRepo(found), found, files };
}
