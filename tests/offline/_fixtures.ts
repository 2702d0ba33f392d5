/** Specs and data files for the offline engine's tests. */
import { join } from "node:path";
import type { Table } from "apache-arrow";
import { writeParquetFile } from "../../engine/offline/mod.ts";
import { tableFromRows } from "../../engine/offline/_values.ts";

export { entity, featureView, fileSource, t } from "../support/specs.ts";

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
