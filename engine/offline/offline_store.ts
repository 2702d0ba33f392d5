/** The plug-in point for the offline engine (historical retrieval, source reads). */
import type { FileSourceSpec, ValueType } from "../../registry/mod.ts";

/** A column of a source file as stored (before `fieldMapping`). */
export interface SourceColumn {
  readonly name: string;
  /** The engine's own type name, for messages (e.g. `DOUBLE`, `TIMESTAMP WITH TIME ZONE`). */
  readonly physicalType: string;
  /** The closest Larder value type, or `undefined` when there is none. */
  readonly valueType: ValueType | undefined;
}

/**
 * An offline engine. Implementations pass `tests/contracts/offline_store_contract.ts`.
 * Paths in source specs are relative to `repoDir`.
 */
export interface OfflineStore {
  /** Columns of a file source; throws `SOURCE_INVALID` when files are missing or unreadable. */
  describeSource(source: FileSourceSpec, repoDir: string): Promise<SourceColumn[]>;
  /** Releases the engine (WASM memory, workers). */
  close(): Promise<void>;
}
