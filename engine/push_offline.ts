/**
 * Push to offline: rows of a push source appended as a NEW file to its batch source, never
 * rewriting an existing file, so that later reads of the source see them with the rest. A
 * folder (or a glob whose last segment is `*` + an extension) gets the file inside it; a single
 * file gets it in its pushed-parts folder (`data/.stats.parquet.pushed/`), which every reader
 * of that source reads with the file. Loaded lazily (it writes Parquet through parquet-wasm).
 */
import { basename, dirname, join } from "node:path";
import {
  type DataSourceSpec,
  type FileSourceSpec,
  findObject,
  hasBatchSource,
  isLarderError,
  LarderError,
  ownValue,
  type RegistryDocument,
  type ValueType,
} from "../registry/mod.ts";
import { coerceValue, INVALID, notOfType } from "./online/value_codec.ts";
import { loadOffline } from "./lazy.ts";
import { writeTable } from "./table_writer.ts";
import { isObjectUrl, writeObjectViaFile } from "./object_store/mod.ts";

/** Columns of pushed rows: name -> values. */
export type ColumnData = Readonly<Record<string, readonly unknown[]>>;

type Offline = typeof import("./offline/mod.ts");

/** Where a push's new file goes, and the existing file whose columns it copies (if any). */
interface Target {
  readonly dir: string;
  readonly name: (id: string) => string;
  readonly reference: string | undefined;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** The first file a folder or glob source reads, if it reads any. */
async function firstFile(
  offline: Offline,
  source: FileSourceSpec,
  repoDir: string,
): Promise<string | undefined> {
  try {
    return (await offline.resolveSourceFiles(source, repoDir))[0];
  } catch (err) {
    if (isLarderError(err) && err.code === "SOURCE_INVALID") return undefined;
    throw err;
  }
}

async function target(offline: Offline, source: FileSourceSpec, repoDir: string): Promise<Target> {
  const { kind, path: full } = await offline.classifySourcePath(source, repoDir);
  const ext = `.${source.format}`;
  if (kind === "glob") {
    // One folder, and a last segment with one `*` (`part-*.csv`): the new file takes its place.
    const last = basename(full);
    const dir = dirname(full).replace(/[\\/]\*\*$/, "");
    const star = last.indexOf("*");
    const [prefix, suffix] = [last.slice(0, star), last.slice(star + 1)];
    if (
      star >= 0 && !offline.isGlob(dir) && !offline.isGlob(prefix) && !offline.isGlob(suffix) &&
      suffix.toLowerCase().endsWith(ext)
    ) {
      return {
        dir,
        name: (id) => `${prefix}${id}${suffix}`,
        reference: await firstFile(offline, source, repoDir),
      };
    }
    throw new LarderError(
      "INPUT_INVALID",
      `Cannot push to offline: batch source "${source.name}" has the glob "${source.path}", which has no single folder for new files; use a folder, a single file or a pattern such as "data/stats/*${ext}"`,
      { details: { source: source.name, path: source.path } },
    );
  }
  if (kind === "folder" || (kind === "missing" && !/\.(parquet|csv)$/i.test(full))) {
    return {
      dir: full,
      name: (id) => `${id}${ext}`,
      reference: await firstFile(offline, source, repoDir),
    };
  }
  if (kind === "missing") {
    throw new LarderError(
      "SOURCE_INVALID",
      `Cannot push to offline: batch source "${source.name}" is the file "${source.path}", which does not exist (resolved to "${full}")`,
      { details: { source: source.name, path: source.path, resolved: full } },
    );
  }
  return { dir: offline.pushedPartsFolder(full), name: (id) => `${id}${ext}`, reference: full };
}

/** The column of `source`'s files that holds what views call `name` (after `fieldMapping`). */
function fileColumnName(source: FileSourceSpec, name: string): string {
  return Object.entries(source.fieldMapping).find(([, to]) => to === name)?.[0] ?? name;
}

/** A column the views of a batch source read: its declared type, and who reads it. */
interface ReadColumn {
  type: ValueType;
  readonly required: boolean;
  readonly views: Set<string>;
  /** A join key of the views in `views`: a row needs a value. */
  joinKey?: boolean;
}

/**
 * Every column that some feature view reads from `batch` (directly, or through any push
 * source over it), named as in the files: join keys, features, the event timestamp (all
 * required in a pushed file) and the created timestamp (optional).
 */
function columnsRead(doc: RegistryDocument, batch: FileSourceSpec): Map<string, ReadColumn> {
  const reads = (source: DataSourceSpec | undefined) =>
    source?.name === batch.name || (hasBatchSource(source) && source.batchSource === batch.name);
  const read = new Map<string, ReadColumn>();
  const need = (name: string, type: ValueType, required: boolean, view?: string) => {
    const column = fileColumnName(batch, name);
    const entry = read.get(column) ?? { type, required, views: new Set<string>() };
    if (view !== undefined) entry.views.add(view);
    read.set(column, entry);
    return entry;
  };
  need(batch.timestampField, "timestamp", true);
  if (batch.createdTimestampColumn) need(batch.createdTimestampColumn, "timestamp", false);
  for (const { spec: view } of Object.values(doc.objects.featureView)) {
    if (!reads(findObject(doc, "dataSource", view.source)?.spec)) continue;
    for (const entityName of view.entities) {
      const entity = findObject(doc, "entity", entityName)?.spec;
      for (const key of entity?.joinKeys ?? []) {
        need(key, entity!.valueType, true, view.name).joinKey = true;
      }
    }
    for (const feature of view.features) need(feature.name, feature.type, true, view.name);
  }
  return read;
}

function quoted(names: Iterable<string>): string {
  return [...names].map((n) => `"${n}"`).join(", ");
}

/** A value of a column no view reads, for a CSV file: as text. */
function csvText(value: unknown): unknown {
  if (value === null || value === undefined || typeof value === "string") return value ?? null;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** What {@linkcode pushOffline} appends. */
export interface PushOfflineRequest {
  /** The push source (or stream source) whose batch source gets the rows. */
  readonly pushSource: string;
  readonly columns: ColumnData;
  /**
   * Require only the columns this feature view reads (the others are NULL when absent).
   * @default every column some view of the batch source reads
   */
  readonly forView?: string;
  /** How the new file's name starts. @default {"push"} */
  readonly prefix?: string;
  /**
   * Called with the new file's path once every value is checked, before the file is written
   * (the stream processor records which events the file will hold).
   */
  readonly beforeWrite?: (file: string) => Promise<void>;
  /** Writes the new file. @default {writeTable} */
  readonly write?: (
    file: string,
    columns: Record<string, unknown[]>,
    types: Record<string, ValueType>,
  ) => Promise<void>;
}

function batchSourceOf(doc: RegistryDocument, name: string): FileSourceSpec {
  const push = findObject(doc, "dataSource", name)?.spec;
  if (!hasBatchSource(push)) {
    throw new LarderError("NOT_FOUND", `Cannot find push source "${name}"`);
  }
  const batch = findObject(doc, "dataSource", push.batchSource)?.spec;
  if (batch?.kind === "postgres") {
    // The database's own pipelines own its tables (and a query source has none to write to).
    throw new LarderError(
      "INPUT_INVALID",
      `Cannot push to offline: ${push.kind} source "${push.name}" stores its rows in Postgres source "${batch.name}", which Larder reads but never writes: push with to "online", and insert the rows into ${
        batch.table !== undefined ? `table "${batch.table}"` : "the tables its query reads"
      } yourself`,
      { details: { pushSource: push.name, batchSource: batch.name } },
    );
  }
  if (batch?.kind !== "file") {
    throw new LarderError(
      "INPUT_INVALID",
      `${
        push.kind === "push" ? "Push" : "Stream"
      } source "${push.name}" has no file batch source "${push.batchSource}"`,
    );
  }
  return batch;
}

/**
 * The folder where {@linkcode pushOffline} puts new files of `source`'s batch source (a push or
 * stream source).
 */
export async function pushedFilesFolder(
  repoDir: string,
  doc: RegistryDocument,
  source: string,
): Promise<string> {
  const offline: Offline = await loadOffline("Pushing to the offline store");
  return (await target(offline, batchSourceOf(doc, source), repoDir)).dir;
}

/**
 * Appends `columns` to the batch source of `pushSource` as one new file. The file has the
 * columns of the source's existing file (the single file, or the first file of a folder or
 * glob), with the types it stores them as, plus any column a view of the source reads; a
 * column the rows do not give is NULL. Throws before anything is written: `INPUT_INVALID`
 * naming a column that a view of the source reads and the rows lack, or a value that does
 * not fit its column's type; `SOURCE_INVALID` when the single file does not exist.
 */
export async function pushOffline(
  repoDir: string,
  doc: RegistryDocument,
  request: PushOfflineRequest,
): Promise<{ files: string[] }> {
  const batch = batchSourceOf(doc, request.pushSource);
  const lengths = Object.entries(request.columns).map(([name, values]) =>
    [name, Array.isArray(values) ? values.length : -1] as const
  );
  if (new Set(lengths.map(([, n]) => n)).size > 1 || lengths.some(([, n]) => n < 0)) {
    throw new LarderError(
      "INPUT_INVALID",
      `Cannot push to offline: columns must be arrays of one length (${
        lengths.map(([name, n]) => `${name}: ${n < 0 ? "not an array" : n}`).join(", ")
      })`,
      { details: { lengths: Object.fromEntries(lengths) } },
    );
  }
  const read = columnsRead(doc, batch);
  const given = (column: string): readonly unknown[] | undefined =>
    ownValue(request.columns, column) ??
      ownValue(request.columns, ownValue(batch.fieldMapping, column) ?? "");
  const missing = [...read].filter(([c, r]) =>
    r.required && given(c) === undefined &&
    (request.forView === undefined || r.views.size === 0 || r.views.has(request.forView))
  );
  if (missing.length > 0) {
    const views = new Set(missing.flatMap(([, r]) => [...r.views]));
    throw new LarderError(
      "INPUT_INVALID",
      `Cannot push to offline: missing ${missing.length === 1 ? "column" : "columns"} ${
        quoted(missing.map(([c]) => c))
      } for batch source "${batch.name}"${
        views.size > 0
          ? `: ${views.size === 1 ? "feature view" : "feature views"} ${quoted(views)} ${
            views.size === 1 ? "reads" : "read"
          } ${missing.length === 1 ? "it" : "them"}`
          : ""
      }`,
      { details: { missing: missing.map(([c]) => c), views: [...views] } },
    );
  }

  const offline: Offline = await loadOffline("Pushing to the offline store");
  const place = await target(offline, batch, repoDir);
  // The file's columns first, in its order and types; then what the views read that it lacks.
  const layout: { name: string; type: ValueType | undefined }[] = [];
  if (place.reference !== undefined) {
    for (const c of await offline.fileColumns(place.reference, batch.format)) {
      const declared = read.get(c.name)?.type;
      if (c.type !== undefined || declared !== undefined || batch.format === "csv") {
        layout.push({ name: c.name, type: c.type ?? declared });
      }
    }
  }
  for (const [name, r] of read) {
    if (!layout.some((c) => c.name === name)) layout.push({ name, type: r.type });
  }

  const timestampColumn = fileColumnName(batch, batch.timestampField);
  const rowCount = Object.values(request.columns)[0]?.length ?? 0;
  const out: Record<string, unknown[]> = {};
  const types: Record<string, ValueType> = {};
  for (const column of layout) {
    const values = given(column.name);
    const typed = new Array<unknown>(rowCount);
    if (column.type === undefined) {
      // A CSV column no view reads: kept as text.
      for (let r = 0; r < rowCount; r++) typed[r] = csvText(values?.[r]);
      out[column.name] = typed;
      types[column.name] = "string";
      continue;
    }
    const type = column.type;
    // A value must fit the file's type and the type the views read it as.
    const declared = read.get(column.name)?.type;
    const also = declared !== undefined && declared !== type ? declared : undefined;
    for (let r = 0; r < rowCount; r++) {
      const raw = values?.[r] ?? null;
      const value = coerceValue(raw, type);
      const misfit = value === INVALID
        ? type
        : also !== undefined && coerceValue(raw, also) === INVALID
        ? also
        : undefined;
      const entry = read.get(column.name);
      const needed = entry !== undefined &&
        (request.forView === undefined || entry.views.has(request.forView));
      if (value === null && entry?.joinKey && needed) {
        throw new LarderError(
          "INPUT_INVALID",
          `Cannot push to offline: column "${column.name}", row ${r}: has no value, and it is a join key of ${
            entry.views.size === 1 ? "feature view" : "feature views"
          } ${quoted(entry.views)}: every row needs one`,
          { details: { column: column.name, row: r } },
        );
      }
      if (misfit !== undefined || (value === null && column.name === timestampColumn)) {
        const where = misfit !== undefined && misfit === type && also !== undefined
          ? ` (file "${place.reference}" stores the column as ${type})`
          : "";
        throw new LarderError(
          "INPUT_INVALID",
          `Cannot push to offline: column "${column.name}", row ${r}: ${
            misfit === undefined ? "has no event timestamp" : notOfType(raw, misfit)
          }${where}`,
          { details: { column: column.name, row: r } },
        );
      }
      // A Date holds milliseconds: timestamps go on as given, so ISO text keeps its microseconds.
      typed[r] = type === "timestamp" ? raw : value;
    }
    out[column.name] = typed;
    types[column.name] = type;
  }
  if (rowCount === 0) return { files: [] };

  const stamp = new Date().toISOString().replace(/[-:.]/g, "");
  const name = place.name(
    `${request.prefix ?? "push"}-${stamp}-${crypto.randomUUID().slice(0, 8)}`,
  );
  if (isObjectUrl(place.dir)) {
    // One PUT of a file written locally: a failed push stores nothing.
    const file = `${place.dir.replace(/\/+$/, "")}/${name}`;
    await request.beforeWrite?.(file);
    await writeObjectViaFile(file, (local) => (request.write ?? writeTable)(local, out, types));
    return { files: [file] };
  }
  const file = join(place.dir, name);
  const newFolder = !(await exists(place.dir));
  try {
    await request.beforeWrite?.(file);
    await (request.write ?? writeTable)(file, out, types);
  } catch (err) {
    // A folder made for this file goes with it (only if still empty).
    if (newFolder) await Deno.remove(place.dir).catch(() => {});
    throw err;
  }
  return { files: [file] };
}

/**
 * Warnings for rows pushed to single-file sources that nothing reads after an apply: `before`
 * had a file source over the file, and no file source of `after` names that file any more (it
 * was deleted, or moved to a folder or a glob), while the file's pushed-parts folder holds
 * parts. Those rows are not lost, but no source reads them.
 */
export async function unreadPushedParts(
  repoDir: string,
  before: RegistryDocument,
  after: ReadonlyMap<string, DataSourceSpec>,
): Promise<string[]> {
  const offline: Offline = await loadOffline("Reading pushed parts");
  const named = new Set<string>();
  for (const spec of after.values()) {
    if (spec.kind === "file") named.add((await offline.classifySourcePath(spec, repoDir)).path);
  }
  const warnings: string[] = [];
  for (const { spec } of Object.values(before.objects.dataSource)) {
    if (spec.kind !== "file" || offline.isGlob(spec.path)) continue;
    const { path } = await offline.classifySourcePath(spec, repoDir);
    if (named.has(path)) continue;
    const folder = offline.pushedPartsFolder(path);
    let parts = 0;
    try {
      for await (const entry of Deno.readDir(folder)) {
        if (entry.isFile && /^[^._].*\.(parquet|csv)$/i.test(entry.name)) parts++;
      }
    } catch (err) {
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) continue;
      throw err;
    }
    if (parts === 0) continue;
    warnings.push(
      `Rows pushed to "${spec.path}" are no longer read: data source "${spec.name}" read that file before this apply, and no data source names it now; its ${parts} pushed ${
        parts === 1 ? "part stays" : "parts stay"
      } in "${folder}": move them where the source reads now, or delete the folder`,
    );
  }
  return warnings;
}
