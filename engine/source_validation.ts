/**
 * Source validation on apply: every source file has the columns its views name, typed
 * compatibly, and every CSV value parses as its declared type.
 */
import {
  type BatchSourceSpec,
  type EntitySpec,
  LarderError,
  type ObjectKind,
  type Plan,
  type RepoContents,
} from "../registry/mod.ts";
import type { OfflineStore, SourceReader } from "./offline/offline_store.ts";

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
 * The batch sources (files, Postgres tables) to check and the views of each that read them (a push source's views read
 * its batch source).
 */
export function sourcesToCheck(
  contents: RepoContents,
  options: ValidateSourcesOptions = {},
): { source: BatchSourceSpec; views: SourceReader[] }[] {
  const isChanged = options.plan ? changed(options.plan) : () => true;
  const bySource = new Map<string, { source: BatchSourceSpec; views: SourceReader[] }>();
  for (const view of contents.featureView.values()) {
    const direct = contents.dataSource.get(view.source);
    const source = direct?.kind === "push" ? contents.dataSource.get(direct.batchSource) : direct;
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
      if (err instanceof LarderError && err.code === "SOURCE_INVALID") problems.push(err.message);
      else throw err;
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
