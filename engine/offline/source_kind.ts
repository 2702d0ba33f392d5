/** Which kinds of batch source an offline store reads, checked before it touches one. */
import type { BatchSourceSpec } from "../../registry/mod.ts";
import { LarderError } from "../../registry/mod.ts";

const HINT: Readonly<Record<BatchSourceSpec["kind"], string>> = {
  file: "set offline_store.type to duckdb (the default) in larder.yaml to read files",
  postgres: "set offline_store.type to postgres in larder.yaml to read Postgres sources",
};

/**
 * `source`, narrowed to `kind`; throws `SOURCE_INVALID` naming the source when it is of
 * another kind, which the store `store` does not read.
 */
export function requireSourceKind<K extends BatchSourceSpec["kind"]>(
  source: BatchSourceSpec,
  kind: K,
  store: string,
): Extract<BatchSourceSpec, { kind: K }> {
  if (source.kind === kind) return source as Extract<BatchSourceSpec, { kind: K }>;
  throw new LarderError(
    "SOURCE_INVALID",
    `Data source "${source.name}" is a ${source.kind} source, which the ${store} offline store does not read: ${
      HINT[source.kind]
    }`,
    { details: { source: source.name, kind: source.kind, store } },
  );
}
