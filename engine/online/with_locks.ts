/** `withLocks`: runs work while holding locks of the online store, renewing them until it ends. */
import type { LockLease, OnlineStore } from "./online_store.ts";

/** Options for {@linkcode withLocks}. */
export interface WithLocksOptions {
  /** The locks to hold; taken in sorted order, so that two callers cannot deadlock. */
  readonly names: readonly string[];
  /** Each lock's expiry; it is renewed every third of it while the work runs. */
  readonly ttlMs: number;
  /** The error to throw when `name` is held by someone else. */
  readonly conflict: (name: string) => Error | Promise<Error>;
  /**
   * The reason `work`'s signal is aborted with when a renewal finds a lock gone (it expired,
   * or someone broke it): the work should stop, since another run may now hold it.
   */
  readonly lost?: (name: string) => Error;
}

/**
 * Renews every lock now and resolves once each renewal answered that it still holds its lock;
 * rejects (and aborts `work`'s signal) with `lost(name)` when one no longer does, or with the
 * store's error when one cannot be renewed. Call it right before making the work's result
 * visible: it then holds for a whole `ttlMs`, unless someone breaks a lock by force.
 */
export type VerifyLocks = () => Promise<void>;

/**
 * Takes every lock in `options.names` in the store, runs `work`, and releases them. When one
 * is held elsewhere, releases those taken and throws `options.conflict(name)` without running
 * `work`. When a renewal finds a lock no longer held (it expired while the process stalled, or
 * another process broke it), `work`'s signal is aborted with `options.lost(name)`. Renewals run
 * every `ttlMs / 3`, so the signal may learn of a loss that late: before committing its result,
 * `work` calls `verify()` ({@linkcode VerifyLocks}), which renews every lock at once. The
 * store must have `capabilities.locks`.
 *
 * @example
 * ```ts
 * import { DenoKvOnlineStore } from "./deno_kv_store.ts";
 * import { withLocks } from "./with_locks.ts";
 * const store = await DenoKvOnlineStore.open({ project: "demo", path: ":memory:" });
 * await withLocks(store, {
 *   names: ["materialize:stats"],
 *   ttlMs: 60_000,
 *   conflict: (name) => new Error(`"${name}" is held`),
 * }, async (signal, verify) => {
 *   signal.throwIfAborted();
 *   await verify(); // still held: record the result
 * });
 * await store.close();
 * ```
 */
export async function withLocks<T>(
  store: Pick<OnlineStore, "acquireLock">,
  options: WithLocksOptions,
  work: (signal: AbortSignal, verify: VerifyLocks) => Promise<T>,
): Promise<T> {
  const held: LockLease[] = [];
  const releaseAll = () => Promise.all(held.map((l) => l.release().catch(() => {})));
  try {
    for (const name of [...new Set(options.names)].sort()) {
      const lease = await store.acquireLock(name, options.ttlMs);
      if (!lease) throw await options.conflict(name);
      held.push(lease);
    }
  } catch (err) {
    await releaseAll();
    throw err;
  }
  const controller = new AbortController();
  const lost = options.lost ?? ((name: string) => new Error(`Lost the lock "${name}"`));
  const lose = (lease: LockLease): void => {
    if (!controller.signal.aborted) controller.abort(lost(lease.name));
  };
  const renew = setInterval(() => {
    for (const lease of held) {
      lease.extend(options.ttlMs).then((kept) => {
        if (!kept) lose(lease);
      }, () => {});
    }
  }, Math.max(options.ttlMs / 3, 10));
  const verify: VerifyLocks = async () => {
    controller.signal.throwIfAborted();
    const kept = await Promise.all(held.map((lease) => lease.extend(options.ttlMs)));
    kept.forEach((ok, i) => {
      if (!ok) lose(held[i]!);
    });
    controller.signal.throwIfAborted();
  };
  try {
    return await work(controller.signal, verify);
  } finally {
    clearInterval(renew);
    await releaseAll();
  }
}
