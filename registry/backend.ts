/** The plug-in point for where the registry document lives. */

/** The document's text and the version it carries. */
export interface StoredText {
  /** The document's version, which writes compare and set. */
  readonly version: number;
  /** The document's JSON text. */
  readonly text: string;
}

/**
 * A registry backend stores one document and replaces it only by compare-and-set.
 * Every implementation passes `tests/contracts/registry_backend_contract.ts`.
 */
export interface RegistryBackend {
  /** Where the document lives, for messages (`file data/registry.json`). */
  readonly location: string;
  /** The stored document, or `null` when none has been written. */
  read(): Promise<StoredText | null>;
  /**
   * Stores `next` if the stored version is `expectedVersion` (0: nothing stored yet);
   * otherwise throws a `REGISTRY_CONFLICT` error and changes nothing.
   */
  compareAndSet(expectedVersion: number, next: StoredText): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
}
