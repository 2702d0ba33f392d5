/** Who holds a lock of the online store, stored with it so that a blocked caller can say so. */

/** The process that took a lock, as stored with the lock. */
export interface LockHolder {
  /** The machine's host name (`"unknown"` where the platform does not tell). */
  readonly host: string;
  /** The process id on that host (0 where the platform does not tell). */
  readonly pid: number;
  /** When the lock was taken, epoch milliseconds. */
  readonly since: number;
}

/** A held lock as another client sees it. */
export interface LockState {
  readonly name: string;
  /** `null` for a lock written without holder information (by an older Larder). */
  readonly holder: LockHolder | null;
  /** Epoch milliseconds: when the lock frees itself unless its holder renews it first. */
  readonly expiresAt: number;
  /** Identifies this holding of the lock, for `breakLock`: opaque. */
  readonly token: string;
}

/** This process, as a lock holder, taking a lock now. */
export function currentHolder(now = Date.now()): LockHolder {
  let host = "unknown";
  let pid = 0;
  try {
    host = Deno.hostname();
  } catch {
    // No --allow-sys, or a platform without host names (Deno Deploy).
  }
  try {
    pid = Deno.pid;
  } catch {
    // Not available on this platform.
  }
  return { host, pid, since: now };
}

/** A stored holder, or `null` when `value` is not one. */
export function parseHolder(value: unknown): LockHolder | null {
  if (typeof value !== "object" || value === null) return null;
  const { host, pid, since } = value as Record<string, unknown>;
  if (typeof host !== "string" || typeof pid !== "number" || typeof since !== "number") {
    return null;
  }
  return { host, pid, since };
}

/**
 * Whether process `pid` of this host is running: `false` when it has ended (or is a zombie
 * waiting to be reaped), `undefined` when this platform cannot tell (no `/proc`).
 */
export function processRunning(pid: number): boolean | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    Deno.statSync("/proc/self");
  } catch {
    return undefined;
  }
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // "pid (command) state ...": the state follows the last ")".
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** `pid 4242 on "host-a" since 2026-12-02T15:00:00.000Z`, for messages. */
export function describeHolder(holder: LockHolder | null): string {
  if (holder === null) return "an unknown process (the lock carries no holder)";
  return `pid ${holder.pid} on "${holder.host}" since ${new Date(holder.since).toISOString()}`;
}
