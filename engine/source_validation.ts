/**
 * Source validation on apply: every source file has the columns its views name, typed
 * compatibly, and every CSV value parses as its declared type.
 */
import {
  type BatchSourceSpec,
  type EntitySpec,
  type FileSourceSpec,
  hasBatchSource,
  LarderError,
  type ObjectKind,
  type Plan,
  type RepoContents,
} from "../registry/mod.ts";
import type { OfflineStore, SourceReader } from "./offline/offline_store.ts";
import { isAbsolute, join, resolve } from "node:path";

/** Options for {@linkcode validateSources}. */
export interface ValidateSourcesOptions {
  /**
   * Check only what this plan changes: the feature views it creates or updates, and those whose
   * source (or batch source) or entities it creates or updates.
   * @default {every feature view}
   */
  readonly plan?: Plan;
}

/** The names of the objects `plan` creates or updates, per kind. */
function changed(plan: Plan): (kind: ObjectKind, name: string) => boolean {
  const names = new Set(
    plan.changes.filter((c) => c.action === "create" || c.action === "update")
      .map((c) => `${c.kind}\u0000${c.name}`),
  );
  return (kind, name) => names.has(`${kind}\u0000${name}`);
}

/**
 * The batch sources (files, Postgres tables) to check and the views of each that read them (a
 * push or stream source's views read its batch source). Stream feature views with a transform
 * are not checked: their columns are what the transform returns, which reach the batch source
 * only as the stream processor appends them.
 */
export function sourcesToCheck(
  contents: RepoContents,
  options: ValidateSourcesOptions = {},
): { source: BatchSourceSpec; views: SourceReader[] }[] {
  const isChanged = options.plan ? changed(options.plan) : () => true;
  const bySource = new Map<string, { source: BatchSourceSpec; views: SourceReader[] }>();
  for (const view of contents.featureView.values()) {
    if (view.stream?.transformHash !== undefined) continue;
    const direct = contents.dataSource.get(view.source);
    const source = hasBatchSource(direct) ? contents.dataSource.get(direct.batchSource) : direct;
    if (!source || (source.kind !== "file" && source.kind !== "postgres")) continue;
    const affected = isChanged("featureView", view.name) ||
      isChanged("dataSource", view.source) || isChanged("dataSource", source.name) ||
      view.entities.some((e) => isChanged("entity", e));
    if (!affected) continue;
    const entities = view.entities
      .map((e) => contents.entity.get(e))
      .filter((e): e is EntitySpec => e !== undefined);
    const group = bySource.get(source.name) ?? { source, views: [] };
    group.views.push({ view, entities });
    bySource.set(source.name, group);
  }
  return [...bySource.values()];
}

/** Whether `dir` holds a `.parquet` file, at any depth. */
async function hasParquet(dir: string): Promise<boolean> {
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.endsWith(".parquet")) return true;
      if (entry.isDirectory && await hasParquet(join(dir, entry.name))) return true;
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
      return false;
    }
    throw err;
  }
  return false;
}

/**
 * Whether `source` reads a feature service's log (its destination folder, or `**` /
 * `**\/*.parquet` under it) that no server has written to yet: nothing to check until the
 * first part.
 */
async function isUnwrittenLog(
  source: FileSourceSpec,
  contents: RepoContents,
  repoDir: string,
): Promise<boolean> {
  const absolute = (path: string) => isAbsolute(path) ? path : resolve(repoDir, path);
  const read = absolute(source.path.replace(/\/\*\*(\/\*\.parquet)?$/, ""));
  for (const service of contents.featureService.values()) {
    const destination = service.logging?.destination.path;
    if (destination === undefined || absolute(destination) !== read) continue;
    return !await hasParquet(read);
  }
  return false;
}

/**
 * Checks the feature views' file sources (a push source's batch source) against the views:
 * each feature, join key and timestamp column exists with a compatible type, and in CSV files
 * every value of those columns parses as declared, each source's files read once for all its
 * views. With `plan`, only what it changes. Throws one `SOURCE_INVALID` error listing every
 * problem. The offline store is asked for only when there is something to check.
 */
export async function validateSources(
  contents: RepoContents,
  offline: () => Promise<OfflineStore>,
  repoDir: string,
  options: ValidateSourcesOptions = {},
): Promise<void> {
  const problems: string[] = [];
  for (const { source, views } of sourcesToCheck(contents, options)) {
    try {
      problems.push(...await (await offline()).checkSource({ repoDir, source, views }));
    } catch (err) {
      if (!(err instanceof LarderError) || err.code !== "SOURCE_INVALID") throw err;
      if (source.kind !== "file" || !await isUnwrittenLog(source, contents, repoDir)) {
        problems.push(err.message);
      }
    }
  }
  if (problems.length > 0) {
    throw new LarderError(
      "SOURCE_INVALID",
      (problems.length === 1
        ? problems[0]!
        : `Source validation found ${problems.length} problems:\n  ${problems.join("\n  ")}`) +
        "\n(apply --skip-source-validation skips this check)",
      { details: { problems } },
    );
  }
}
