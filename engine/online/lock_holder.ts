/** Who holds a lock of the online store, stored with it so that a blocked caller can say so. */

/** The process that took a lock, as stored with the lock. */
export interface LockHolder {
  /** The machine's host name (`"unknown"` where the platform does not tell). */
  readonly host: string;
  /** The process id on that host (0 where the platform does not tell). */
  readonly pid: number;
  /** When the lock was taken, epoch milliseconds. */
  readonly since: number;
  /**
   * The process id namespace the pid belongs to (the target of `/proc/self/ns/pid`, such as
   * `pid:[4026531836]`); absent where the platform does not tell. Two containers may share a
   * host name but not a pid namespace.
   */
  readonly pidNamespace?: string;
  /**
   * The kernel's boot id (`/proc/sys/kernel/random/boot_id`); absent where the platform does
   * not tell. Tells apart two machines (or boots) whose pid namespaces have the same name.
   */
  readonly bootId?: string;
}

/** A held lock as another client sees it. */
export interface LockState {
  /** The lock's name. */
  readonly name: string;
  /** `null` for a lock written without holder information (by an older Larder). */
  readonly holder: LockHolder | null;
  /** Epoch milliseconds: when the lock frees itself unless its holder renews it first. */
  readonly expiresAt: number;
  /**
   * Identifies the lock as inspected, for `breakLock`: opaque, and different once the holder
   * renews it.
   */
  readonly token: string;
}

/** Where this process lives, read once: it does not change while the process runs. */
let here: Pick<LockHolder, "host" | "pid" | "pidNamespace" | "bootId"> | undefined;

/** This process, as a lock holder, taking a lock now. */
export function currentHolder(now = Date.now()): LockHolder {
  here ??= readHere();
  return { ...here, since: now };
}

function readHere(): Pick<LockHolder, "host" | "pid" | "pidNamespace" | "bootId"> {
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
  const pidNamespace = attempt(() => Deno.readLinkSync("/proc/self/ns/pid"));
  const bootId = attempt(() => Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim());
  return {
    host,
    pid,
    ...(pidNamespace ? { pidNamespace } : {}),
    ...(bootId ? { bootId } : {}),
  };
}

/** `read()`, or `undefined` when it throws (no `/proc`, no permission, no such file). */
function attempt(read: () => string): string | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** A stored holder, or `null` when `value` is not one. */
export function parseHolder(value: unknown): LockHolder | null {
  if (typeof value !== "object" || value === null) return null;
  const { host, pid, since, pidNamespace, bootId } = value as Record<string, unknown>;
  if (typeof host !== "string" || typeof pid !== "number" || typeof since !== "number") {
    return null;
  }
  return {
    host,
    pid,
    since,
    ...(typeof pidNamespace === "string" ? { pidNamespace } : {}),
    ...(typeof bootId === "string" ? { bootId } : {}),
  };
}

/**
 * Whether process `pid` of this process's pid namespace is running: `false` only when `/proc`
 * says it has ended (no `/proc/<pid>`, or a zombie waiting to be reaped); `undefined` when
 * this cannot be told: no `/proc`, `/proc/<pid>` unreadable (permissions), or `/proc` mounted
 * with `hidepid`, which hides other users' processes as if they had ended.
 *
 * `options.proc` reads another `/proc` tree (for tests).
 */
export function processRunning(
  pid: number,
  options: { readonly proc?: string } = {},
): boolean | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const proc = options.proc ?? "/proc";
  try {
    Deno.statSync(`${proc}/self`);
  } catch {
    return undefined;
  }
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`${proc}/${pid}/stat`);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) return undefined;
    return hidesProcesses(proc) === false ? false : undefined;
  }
  // "pid (command) state ...": the state follows the last ")".
  const end = stat.lastIndexOf(")");
  const state = stat.slice(end + 2, end + 3);
  return state !== "Z" && state !== "X";
}

/**
 * Whether the `proc` mount hides processes (`hidepid` other than 0 / `off`); `undefined` when
 * its mount options cannot be read.
 */
function hidesProcesses(proc: string): boolean | undefined {
  let mounts: string;
  try {
    mounts = Deno.readTextFileSync(`${proc}/self/mountinfo`);
  } catch {
    return undefined;
  }
  const mountPoint = proc === "/proc" ? "/proc" : undefined;
  for (const line of mounts.split("\n")) {
    // "id parent dev root mountpoint options [optional...] - fstype source superoptions"
    const [before, after] = line.split(" - ");
    if (after === undefined) continue;
    const point = before!.split(" ")[4];
    const [fsType, , superOptions = ""] = after.split(" ");
    if (fsType !== "proc" || (mountPoint !== undefined && point !== mountPoint)) continue;
    const hidepid = /(?:^|,)hidepid=([^,]+)/.exec(superOptions)?.[1];
    return hidepid !== undefined && hidepid !== "0" && hidepid !== "off";
  }
  return undefined;
}

/**
 * Whether `holder`'s process has ended, as seen from this process: `true` only when it ran on
 * this host, in this pid namespace, since this boot, and `/proc` says its pid has ended;
 * `undefined` when that cannot be told (another host, another container, a holder written
 * without namespace and boot id, no `/proc`); `false` when it runs.
 */
export function holderEnded(holder: LockHolder | null): boolean | undefined {
  if (holder === null || holder.host === "unknown") return undefined;
  const self = currentHolder();
  if (
    holder.host !== self.host || holder.pidNamespace === undefined ||
    holder.pidNamespace !== self.pidNamespace || holder.bootId === undefined ||
    holder.bootId !== self.bootId
  ) {
    return undefined;
  }
  const running = processRunning(holder.pid);
  return running === undefined ? undefined : !running;
}

/** `pid 4242 on "host-a" since 2026-12-02T15:00:00.000Z`, for messages. */
export function describeHolder(holder: LockHolder | null): string {
  if (holder === null) return "an unknown process (the lock carries no holder)";
  return `pid ${holder.pid} on "${holder.host}" since ${new Date(holder.since).toISOString()}`;
}
