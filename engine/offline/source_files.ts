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
import {
  type FileSourceSpec,
  fileSystemFailure,
  isLarderError,
  LarderError,
} from "../../registry/mod.ts";
import {
  defaultObjectStore,
  isObjectUrl,
  type ObjectLocation,
  parseObjectUrl,
} from "../object_store/mod.ts";

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
  if (isObjectUrl(source.path)) return await classifyObjectPath(source.path);
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

/**
 * What an object URL names: a glob (`s3://b/data/*.parquet`), a folder (`s3://b/data/`, or a
 * prefix with objects under it), an object, or nothing. An `https://` URL is one object.
 */
async function classifyObjectPath(url: string): Promise<SourcePath> {
  const location = parseObjectUrl(url);
  const store = defaultObjectStore();
  if (location.scheme !== "s3") {
    return { kind: await store.head(url) ? "file" : "missing", path: location.href };
  }
  if (isGlob(location.key)) return { kind: "glob", path: url };
  if (location.key === "" || location.key.endsWith("/")) return { kind: "folder", path: url };
  if (await store.head(url)) return { kind: "file", path: url };
  const under = await store.list(`${url}/`).catch((err) => {
    if (!isLarderError(err) || err.details?.s3Code !== "NoSuchBucket") throw err;
    throw new LarderError(
      "NOT_FOUND",
      `Cannot find "${url}" in object storage: the bucket does not exist`,
      { cause: err, details: { url, s3Code: "NoSuchBucket" } },
    );
  });
  return { kind: under.length > 0 ? "folder" : "missing", path: url };
}

/** The keys under `s3://bucket/prefix` (not hidden, not `_`-prefixed below the prefix). */
async function listKeys(location: ObjectLocation & { scheme: "s3" }, prefix: string) {
  const listed = await defaultObjectStore().list(`s3://${location.bucket}/${prefix}`);
  return listed.map((o) => o.url.slice(`s3://${location.bucket}/`.length));
}

/** The objects an object URL names, as {@linkcode resolveSourceFiles} does for paths. */
async function resolveObjectFiles(
  source: Pick<FileSourceSpec, "name" | "path" | "format">,
  kind: SourcePath["kind"],
): Promise<string[]> {
  const location = parseObjectUrl(source.path);
  const extension = `.${source.format}`;
  let found: string[] = [];
  let what = "does not exist";
  if (location.scheme !== "s3") {
    if (kind === "file") return [location.url];
  } else if (kind === "file") {
    const pushed = `${pushedPartsFolder(location.key)}/`;
    const parts = (await listKeys(location, pushed)).filter((k) => {
      const name = k.slice(pushed.length);
      return !name.includes("/") && !/^[._]/.test(name) && name.toLowerCase().endsWith(extension);
    });
    return [source.path, ...parts.sort().map((k) => `s3://${location.bucket}/${k}`)];
  } else if (kind === "glob") {
    what = "matches no object";
    const segments = location.key.split("/");
    const firstGlob = segments.findIndex(isGlob);
    const prefix = segments.slice(0, firstGlob).map((p) => `${p}/`).join("");
    const patterns = segments.slice(firstGlob);
    found = (await listKeys(location, prefix)).filter((key) =>
      matchSegments(key.slice(prefix.length).split("/"), patterns)
    );
  } else if (kind === "folder") {
    what = `is a folder with no ${extension} object`;
    const prefix = location.key === "" || location.key.endsWith("/")
      ? location.key
      : `${location.key}/`;
    found = (await listKeys(location, prefix)).filter((key) =>
      !key.slice(prefix.length).split("/").some((part) => /^[._]/.test(part)) &&
      key.toLowerCase().endsWith(extension)
    );
  }
  if (found.length === 0) {
    throw new LarderError(
      "SOURCE_INVALID",
      `Data source "${source.name}": "${source.path}" ${what}`,
      {
        details: { source: source.name, path: source.path },
      },
    );
  }
  if (location.scheme !== "s3") return found;
  return [...new Set(found)].sort().map((k) => `s3://${location.bucket}/${k}`);
}

/** Whether key segments match glob segments (`**`: zero or more segments, never hidden ones). */
function matchSegments(parts: readonly string[], patterns: readonly string[]): boolean {
  if (patterns.length === 0) return parts.length === 0;
  const [head, ...rest] = patterns as [string, ...string[]];
  if (head === "**") {
    if (matchSegments(parts, rest)) return true;
    return parts.length > 1 && !parts[0]!.startsWith(".") &&
      matchSegments(parts.slice(1), patterns);
  }
  if (parts.length === 0) return false;
  const part = parts[0]!;
  const ok = isGlob(head) ? !part.startsWith(".") && segmentRegex(head).test(part) : part === head;
  return ok && matchSegments(parts.slice(1), rest);
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
  if (isObjectUrl(file)) {
    const slash = file.lastIndexOf("/");
    return `${file.slice(0, slash)}/.${file.slice(slash + 1)}.pushed`;
  }
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
  if (isObjectUrl(source.path)) {
    const objects = await resolveObjectFiles(source, kind);
    return source.format === "csv" ? await Promise.all(objects.map(localCopy)) : objects;
  }
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

let copies: Promise<string> | undefined;
const copied = new Map<string, { etag: string | undefined; path: string }>();

/**
 * A local copy of a CSV object (DuckDB reads CSV from files): fetched whole, kept for the
 * process while the object's ETag stays the same, in a temporary folder removed at exit.
 */
export async function localCopy(url: string): Promise<string> {
  const store = defaultObjectStore();
  const location = parseObjectUrl(url);
  copies ??= Deno.makeTempDir({ prefix: "larder_objects_" }).then((dir) => {
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // Already gone.
      }
    });
    return dir;
  });
  const dir = await copies;
  const known = copied.get(url);
  if (known?.etag !== undefined && (await store.head(url))?.etag === known.etag) return known.path;
  const { bytes, etag } = await store.get(url);
  const name = location.scheme === "s3"
    ? join(location.bucket, ...location.key.split("/"))
    : join("https", ...location.key.split("/"));
  const path = join(dir, name);
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeFile(path, bytes);
  copied.set(url, { etag, path });
  return path;
}
