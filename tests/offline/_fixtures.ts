/** Specs and data files for the offline engine's tests. */
import { join } from "node:path";
import type { Table } from "apache-arrow";
import type {
  EntitySpec,
  FeatureViewSpec,
  FieldSpec,
  FileSourceSpec,
  ScalarType,
} from "../../registry/mod.ts";
import { writeParquetFile } from "../../engine/offline/mod.ts";
import { tableFromRows } from "../../engine/offline/_values.ts";

export function entity(
  name: string,
  joinKeys: string[],
  valueType: ScalarType = "int64",
): EntitySpec {
  return { name, description: "", tags: {}, owner: "", joinKeys, valueType };
}

export function fileSource(
  name: string,
  path: string,
  options: Partial<
    Pick<FileSourceSpec, "format" | "timestampField" | "createdTimestampColumn" | "fieldMapping">
  > = {},
): FileSourceSpec {
  const spec: FileSourceSpec = {
    name,
    description: "",
    tags: {},
    owner: "",
    kind: "file",
    path,
    format: options.format ?? (path.endsWith(".csv") ? "csv" : "parquet"),
    timestampField: options.timestampField ?? "event_timestamp",
    fieldMapping: options.fieldMapping ?? {},
  };
  if (options.createdTimestampColumn !== undefined) {
    spec.createdTimestampColumn = options.createdTimestampColumn;
  }
  return spec;
}

export function featureView(
  name: string,
  options: { entities: string[]; features: FieldSpec[]; source: string; ttlSeconds?: number },
): FeatureViewSpec {
  return {
    name,
    description: "",
    tags: {},
    owner: "",
    entities: options.entities,
    ttlSeconds: options.ttlSeconds ?? 0,
    features: options.features,
    source: options.source,
    online: true,
    offline: true,
  };
}

/** A fresh temporary directory. */
export function tempDir(): Promise<string> {
  return Deno.makeTempDir({ prefix: "larder_offline_test_" });
}

/** Writes row objects as a Parquet file under `dir`; returns the absolute path. */
export async function writeRowsParquet(
  dir: string,
  name: string,
  rows: Record<string, unknown>[] | Table,
): Promise<string> {
  const path = join(dir, name);
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await writeParquetFile(path, Array.isArray(rows) ? tableFromRows(rows) : rows);
  return path;
}

/** Writes CSV text under `dir`; returns the absolute path. */
export async function writeText(dir: string, name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeTextFile(path, text);
  return path;
}

/** `new Date(iso)`, shorter. */
export function t(iso: string): Date {
  return new Date(iso.endsWith("Z") || /[+-]\d\d:\d\d$/.test(iso) ? iso : `${iso}Z`);
}
