/**
 * Source validation on apply: every source file has the columns its views name, typed
 * compatibly, and every CSV value parses as its declared type.
 */
import { type EntitySpec, LarderError, type RepoContents } from "../registry/mod.ts";
import type { OfflineStore } from "./offline/offline_store.ts";

/**
 * Checks every feature view's file source (a push source's batch source) against the view:
 * each feature, join key and timestamp column exists with a compatible type, and in CSV files
 * every value of those columns parses as declared. Throws one
 * `SOURCE_INVALID` error listing every problem.
 */
export async function validateSources(
  contents: RepoContents,
  offline: OfflineStore,
  repoDir: string,
): Promise<void> {
  const problems: string[] = [];
  for (const view of contents.featureView.values()) {
    let source = contents.dataSource.get(view.source);
    if (source?.kind === "push") source = contents.dataSource.get(source.batchSource);
    if (!source || source.kind !== "file") continue;
    const entities = view.entities
      .map((e) => contents.entity.get(e))
      .filter((e): e is EntitySpec => e !== undefined);
    try {
      problems.push(...await offline.checkSource({ repoDir, view, source, entities }));
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
