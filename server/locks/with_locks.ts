/** Runs work while holding several locks, renewing them until it ends. */
import type { LockLease, LockStore } from "./lock_store.ts";

/** Options for {@linkcode withLocks}. */
export interface WithLocksOptions {
  /** Each lock's expiry; it is renewed every third of it while the work runs. */
  readonly ttlMs: number;
  /** The error to throw when `name` is held by someone else. */
  readonly conflict: (name: string) => Error;
}

/**
 * Takes every lock in `names` (in sorted order, so that two callers cannot deadlock), runs
 * `work`, and releases them. When one is held elsewhere, releases those taken and throws
 * `options.conflict(name)` without running `work`.
 */
export async function withLocks<T>(
  locks: LockStore,
  names: readonly string[],
  options: WithLocksOptions,
  work: () => Promise<T>,
): Promise<T> {
  const held: LockLease[] = [];
  const releaseAll = () => Promise.all(held.map((l) => l.release().catch(() => {})));
  try {
    for (const name of [...new Set(names)].sort()) {
      const lease = await locks.acquire(name, options.ttlMs);
      if (!lease) throw options.conflict(name);
      held.push(lease);
    }
  } catch (err) {
    await releaseAll();
    throw err;
  }
  const renew = setInterval(() => {
    for (const lease of held) lease.extend(options.ttlMs).catch(() => {});
  }, Math.max(options.ttlMs / 3, 10));
  try {
    return await work();
  } finally {
    clearInterval(renew);
    await releaseAll();
  }
}
