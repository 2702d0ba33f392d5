/**
 * `withViewLocks`: one materialization at a time per feature view, across processes; and
 * `breakViewLocks`: freeing the lock of a run that crashed, without waiting for it to expire.
 */
import { LarderError } from "../../registry/mod.ts";
import {
  describeHolder,
  holderEnded,
  type LockHolder,
  type LockState,
  type OnlineStore,
  type VerifyLocks,
  withLocks,
} from "../online/mod.ts";

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

/** The name of a view's materialization lock. */
export function viewLockName(view: string): string {
  return `${PREFIX}${view}`;
}

function isoSeconds(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : "never";
}

/** The `CONFLICT` for a view whose lock `state` is held by another run. */
function heldError(view: string, state: LockState | null): LarderError {
  if (state === null) {
    return new LarderError(
      "CONFLICT",
      `Feature view "${view}" is already being materialized: try again when that run ends`,
      { details: { view } },
    );
  }
  return new LarderError(
    "CONFLICT",
    `Feature view "${view}" is already being materialized by ${
      describeHolder(state.holder)
    } (its lock expires at ${
      isoSeconds(state.expiresAt)
    } unless that run renews it): try again when that run ends, or if it crashed, break its lock with "larder unlock ${view}"`,
    {
      details: {
        view,
        ...(state.holder ? { holder: state.holder } : {}),
        expiresAt: isoSeconds(state.expiresAt),
      },
    },
  );
}

/**
 * Runs `work` holding the lock `materialize:<view>` of every view in the online store, when the
 * store has `capabilities.locks` (otherwise runs it unlocked). When another materialization
 * holds one, throws `CONFLICT` naming the view and the holder (host, pid, since) and when the
 * lock expires (`details.view`, `details.holder`, `details.expiresAt`), before `work` starts.
 * `work`'s signal is aborted (with `CONFLICT`) if a renewal finds a lock lost meanwhile
 * (broken by {@linkcode breakViewLocks} with `force`, or expired while the process stalled);
 * `verify()` renews every lock at once and rejects with that `CONFLICT` (see
 * {@linkcode VerifyLocks}): `work` calls it right before it records anything.
 *
 * @example
 * ```ts ignore
 * await withViewLocks(online, { views: ["driver_stats"] }, async (signal, verify) => {
 *   await materializeViews(signal);
 *   await verify();
 *   await recordWindows();
 * });
 * ```
 */
export async function withViewLocks<T>(
  online: OnlineStore,
  options: ViewLocksOptions,
  work: (signal: AbortSignal | undefined, verify: VerifyLocks) => Promise<T>,
): Promise<T> {
  if (!online.capabilities.locks) return await work(undefined, () => Promise.resolve());
  return await withLocks(online, {
    names: options.views.map(viewLockName),
    ttlMs: options.ttlMs ?? 60_000,
    conflict: async (lock) => {
      const view = lock.slice(PREFIX.length);
      const state = await online.inspectLock(lock).catch(() => null);
      return heldError(view, state);
    },
    lost: (lock) =>
      new LarderError(
        "CONFLICT",
        `Feature view "${
          lock.slice(PREFIX.length)
        }" lost its materialization lock (another process broke it, or it expired while this one stalled): stopped, and nothing was recorded for it`,
        { details: { view: lock.slice(PREFIX.length) } },
      ),
  }, work);
}

/** Options for {@linkcode breakViewLocks}. */
export interface BreakViewLocksOptions {
  /** The feature views whose materialization locks to break. */
  readonly views: readonly string[];
  /**
   * Break a lock even when its holder may be alive: it runs on another host or in another
   * container (Larder cannot see whether it is alive), or it is a running process of this
   * host. That run then stops before it records its window, recording nothing.
   * @default {false}
   */
  readonly force?: boolean | undefined;
}

/** What {@linkcode breakViewLocks} did to one view's lock. */
export interface BrokenViewLock {
  /** The feature view whose lock it is. */
  readonly view: string;
  /** `free`: nobody held it; `broken`: it was held and is now free. */
  readonly status: "free" | "broken";
  /** Who held the lock (`null` when free, or when written without holder information). */
  readonly holder: LockHolder | null;
  /** Why breaking it was safe, or that it was forced. */
  readonly reason?: string;
}

/**
 * Breaks the materialization lock of each view that a crashed run left behind, so that a new
 * run need not wait for it to expire. Without `force`, only a lock whose holder is a process
 * that has ended, of this host, this pid namespace and this boot, is broken; a lock held by a
 * running process, or by a process Larder cannot see (another host or container, or a holder
 * recorded without its pid namespace and boot id), is `CONFLICT` naming the holder and the
 * expiry, and nothing is broken. Each lock is removed only if it is still exactly as
 * inspected: a lock taken meanwhile by a new run is never broken, and one its holder renewed
 * meanwhile (so it is alive) is `CONFLICT` unless `force`.
 *
 * @example
 * ```ts ignore
 * const broken = await breakViewLocks(online, { views: ["driver_stats"] });
 * ```
 */
export async function breakViewLocks(
  online: OnlineStore,
  options: BreakViewLocksOptions,
): Promise<BrokenViewLock[]> {
  if (!online.capabilities.locks) {
    throw new LarderError(
      "UNAVAILABLE",
      `The online store (${online.name}) holds no locks: there is nothing to break`,
    );
  }
  const views = [...new Set(options.views)];
  const states = await Promise.all(views.map((v) => online.inspectLock(viewLockName(v))));
  // Check every view first: all or nothing.
  const plan = views.map((view, i) => {
    const state = states[i] ?? null;
    if (state === null) return { view, state, reason: undefined };
    const ended = holderEnded(state.holder);
    if (ended === true) return { view, state, reason: "its process has ended" };
    if (options.force) return { view, state, reason: "forced" };
    const where = ended === false
      ? "a process of this host that is still running: stop it first, or pass force"
      : "a process Larder cannot see from here (another host or container, or no holder recorded): wait for the lock to expire, or pass force if you know that run is gone";
    throw new LarderError(
      "CONFLICT",
      `Cannot break the materialization lock of feature view "${view}": it is held by ${
        describeHolder(state.holder)
      } and expires at ${isoSeconds(state.expiresAt)} unless renewed; the holder is ${where}`,
      {
        details: {
          view,
          ...(state.holder ? { holder: state.holder } : {}),
          expiresAt: isoSeconds(state.expiresAt),
        },
      },
    );
  });
  const out: BrokenViewLock[] = [];
  for (const { view, state, reason } of plan) {
    if (state === null) {
      out.push({ view, status: "free", holder: null });
      continue;
    }
    const broken = await breakHolding(online, view, state, {
      force: options.force === true,
      done: out.filter((o) => o.status === "broken").map((o) => o.view),
    });
    out.push({
      view,
      status: broken ? "broken" : "free",
      holder: state.holder,
      ...(broken && reason ? { reason } : {}),
    });
  }
  return out;
}

/** How many times a forced break follows a holder that keeps renewing its lock. */
const FORCE_ATTEMPTS = 5;

/**
 * Breaks the lock of `view` as `state` saw it. `false` when that holding is gone (released,
 * expired, or taken by a new run, which keeps it). When its holder renewed it since, the
 * holder is alive: `CONFLICT`, unless `force`, which breaks the renewed holding.
 */
async function breakHolding(
  online: OnlineStore,
  view: string,
  state: LockState,
  options: { readonly force: boolean; readonly done: readonly string[] },
): Promise<boolean> {
  const name = viewLockName(view);
  let current = state;
  for (let attempt = 1;; attempt++) {
    if (await online.breakLock(name, current.token)) return true;
    const now = await online.inspectLock(name);
    if (now === null || !sameHolder(now.holder, state.holder)) return false;
    if (options.force && attempt < FORCE_ATTEMPTS) {
      current = now;
      continue;
    }
    const earlier = options.done.length === 0
      ? ""
      : ` (the locks of ${options.done.map((v) => `"${v}"`).join(", ")} were broken)`;
    throw new LarderError(
      "CONFLICT",
      `Cannot break the materialization lock of feature view "${view}": its holder ${
        describeHolder(state.holder)
      } renewed it while it was being broken, so that run is alive; nothing was broken for it${earlier}`,
      {
        details: {
          view,
          ...(state.holder ? { holder: state.holder } : {}),
          expiresAt: isoSeconds(now.expiresAt),
          broken: options.done,
        },
      },
    );
  }
}

/** Whether two holders are the same process taking the lock at the same time. */
function sameHolder(a: LockHolder | null, b: LockHolder | null): boolean {
  if (a === null || b === null) return a === b;
  return a.host === b.host && a.pid === b.pid && a.since === b.since &&
    a.pidNamespace === b.pidNamespace && a.bootId === b.bootId;
}
