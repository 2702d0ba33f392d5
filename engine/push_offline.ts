/**
 * Push to offline: rows of a push source appended as a NEW file under its batch source
 * (a folder, or a glob whose last segment is `*` + an extension), never rewriting an existing
 * file, so later historical retrievals read them with the rest. Loaded lazily (it writes
 * Parquet through parquet-wasm).
 */
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import {
  type FileSourceSpec,
  findObject,
  LarderError,
  ownValue,
  type RegistryDocument,
  type ValueType,
} from "../registry/mod.ts";
import { coerceValue, INVALID, notOfType } from "./online/value_codec.ts";
import { writeTable } from "./table_writer.ts";

/** Columns of pushed rows: name -> values. */
export type ColumnData = Readonly<Record<string, readonly unknown[]>>;

const GLOB = /[*?[\]{}]/;

/** The folder new files go to, and the name pattern they must have, for a batch source path. */
async function target(
  source: FileSourceSpec,
  repoDir: string,
): Promise<{ dir: string; name: (id: string) => string }> {
  const full = isAbsolute(source.path) ? source.path : resolve(repoDir, source.path);
  const ext = `.${source.format}`;
  if (GLOB.test(source.path)) {
    const last = basename(full);
    const dir = dirname(full).replace(/[\\/]\*\*$/, "");
    const m = /^([^*?[\]{}]*)\*([^*?[\]{}]*)$/.exec(last);
    if (!GLOB.test(dir) && m && m[2]!.toLowerCase().endsWith(ext)) {
      return { dir, name: (id) => `${m[1]}${id}${m[2]}` };
    }
    throw new LarderError(
      "INPUT_INVALID",
      `Cannot push to offline: batch source "${source.name}" has the glob "${source.path}", which has no single folder for new files; use a folder or a pattern such as "data/stats/*${ext}"`,
      { details: { source: source.name, path: source.path } },
    );
  }
  let isDirectory = false;
  try {
    isDirectory = (await Deno.stat(full)).isDirectory;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    isDirectory = !/\.(parquet|csv)$/i.test(full);
  }
  if (isDirectory) return { dir: full, name: (id) => `${id}${ext}` };
  throw new LarderError(
    "INPUT_INVALID",
    `Cannot push to offline: batch source "${source.name}" is the single file "${source.path}", which is never rewritten; make its path a folder or a glob such as "${
      dirname(source.path)
    }/*${ext}" so that pushes can add files`,
    { details: { source: source.name, path: source.path } },
  );
}

/**
 * Appends `columns` to the batch source of `pushSource` as one new file, with the columns the
 * fed views need (join keys, features and timestamps, named as in the source files). Throws
 * `INPUT_INVALID` naming a missing column or a value that does not fit its type; nothing is
 * written then.
 */
export async function pushOffline(
  repoDir: string,
  doc: RegistryDocument,
  request: { readonly pushSource: string; readonly columns: ColumnData },
): Promise<{ files: string[] }> {
  const push = findObject(doc, "dataSource", request.pushSource)?.spec;
  if (push?.kind !== "push") {
    throw new LarderError("NOT_FOUND", `Cannot find push source "${request.pushSource}"`);
  }
  const batch = findObject(doc, "dataSource", push.batchSource)?.spec;
  if (batch?.kind !== "file") {
    throw new LarderError(
      "INPUT_INVALID",
      `Push source "${push.name}" has no file batch source "${push.batchSource}"`,
    );
  }
  const sourceName = new Map(Object.entries(batch.fieldMapping).map(([from, to]) => [to, from]));
  const schema = new Map<string, ValueType>();
  const required = new Set<string>();
  const need = (name: string, type: ValueType, mandatory: boolean) => {
    const column = sourceName.get(name) ?? name;
    schema.set(column, type);
    if (mandatory) required.add(column);
  };
  for (const view of Object.values(doc.objects.featureView)) {
    if (view.spec.source !== push.name) continue;
    for (const entityName of view.spec.entities) {
      const entity = findObject(doc, "entity", entityName)?.spec;
      for (const key of entity?.joinKeys ?? []) need(key, entity!.valueType, true);
    }
    for (const feature of view.spec.features) need(feature.name, feature.type, true);
  }
  const timestampColumn = sourceName.get(batch.timestampField) ?? batch.timestampField;
  need(batch.timestampField, "timestamp", true);
  if (batch.createdTimestampColumn) need(batch.createdTimestampColumn, "timestamp", false);

  const rowCount = Object.values(request.columns)[0]?.length ?? 0;
  const given = (column: string): readonly unknown[] | undefined =>
    ownValue(request.columns, column) ??
      ownValue(request.columns, ownValue(batch.fieldMapping, column) ?? "");
  const missing = [...required].filter((c) => given(c) === undefined);
  if (missing.length > 0) {
    throw new LarderError(
      "INPUT_INVALID",
      `Cannot push to offline: missing ${missing.length === 1 ? "column" : "columns"} ${
        missing.map((c) => `"${c}"`).join(", ")
      } for batch source "${batch.name}"`,
      { details: { missing } },
    );
  }
  const out: Record<string, unknown[]> = {};
  const types: Record<string, ValueType> = {};
  for (const [column, type] of schema) {
    const values = given(column);
    const typed = new Array<unknown>(rowCount);
    for (let r = 0; r < rowCount; r++) {
      const raw = values?.[r] ?? null;
      const value = coerceValue(raw, type);
      if (value === INVALID || (value === null && column === timestampColumn)) {
        throw new LarderError(
          "INPUT_INVALID",
          `Cannot push to offline: column "${column}", row ${r}: ${
            value === null ? "has no event timestamp" : notOfType(raw, type)
          }`,
          { details: { column, row: r } },
        );
      }
      // A Date holds milliseconds: timestamps go on as given, so ISO text keeps its microseconds.
      typed[r] = type === "timestamp" ? raw : value;
    }
    out[column] = typed;
    types[column] = type;
  }
  if (rowCount === 0) return { files: [] };
  const { dir, name } = await target(batch, repoDir);
  const stamp = new Date().toISOString().replace(/[-:.]/g, "");
  const file = join(dir, name(`push-${stamp}-${crypto.randomUUID().slice(0, 8)}`));
  await writeTable(file, out, types);
  return { files: [file] };
}
