/**
 * The plug-in point for locks shared by every server process: a materialization holds one
 * lock per feature view in the shared store, with an expiry, so that a crashed holder never
 * blocks the view for longer than the lock's ttl.
 */

/** A held lock. */
export interface LockLease {
  readonly name: string;
  /** Pushes the expiry to `ttlMs` from now; `false` when the lock was lost (expired and taken). */
  extend(ttlMs: number): Promise<boolean>;
  /** Gives the lock up (only if still held by this lease). */
  release(): Promise<void>;
}

/** Locks in a store that every server process shares. */
export interface LockStore {
  /** Where the locks live, for messages. */
  readonly name: string;
  /** Takes `name` for `ttlMs`; `null` when someone else holds it. */
  acquire(name: string, ttlMs: number): Promise<LockLease | null>;
}
