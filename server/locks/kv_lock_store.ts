/** Locks in Deno KV (the file of the `deno_kv` online store, or Deno Deploy's KV). */
import { LarderError } from "../../engine/mod.ts";
import type { LockLease, LockStore } from "./lock_store.ts";

interface Held {
  readonly token: string;
  readonly expiresAt: number;
}

const ATTEMPTS = 10;
const BUSY = /database is locked|database is busy|SQLITE_BUSY/i;

/**
 * Runs `op`, retrying while SQLite reports the file busy (several processes on one KV file
 * contend for its write lock); throws `UNAVAILABLE` when it stays busy.
 */
async function retryBusy<T>(what: string, op: () => Promise<T>): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (!(err instanceof Error && BUSY.test(err.message))) throw err;
      if (attempt >= 50) {
        throw new LarderError("UNAVAILABLE", `Cannot ${what}: the KV store stays busy`, {
          cause: err,
        });
      }
      await new Promise((r) => setTimeout(r, 2 + Math.random() * 10 * Math.min(attempt + 1, 10)));
    }
  }
}

/**
 * Locks under `["larder", project, "_locks", name]`. A lock is a value with an owner token
 * and an expiry time; taking and extending are atomic checks on the entry's versionstamp, and
 * an expired value counts as free (KV's own `expireIn` removes it later).
 *
 * @example
 * ```ts
 * import { KvLockStore } from "./kv_lock_store.ts";
 * const kv = await Deno.openKv(":memory:");
 * const locks = new KvLockStore(kv, { project: "demo" });
 * const lease = await locks.acquire("materialize:stats", 60_000);
 * await lease?.release();
 * kv.close();
 * ```
 */
export class KvLockStore implements LockStore {
  readonly name: string;
  readonly #kv: Deno.Kv;
  readonly #prefix: Deno.KvKey;
  readonly #clock: () => number;

  constructor(kv: Deno.Kv, options: { project: string; clock?: () => number; name?: string }) {
    this.#kv = kv;
    this.#prefix = ["larder", options.project, "_locks"];
    this.#clock = options.clock ?? Date.now;
    this.name = options.name ?? "deno_kv";
  }

  acquire(name: string, ttlMs: number): Promise<LockLease | null> {
    return retryBusy(`take the lock "${name}"`, () => this.#acquire(name, ttlMs));
  }

  async #acquire(name: string, ttlMs: number): Promise<LockLease | null> {
    const key = [...this.#prefix, name];
    for (let i = 0; i < ATTEMPTS; i++) {
      const entry = await this.#kv.get<Held>(key);
      if (entry.value !== null && entry.value.expiresAt > this.#clock()) return null;
      const token = crypto.randomUUID();
      const result = await this.#kv.atomic().check(entry)
        .set(key, { token, expiresAt: this.#clock() + ttlMs }, { expireIn: ttlMs })
        .commit();
      if (result.ok) return this.#lease(name, key, token);
    }
    return null;
  }

  #lease(name: string, key: Deno.KvKey, token: string): LockLease {
    const kv = this.#kv;
    const clock = this.#clock;
    return {
      name,
      extend: (ttlMs: number): Promise<boolean> =>
        retryBusy(`extend the lock "${name}"`, async () => {
          for (let i = 0; i < ATTEMPTS; i++) {
            const entry = await kv.get<Held>(key);
            if (entry.value?.token !== token) return false;
            const result = await kv.atomic().check(entry)
              .set(key, { token, expiresAt: clock() + ttlMs }, { expireIn: ttlMs })
              .commit();
            if (result.ok) return true;
          }
          return false;
        }),
      release: (): Promise<void> =>
        retryBusy(`release the lock "${name}"`, async () => {
          for (let i = 0; i < ATTEMPTS; i++) {
            const entry = await kv.get<Held>(key);
            if (entry.value?.token !== token) return;
            if ((await kv.atomic().check(entry).delete(key).commit()).ok) return;
          }
        }),
    };
  }
}
