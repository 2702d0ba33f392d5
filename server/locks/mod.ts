/**
 * @module
 * Locks shared by every server process (materialization runs one at a time per view).
 *
 * @example
 * ```ts
 * import { KvLockStore, withLocks } from "./mod.ts";
 * const kv = await Deno.openKv(":memory:");
 * const locks = new KvLockStore(kv, { project: "demo" });
 * await withLocks(locks, ["materialize:stats"], {
 *   ttlMs: 60_000,
 *   conflict: (name) => new Error(`${name} is busy`),
 * }, async () => {});
 * kv.close();
 * ```
 */
export type { LockLease, LockStore } from "./lock_store.ts";
export { KvLockStore } from "./kv_lock_store.ts";
export { withLocks, type WithLocksOptions } from "./with_locks.ts";
