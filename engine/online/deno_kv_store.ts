/**
 * `DenoKvOnlineStore`: the online store on Deno KV (a local SQLite file, or the KV that Deno
 * Deploy provisions).
 */
import { dirname } from "node:path";
import { fileSystemFailure, LarderError } from "../../registry/mod.ts";
import { currentHolder, type LockHolder, type LockState, parseHolder } from "./lock_holder.ts";
import type {
  LockLease,
  OnlineKey,
  OnlineRecord,
  OnlineRow,
  OnlineStore,
  OnlineStoreCapabilities,
  OnlineWriteResult,
  ViewsWithData,
} from "./online_store.ts";
import { storeFailure } from "./online_store.ts";

/** Options for {@linkcode DenoKvOnlineStore.open}. */
export interface DenoKvOnlineStoreOptions {
  /** The project: every key carries it. */
  readonly project: string;
  /**
   * A local KV file, or `"platform"` for the KV Deno Deploy provides (`Deno.openKv()` with
   * no path); `":memory:"` for a throwaway store.
   */
  readonly path: string;
  /**
   * Consistency of reads. `"eventual"` reads may not see the latest writes (on Deno Deploy they
   * are served by the nearest region's replica, faster); writes are always strong.
   * @default "strong"
   */
  readonly consistency?: Deno.KvConsistencyLevel;
}

/** Deno KV's limits on one atomic operation and one `getMany`. */
const CHECKS_PER_ATOMIC = 100;
const KEYS_PER_GET = 10;
const DELETES_PER_ATOMIC = 500;
const MAX_ATTEMPTS = 20;
const ROOT = "larder";
/** First part of lock keys: outside the rows' keys, so no view name can collide with a lock. */
const LOCK_ROOT = "larder-lock";
/** SQLite's answer while another connection (process or handle) holds the write lock. */
const BUSY = /database is locked|database is busy|SQLITE_BUSY/i;
const BUSY_RETRY_MS = 5_000;

/** Runs `fn`, retrying with backoff while the file is locked by another writer. */
async function whileBusy<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = performance.now() + BUSY_RETRY_MS;
  for (let attempt = 0;; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof Error && BUSY.test(err.message)) || performance.now() > deadline) {
        throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(5 * 2 ** attempt, 100)));
    }
  }
}

/** A record as earlier versions stored it: times in epoch milliseconds (maybe fractional). */
interface MillisRecord {
  readonly eventTs: number;
  readonly createdTs: number | null;
  readonly values: OnlineRecord["values"];
}

/** A stored record as an {@linkcode OnlineRecord}, whichever layout wrote it. */
function storedRecord(value: OnlineRecord | MillisRecord | null): OnlineRecord | null {
  if (value === null || "eventMicros" in value) return value;
  return {
    eventMicros: Math.round(value.eventTs * 1000),
    createdMicros: value.createdTs === null ? null : Math.round(value.createdTs * 1000),
    values: value.values,
  };
}

/** The value of a held lock. */
interface HeldLock {
  readonly token: string;
  /** Epoch milliseconds; from then on the lock is free, whether or not KV removed it yet. */
  readonly expiresAt: number;
  /** Who took it (absent in locks written by an older Larder). */
  readonly holder?: LockHolder;
}

/**
 * The online store on Deno KV. Key: `["larder", project, view, entityKey]`; value: the
 * record (`{ eventMicros, createdMicros, values }`; records of earlier versions,
 * `{ eventTs, createdTs, values }` in milliseconds, are read too). Writes read the stored rows, then commit the newer
 * ones in one atomic operation that checks every written key is unchanged since it was read
 * (`kv.atomic().check()`); a lost race is retried, so concurrent writers never replace newer
 * data with older.
 *
 * @example
 * ```ts
 * import { DenoKvOnlineStore } from "./deno_kv_store.ts";
 * const store = await DenoKvOnlineStore.open({ project: "demo", path: ":memory:" });
 * await store.close();
 * ```
 */
export class DenoKvOnlineStore implements OnlineStore {
  readonly name: string;
  readonly capabilities: OnlineStoreCapabilities = {
    ttl: false,
    singleRoundTripRead: false,
    locks: true,
  };
  /** The consistency of reads (writes are strong). */
  readonly consistency: Deno.KvConsistencyLevel;
  readonly #kv: Deno.Kv;
  readonly #project: string;
  #closed = false;

  private constructor(
    kv: Deno.Kv,
    project: string,
    options: { readonly name: string; readonly consistency: Deno.KvConsistencyLevel },
  ) {
    this.#kv = kv;
    this.#project = project;
    this.name = options.name;
    this.consistency = options.consistency;
  }

  /** Opens (creating when needed) the KV store. */
  static async open(options: DenoKvOnlineStoreOptions): Promise<DenoKvOnlineStore> {
    const platform = options.path === "platform";
    let kv: Deno.Kv;
    try {
      if (!platform && options.path !== ":memory:") {
        await Deno.mkdir(dirname(options.path), { recursive: true });
      }
      kv = platform ? await Deno.openKv() : await Deno.openKv(options.path);
    } catch (err) {
      throw fileSystemFailure(err, {
        path: options.path,
        action: "open",
        what: "the online store (deno_kv)",
        mkdir: true,
      }) ?? new LarderError(
        "UNAVAILABLE",
        `Cannot open the online store (deno_kv ${options.path}): ${
          err instanceof Error ? err.message : String(err)
        }`,
        { cause: err },
      );
    }
    return new DenoKvOnlineStore(kv, options.project, {
      name: `deno_kv ${options.path}`,
      consistency: options.consistency ?? "strong",
    });
  }

  #key(view: string, entityKey: string): Deno.KvKey {
    return [ROOT, this.#project, view, entityKey];
  }

  async write(view: string, rows: readonly OnlineRow[]): Promise<OnlineWriteResult> {
    let written = 0;
    try {
      for (let i = 0; i < rows.length; i += CHECKS_PER_ATOMIC) {
        const group = rows.slice(i, i + CHECKS_PER_ATOMIC);
        written += await whileBusy(() => this.#writeGroup(view, group));
      }
    } catch (err) {
      throw this.#failure(err, "write to");
    }
    return { written, skipped: rows.length - written };
  }

  /** Writes up to 100 rows (distinct keys assumed; a repeated key keeps the newest). */
  async #writeGroup(view: string, group: readonly OnlineRow[]): Promise<number> {
    const latest = new Map<string, OnlineRow>();
    for (const row of group) {
      const seen = latest.get(row.entityKey);
      if (!seen || row.record.eventMicros > seen.record.eventMicros) {
        latest.set(row.entityKey, row);
      }
    }
    const rows = [...latest.values()];
    const keys = rows.map((r) => this.#key(view, r.entityKey));
    for (let attempt = 1;; attempt++) {
      const stored = await this.#getMany<OnlineRecord | MillisRecord>(keys);
      let op = this.#kv.atomic();
      let count = 0;
      rows.forEach((row, i) => {
        const current = stored[i]!;
        const record = storedRecord(current.value);
        if (record !== null && !(row.record.eventMicros > record.eventMicros)) return;
        op = op.check({ key: keys[i]!, versionstamp: current.versionstamp })
          .set(keys[i]!, row.record);
        count++;
      });
      if (count === 0) return 0;
      const result = await op.commit();
      if (result.ok) return count;
      if (attempt >= MAX_ATTEMPTS) {
        throw new LarderError(
          "CONFLICT",
          `Cannot write to the online store (${this.name}): other writers kept changing the same rows (${attempt} attempts)`,
        );
      }
    }
  }

  /** Strong reads unless `consistency` says otherwise (writes must read strongly). */
  async #getMany<T>(
    keys: readonly Deno.KvKey[],
    consistency: Deno.KvConsistencyLevel = "strong",
  ): Promise<Deno.KvEntryMaybe<T>[]> {
    const chunks: Promise<Deno.KvEntryMaybe<T>[]>[] = [];
    for (let i = 0; i < keys.length; i += KEYS_PER_GET) {
      chunks.push(this.#kv.getMany<T[]>(keys.slice(i, i + KEYS_PER_GET), { consistency }));
    }
    return (await Promise.all(chunks)).flat();
  }

  async read(keys: readonly OnlineKey[]): Promise<(OnlineRecord | null)[]> {
    try {
      const kvKeys = keys.map((k) => this.#key(k.view, k.entityKey));
      const entries = await whileBusy(() =>
        this.#getMany<OnlineRecord | MillisRecord>(kvKeys, this.consistency)
      );
      return entries.map((e) => storedRecord(e.value));
    } catch (err) {
      throw this.#failure(err, "read from");
    }
  }

  async deleteViews(views: readonly string[]): Promise<void> {
    for (const view of views) await this.#deletePrefix([ROOT, this.#project, view]);
  }

  async deleteAll(): Promise<void> {
    await this.#deletePrefix([ROOT, this.#project]);
  }

  /** One list step per view: each skips past the previous view's keys. Always complete. */
  async viewsWithData(): Promise<ViewsWithData> {
    const prefix: Deno.KvKey = [ROOT, this.#project];
    const views: string[] = [];
    try {
      for (;;) {
        const last = views.at(-1);
        // Every key of view v sorts before [..., v + "\0"], and every later view after it.
        const selector: Deno.KvListSelector = last === undefined
          ? { prefix }
          : { prefix, start: [ROOT, this.#project, `${last}\0`] };
        let next: string | undefined;
        for await (const entry of this.#kv.list(selector, { limit: 1 })) {
          next = String(entry.key[2]);
        }
        if (next === undefined) return { views, complete: true };
        views.push(next);
      }
    } catch (err) {
      throw this.#failure(err, "list the views of");
    }
  }

  async #deletePrefix(prefix: Deno.KvKey): Promise<void> {
    try {
      let batch: Deno.KvKey[] = [];
      const flush = async () => {
        const keys = batch;
        batch = [];
        await whileBusy(async () => {
          let op = this.#kv.atomic();
          for (const key of keys) op = op.delete(key);
          await op.commit();
        });
      };
      for await (const entry of this.#kv.list({ prefix })) {
        batch.push(entry.key);
        if (batch.length >= DELETES_PER_ATOMIC) await flush();
      }
      if (batch.length > 0) await flush();
    } catch (err) {
      throw this.#failure(err, "delete from");
    }
  }

  /**
   * Key `["larder-lock", project, name]`, value `{ token, expiresAt, holder }`. Taking, extending,
   * releasing and breaking are atomic checks of the entry's versionstamp; an expired value counts
   * as free (KV's own `expireIn` removes it later). `inspectLock`'s token is the versionstamp,
   * so `breakLock` breaks only the holding as inspected, not one renewed since.
   */
  async acquireLock(name: string, ttlMs: number): Promise<LockLease | null> {
    const key: Deno.KvKey = [LOCK_ROOT, this.#project, name];
    const token = crypto.randomUUID();
    const holder = currentHolder();
    const taken = await this.#lockStep(`take the lock "${name}" in`, async () => {
      const entry = await this.#kv.get<HeldLock>(key);
      if (entry.value !== null && entry.value.expiresAt > Date.now()) return false;
      return await this.#setLock(entry, { token, holder }, ttlMs);
    });
    if (!taken) return null;
    return {
      name,
      extend: (ttl) =>
        this.#lockStep(`extend the lock "${name}" in`, async () => {
          const entry = await this.#kv.get<HeldLock>(key);
          if (entry.value?.token !== token) return false;
          return await this.#setLock(entry, { token, holder }, ttl);
        }),
      release: async () => {
        await this.#lockStep(`release the lock "${name}" in`, async () => {
          const entry = await this.#kv.get<HeldLock>(key);
          if (entry.value?.token !== token) return false;
          return (await this.#kv.atomic().check(entry).delete(key).commit()).ok || undefined;
        });
      },
    };
  }

  async inspectLock(name: string): Promise<LockState | null> {
    const key: Deno.KvKey = [LOCK_ROOT, this.#project, name];
    let entry: Deno.KvEntryMaybe<HeldLock>;
    try {
      entry = await whileBusy(() => this.#kv.get<HeldLock>(key));
    } catch (err) {
      throw this.#failure(err, `read the lock "${name}" in`);
    }
    const value = entry.value;
    if (value === null || value.expiresAt <= Date.now()) return null;
    return {
      name,
      holder: parseHolder(value.holder),
      expiresAt: value.expiresAt,
      // Every extend writes the entry again: a renewed holding has another versionstamp.
      token: entry.versionstamp,
    };
  }

  /** `token` is the versionstamp `inspectLock` read: one atomic check-and-delete. */
  async breakLock(name: string, token: string): Promise<boolean> {
    const key: Deno.KvKey = [LOCK_ROOT, this.#project, name];
    try {
      return await whileBusy(async () =>
        (await this.#kv.atomic().check({ key, versionstamp: token }).delete(key).commit()).ok
      );
    } catch (err) {
      throw this.#failure(err, `break the lock "${name}" in`);
    }
  }

  /** Writes the lock over `entry` if it is unchanged; `undefined` when it changed meanwhile. */
  async #setLock(
    entry: Deno.KvEntryMaybe<HeldLock>,
    lock: { token: string; holder: LockHolder },
    ttlMs: number,
  ): Promise<true | undefined> {
    const expireIn = Math.max(1, Math.ceil(ttlMs));
    const value: HeldLock = { ...lock, expiresAt: Date.now() + expireIn };
    const result = await this.#kv.atomic().check(entry)
      .set(entry.key, value, { expireIn })
      .commit();
    return result.ok || undefined;
  }

  /**
   * Runs a read-then-commit step of a lock until it decides (`true` or `false`); `undefined`
   * means its commit lost a race, and it runs again. Undecided after many races: `false`.
   */
  async #lockStep(
    what: string,
    step: () => Promise<boolean | undefined>,
  ): Promise<boolean> {
    try {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const decided = await whileBusy(step);
        if (decided !== undefined) return decided;
      }
      return false;
    } catch (err) {
      throw this.#failure(err, what);
    }
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#kv.close();
    }
    return Promise.resolve();
  }

  #failure(err: unknown, action: string): LarderError {
    return storeFailure(this.name, err, action);
  }
}
