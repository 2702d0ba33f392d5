/**
 * An exclusive lock between processes (and between callers in one process) on a lock file,
 * taken with the OS's file lock, as the file registry serializes its writers: the OS drops it
 * when its holder exits or dies, so a lock is never left stale and nothing has to take one over.
 */

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      if (signal?.aborted) reject(signal.reason);
      else resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Options for {@linkcode withFileLock}. */
export interface FileLockOptions {
  /** How often a waiter tries the lock again. @default 500 */
  readonly pollMs?: number;
  /** Stops waiting (rejects with its reason); a holder's `run` is not interrupted. */
  readonly signal?: AbortSignal;
}

/**
 * Runs `run` while holding the lock on `path` (created if missing, left in place afterwards:
 * removing it would let a waiter lock a file that is no longer the lock). Waits, polling, while
 * another holder has it.
 */
export async function withFileLock<T>(
  path: string,
  run: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const file = await Deno.open(path, { read: true, write: true, create: true });
  try {
    while (!(await file.tryLock(true))) {
      options.signal?.throwIfAborted();
      await delay(options.pollMs ?? 500, options.signal);
    }
    try {
      return await run();
    } finally {
      await file.unlock().catch(() => {});
    }
  } finally {
    file.close();
  }
}
