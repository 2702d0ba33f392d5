/** Where a feature view's rows come from offline: its batch source, or its push source's. */
import { findObject, type RegistryDocument } from "./document.ts";
import { LarderError } from "./errors.ts";
import type {
  BatchSourceSpec,
  DataSourceSpec,
  FeatureViewSpec,
  PushSourceSpec,
  StreamSourceSpec,
} from "./specs.ts";

/** Whether a source keeps its rows in a batch source (push and stream sources). */
export function hasBatchSource(
  source: DataSourceSpec | undefined,
): source is PushSourceSpec | StreamSourceSpec {
  return source?.kind === "push" || source?.kind === "stream";
}

/**
 * The batch source (files or a Postgres table) holding a view's rows: the view's source, or for a push source its batch
 * source. Throws `NOT_FOUND` when the registry lacks it and `INPUT_INVALID` for a request source.
 */
export function viewBatchSource(doc: RegistryDocument, view: FeatureViewSpec): BatchSourceSpec {
  let source = findObject(doc, "dataSource", view.source)?.spec;
  if (hasBatchSource(source)) source = findObject(doc, "dataSource", source.batchSource)?.spec;
  if (!source) {
    throw new LarderError(
      "NOT_FOUND",
      `Feature view "${view.name}": the registry has no data source "${view.source}" (or its batch source)`,
    );
  }
  if (source.kind !== "file" && source.kind !== "postgres") {
    throw new LarderError(
      "INPUT_INVALID",
      `Feature view "${view.name}": source "${source.name}" is a ${source.kind} source, which holds no rows`,
    );
  }
  return source;
}
