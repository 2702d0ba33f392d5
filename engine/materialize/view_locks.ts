/** `withViewLocks`: one materialization at a time per feature view, across processes. */
import { LarderError } from "../../registry/mod.ts";
import { type OnlineStore, withLocks } from "../online/mod.ts";

/** Options for {@linkcode withViewLocks}. */
export interface ViewLocksOptions {
  /** The feature views to lock. */
  readonly views: readonly string[];
  /**
   * Each lock's expiry; renewed every third of it while the work runs, so a crashed holder
   * blocks the view for at most this long.
   * @default {60000}
   */
  readonly ttlMs?: number | undefined;
}

const PREFIX = "materialize:";

/**
 * Runs `work` holding the lock `materialize:<view>` of every view in the online store, when the
 * store has `capabilities.locks` (otherwise runs it unlocked). When another materialization
 * holds one, throws `CONFLICT` naming the view (`details.view`), before `work` starts.
 *
 * @example
 * ```ts ignore
 * await withViewLocks(online, { views: ["driver_stats"] }, () => materializeViews());
 * ```
 */
export async function withViewLocks<T>(
  online: OnlineStore,
  options: ViewLocksOptions,
  work: () => Promise<T>,
): Promise<T> {
  if (!online.capabilities.locks) return await work();
  return await withLocks(online, {
    names: options.views.map((view) => `${PREFIX}${view}`),
    ttlMs: options.ttlMs ?? 60_000,
    conflict: (lock) => {
      const view = lock.slice(PREFIX.length);
      return new LarderError(
        "CONFLICT",
        `Feature view "${view}" is already being materialized: try again when that run ends`,
        { details: { view } },
      );
    },
  }, work);
}
