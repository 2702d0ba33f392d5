/** The plug-in point for the online store (low-latency serving of the latest values). */
import { LarderError } from "../../registry/mod.ts";
import type { LockState } from "./lock_holder.ts";

/** A value as stored online: JSON, typed by the view's schema (see `value_codec.ts`). */
export type StoredValue = null | boolean | number | string | StoredValue[];

/** The latest row of one entity key in one feature view. */
export interface OnlineRecord {
  /**
   * Event timestamp, epoch microseconds (an integer: exact from about 1685 to 2255), the
   * precision of Parquet and DuckDB timestamps.
   */
  readonly eventMicros: number;
  /** Created timestamp, epoch microseconds, or `null` when the source has none. */
  readonly createdMicros: number | null;
  /** Feature name -> encoded value. */
  readonly values: Readonly<Record<string, StoredValue>>;
}

/** A row to write: its canonical entity key (see `entity_key.ts`) and its record. */
export interface OnlineRow {
  /** The canonical entity key. */
  readonly entityKey: string;
  /** The values and timestamps to store. */
  readonly record: OnlineRecord;
}

/** Where one record lives. */
export interface OnlineKey {
  /** The feature view (or write-time on-demand view) the record belongs to. */
  readonly view: string;
  /** The canonical entity key. */
  readonly entityKey: string;
}

/** What a write did. */
export interface OnlineWriteResult {
  /** Rows stored. */
  readonly written: number;
  /** Rows not stored because the store held a row at least as new (same or later event ts). */
  readonly skipped: number;
}

/** What a backend can do beyond the contract, asked by shared code instead of its type. */
export interface OnlineStoreCapabilities {
  /** Rows expire a configured time after they are written (`key_ttl_seconds`). */
  readonly ttl: boolean;
  /** A read of any number of keys is one network round trip. */
  readonly singleRoundTripRead: boolean;
  /**
   * {@linkcode OnlineStore.acquireLock} takes locks in the store itself, so every process using
   * the store sees them (materialization holds one per feature view).
   */
  readonly locks: boolean;
}

/** A lock held in the online store, until it expires or is released. */
export interface LockLease {
  /** The lock's name. */
  readonly name: string;
  /**
   * Sets the expiry to `ttlMs` from now; `false` when this lease no longer holds the lock (it
   * expired, and maybe someone else took it).
   */
  extend(ttlMs: number): Promise<boolean>;
  /** Gives the lock up, only if this lease still holds it. */
  release(): Promise<void>;
}

/** The answer of {@linkcode OnlineStore.viewsWithData}. */
export interface ViewsWithData {
  /** Feature views of the project with at least one stored row, sorted. */
  readonly views: readonly string[];
  /** `false` when the store looked at only part of its keys: other views may hold rows too. */
  readonly complete: boolean;
}

/**
 * An online store. Implementations pass `tests/contracts/online_store_contract.ts`.
 *
 * Every write is skip-if-not-newer, atomically in the store: a row replaces the stored one
 * only when its event timestamp is strictly later, so concurrent writers never replace newer
 * data with older, and an equal timestamp never overwrites.
 */
export interface OnlineStore {
  /** The backend and where it lives, for messages (`redis http://127.0.0.1:8079`). */
  readonly name: string;
  /** What the store can do (shared code asks these, never the concrete type). */
  readonly capabilities: OnlineStoreCapabilities;
  /**
   * Writes rows of one view, skip-if-not-newer. Rows should have distinct entity keys (when
   * they do not, the newest wins and an equal timestamp keeps whichever landed first).
   * Throws `UNAVAILABLE` when the store cannot be reached; rows sent before may be stored.
   */
  write(view: string, rows: readonly OnlineRow[]): Promise<OnlineWriteResult>;
  /** Reads records, one per key in order (`null`: none stored). */
  read(keys: readonly OnlineKey[]): Promise<(OnlineRecord | null)[]>;
  /** Removes every stored row of these feature views. */
  deleteViews(views: readonly string[]): Promise<void>;
  /** Removes every stored row of the project (locks are not rows: they stay). */
  deleteAll(): Promise<void>;
  /**
   * Which feature views of the project hold rows (locks are not rows). A backend that can only
   * scan all its keys looks at about `maxKeys` of them (default 10,000) and says whether it saw
   * them all. For warnings, not for decisions.
   */
  viewsWithData(options?: { readonly maxKeys?: number }): Promise<ViewsWithData>;
  /**
   * Takes the lock `name` of this project for `ttlMs` milliseconds, atomically in the store,
   * recording this process as its holder (host, pid, since); `null` when another lease holds it. An expired lock is free, so a crashed holder blocks
   * nobody for longer than its ttl. Throws `UNAVAILABLE` when `capabilities.locks` is false.
   */
  acquireLock(name: string, ttlMs: number): Promise<LockLease | null>;
  /**
   * The lock `name` as stored: who took it (host, pid, since) and when it expires unless its
   * holder renews it; `null` when it is free (never taken, released or expired).
   */
  inspectLock(name: string): Promise<LockState | null>;
  /**
   * Removes the lock `name` if it is still exactly as {@linkcode OnlineStore.inspectLock} saw it
   * (`token`), whoever holds it: for a holder that crashed. `false` when it changed since:
   * released, expired, taken by someone else, or renewed by its holder (which is then alive).
   * The broken lease's `extend` then answers `false`.
   */
  breakLock(name: string, token: string): Promise<boolean>;
  /** Releases connections. */
  close(): Promise<void>;
}

/**
 * A local store's failure as callers see it: `UNAVAILABLE`, naming the store and what it was
 * doing (`Cannot read from the online store (sqlite data/online.sqlite): ...`); a `LarderError`
 * passes through as it is.
 */
export function storeFailure(store: string, err: unknown, action: string): LarderError {
  if (err instanceof LarderError) return err;
  return new LarderError(
    "UNAVAILABLE",
    `Cannot ${action} the online store (${store}): ${
      err instanceof Error ? err.message : String(err)
    }`,
    { cause: err },
  );
}
