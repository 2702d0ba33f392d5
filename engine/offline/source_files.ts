/**
 * Which files a file source's `path` names: one file (with the parts pushed beside it), a
 * glob, or a folder.
 */
import {
  basename,
  dirname,
  isAbsolute,
  join,
  relative,
  resolve,
  sep as SEPARATOR,
} from "node:path";
import { type FileSourceSpec, fileSystemFailure, LarderError } from "../../registry/mod.ts";

const GLOB_CHARS = /[*?[\]{}]/;

/** Whether a path (or one segment of it) contains glob syntax: `*`, `?`, `[…]`, `{…}`. */
export function isGlob(path: string): boolean {
  return GLOB_CHARS.test(path);
}

/** What a file source's `path` names, resolved to an absolute path. */
export interface SourcePath {
  /** `glob`: a pattern; `folder`, `file`: what exists there; `missing`: nothing exists there. */
  readonly kind: "glob" | "folder" | "file" | "missing";
  /** The absolute path (or pattern). */
  readonly path: string;
}

/**
 * What `source.path` names, resolved against `repoDir`: a glob, an existing folder or file, or
 * nothing. A path the machine will not let Larder look at is `IO_FAILED`.
 */
export async function classifySourcePath(
  source: Pick<FileSourceSpec, "path">,
  repoDir: string,
): Promise<SourcePath> {
  const path = isAbsolute(source.path) ? source.path : resolve(repoDir, source.path);
  if (isGlob(source.path)) return { kind: "glob", path };
  try {
    return { kind: (await Deno.stat(path)).isDirectory ? "folder" : "file", path };
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
      return { kind: "missing", path };
    }
    throw fileSystemFailure(err, { path, action: "read" }) ?? err;
  }
}

/** Turns one path segment pattern (`*.parquet`, `part-?.csv`, `{a,b}.csv`) into a regex. */
function segmentRegex(pattern: string): RegExp {
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) out += "\\[";
      else {
        const body = pattern.slice(i + 1, end).replace(/^!/, "^").replaceAll("\\", "\\\\");
        out += `[${body}]`;
        i = end;
      }
    } else if (c === "{") {
      const end = pattern.indexOf("}", i + 1);
      if (end < 0) out += "\\{";
      else {
        const alternatives = pattern.slice(i + 1, end).split(",").map(escapeRegex);
        out += `(?:${alternatives.join("|")})`;
        i = end;
      }
    } else out += escapeRegex(c);
  }
  return new RegExp(`^${out}$`);
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** Files under `dir` matching `segments` (each a literal, a pattern or `**`). */
async function walkGlob(dir: string, segments: readonly string[], out: string[]): Promise<void> {
  if (segments.length === 0) return;
  const [head, ...rest] = segments as [string, ...string[]];
  if (head === "**") {
    // Zero directories, then one or more; like `*`, never a hidden one.
    await walkGlob(dir, rest, out);
    for await (const entry of readDirSafe(dir)) {
      if (entry.isDirectory && !entry.name.startsWith(".")) {
        await walkGlob(join(dir, entry.name), segments, out);
      }
    }
    return;
  }
  if (!isGlob(head)) {
    const next = join(dir, head);
    if (rest.length === 0) {
      if (await isFile(next)) out.push(next);
    } else await walkGlob(next, rest, out);
    return;
  }
  const regex = segmentRegex(head);
  for await (const entry of readDirSafe(dir)) {
    if (entry.name.startsWith(".") || !regex.test(entry.name)) continue;
    const next = join(dir, entry.name);
    if (rest.length === 0) {
      if (entry.isFile || (entry.isSymlink && await isFile(next))) out.push(next);
    } else if (entry.isDirectory || entry.isSymlink) await walkGlob(next, rest, out);
  }
}

async function* readDirSafe(dir: string): AsyncGenerator<Deno.DirEntry> {
  try {
    for await (const entry of Deno.readDir(dir)) yield entry;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) return;
    throw err;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** Every data file under `dir`, recursively, with the format's extension. */
async function filesInFolder(dir: string, extension: string, out: string[]): Promise<void> {
  for await (const entry of readDirSafe(dir)) {
    if (entry.name.startsWith(".") || entry.name.startsWith("_")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory) await filesInFolder(path, extension, out);
    else if (entry.name.toLowerCase().endsWith(extension)) out.push(path);
  }
}

/**
 * The folder that holds the rows pushed to a single-file source (`data/stats.parquet` →
 * `data/.stats.parquet.pushed`): beside the file, hidden, so that no folder source and no glob
 * (`*` and `**` skip hidden names) reads it by accident.
 */
export function pushedPartsFolder(file: string): string {
  return join(dirname(file), `.${basename(file)}.pushed`);
}

/** The parts pushed to the single file `file`: its pushed folder's `.<format>` files, sorted. */
async function pushedParts(file: string, extension: string): Promise<string[]> {
  const parts: string[] = [];
  for await (const entry of readDirSafe(pushedPartsFolder(file))) {
    const name = entry.name;
    if (name.startsWith(".") || name.startsWith("_") || !entry.isFile) continue;
    if (name.toLowerCase().endsWith(extension)) parts.push(join(pushedPartsFolder(file), name));
  }
  return parts.sort();
}

/**
 * The absolute paths of the files a source reads, resolved against `repoDir`: `path` is one
 * file (first, then the parts pushed to it, in {@linkcode pushedPartsFolder}, oldest first), a
 * glob (`data/*.parquet`, `data/**\/*.parquet`; sorted), or a folder (every `.parquet` or
 * `.csv` file under it, recursively, skipping names starting with `.` or `_`; sorted).
 * Throws `SOURCE_INVALID` when nothing matches.
 */
export async function resolveSourceFiles(
  source: Pick<FileSourceSpec, "name" | "path" | "format">,
  repoDir: string,
): Promise<string[]> {
  const { kind, path: full } = await classifySourcePath(source, repoDir);
  const files: string[] = [];
  let what: string;
  if (kind === "glob") {
    what = "matches no file";
    const parts = full.split(SEPARATOR);
    const firstGlob = parts.findIndex(isGlob);
    const base = parts.slice(0, firstGlob).join(SEPARATOR) || SEPARATOR;
    await walkGlob(base, parts.slice(firstGlob).filter((p) => p !== ""), files);
  } else if (kind === "folder") {
    what = `is a folder with no .${source.format} file`;
    await filesInFolder(full, `.${source.format}`, files);
  } else if (kind === "file") {
    return [full, ...await pushedParts(full, `.${source.format}`)];
  } else {
    what = "does not exist";
  }
  if (files.length === 0) {
    const shown = isAbsolute(source.path) ? source.path : relative(repoDir, full) || source.path;
    throw new LarderError(
      "SOURCE_INVALID",
      `Data source "${source.name}": path "${shown}" ${what} (resolved to "${full}")`,
      { details: { source: source.name, path: source.path, resolved: full } },
    );
  }
  return [...new Set(files)].sort();
}
