/**
 * The registry as the server sees it: loaded once, then refreshed in the background every
 * `cache_ttl_seconds`, so that after the first load no request waits for a registry read.
 * A refresh never replaces the document with an older one (a lower version, or another
 * project's): the server keeps serving what it has and reports the regression.
 */
import { LarderError, type RegistryDocument } from "../engine/mod.ts";
import { withTimeout } from "./_timeout.ts";

/** What the cache reads from: `Registry` fits. */
export interface RegistryReader {
  /** Reads the registry document; `fresh` skips any cache of the reader's own. */
  read(options?: { fresh?: boolean }): Promise<RegistryDocument>;
}

/** Options for {@linkcode RegistryCache}. */
export interface RegistryCacheOptions {
  /** Time between background refreshes. 0 is taken as 1 second. @default 60_000 */
  readonly refreshMs?: number;
  /**
   * Called when a background refresh fails, and once when a refresh finds an older document
   * than the one served (the served document stays in use in both cases).
   */
  readonly onError?: (err: unknown) => void;
}

/** The stored registry went back to an older document than the one served. */
export interface RegistryRegression {
  /** The version served (the newest seen). */
  readonly served: number;
  /** The version found in the registry. */
  readonly stored: number;
  /** What happened and what the server does about it, for health details and the log. */
  readonly message: string;
}

/** Why `read` must not replace `served`, or `undefined` when it may. */
function regressionOf(
  served: RegistryDocument,
  read: RegistryDocument,
): RegistryRegression | undefined {
  const keep =
    `serving version ${served.version} until the registry holds version ${served.version} or later (restart the server to serve the registry as it is now)`;
  if (read.project !== served.project) {
    return {
      served: served.version,
      stored: read.version,
      message:
        `The registry now belongs to project "${read.project}", not "${served.project}": ${keep}`,
    };
  }
  if (read.version >= served.version) return undefined;
  return {
    served: served.version,
    stored: read.version,
    message:
      `The registry went from version ${served.version} to ${read.version}: it may have been reset or restored from an older copy; ${keep}`,
  };
}

/**
 * A registry document kept in memory and refreshed on a timer.
 *
 * @example
 * ```ts
 * import { RegistryCache } from "./registry_cache.ts";
 * declare const registry: { read(o?: { fresh?: boolean }): Promise<any> };
 * const cache = new RegistryCache(registry, { refreshMs: 60_000 });
 * const doc = await cache.get(); // I/O only for the first load
 * cache.close();
 * ```
 */
export class RegistryCache {
  readonly #reader: RegistryReader;
  readonly #refreshMs: number;
  readonly #onError: (err: unknown) => void;
  #doc: RegistryDocument | undefined;
  /** The read in flight, shared by every caller until it settles or has run for `refreshMs`. */
  #reading: { readonly answer: Promise<RegistryDocument>; readonly startedAt: number } | undefined;
  /** Reads started, and the number of the read whose answer was taken last. */
  #started = 0;
  #taken = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #lastError: unknown;
  #regression: RegistryRegression | undefined;
  #loadedAt = 0;

  /** Makes a cache over `reader`; the first `get()` loads it, then it refreshes itself. */
  constructor(reader: RegistryReader, options: RegistryCacheOptions = {}) {
    this.#reader = reader;
    this.#refreshMs = Math.max(options.refreshMs ?? 60_000, 1000);
    this.#onError = options.onError ?? (() => {});
  }

  /** The document: from memory once loaded; the first call (only) waits for the load. */
  get(): Promise<RegistryDocument> {
    if (this.#doc) return Promise.resolve(this.#doc);
    return this.#refresh();
  }

  /** The document in memory, or `undefined` before the first load. */
  current(): RegistryDocument | undefined {
    return this.#doc;
  }

  /** The last background refresh's failure, or `undefined` when it succeeded. */
  get lastError(): unknown {
    return this.#lastError;
  }

  /**
   * Set while the registry holds an older document than the one served (see
   * {@linkcode RegistryRegression}); cleared once it holds the served version or a later one.
   */
  regression(): RegistryRegression | undefined {
    return this.#regression;
  }

  /** Seconds since the document in memory was read (it stops counting down during a regression). */
  ageSeconds(): number | undefined {
    return this.#doc ? (performance.now() - this.#loadedAt) / 1000 : undefined;
  }

  /**
   * Reads the registry now, or joins the read in flight (for health checks: concurrent checks
   * and the background refresh share one read): resolves with the served document when the
   * registry is readable within `timeoutMs` (see {@linkcode RegistryCache.regression} for
   * whether it still follows the registry), throws `UNAVAILABLE` (or the registry's own error)
   * otherwise.
   */
  check(timeoutMs = 2000): Promise<RegistryDocument> {
    return withTimeout(this.#refresh(), timeoutMs, "The registry");
  }

  /** Stops the background refresh. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Reads the registry, or joins the read in flight (health checks and the timer share one), so
   * that reads never overlap and finish out of order. A read that has hung for `refreshMs` is
   * not joined: a new one starts, and the hung one's answer, if it ever comes, is not taken.
   */
  #refresh(): Promise<RegistryDocument> {
    const reading = this.#reading;
    if (reading && performance.now() - reading.startedAt < this.#refreshMs) return reading.answer;
    const answer = this.#read(++this.#started).finally(() => {
      if (this.#reading?.answer === answer) this.#reading = undefined;
    });
    this.#reading = { answer, startedAt: performance.now() };
    return answer;
  }

  async #read(number: number): Promise<RegistryDocument> {
    try {
      const read = await this.#reader.read({ fresh: true });
      const served = this.#doc;
      // A read started later has answered already: this one is older news.
      if (served && number < this.#taken) return served;
      this.#taken = number;
      this.#lastError = undefined;
      const regression = served && regressionOf(served, read);
      if (served && regression) {
        if (this.#regression?.message !== regression.message) {
          this.#onError(
            new LarderError("UNAVAILABLE", regression.message, {
              details: { served: regression.served, stored: regression.stored },
            }),
          );
        }
        this.#regression = regression;
        return served;
      }
      this.#regression = undefined;
      // Keep the same object when nothing changed, so that what requests derive from it stays cached.
      const same = served !== undefined && served.version === read.version &&
        served.updatedAt === read.updatedAt;
      const doc = same ? served : read;
      this.#doc = doc;
      this.#loadedAt = performance.now();
      return doc;
    } catch (err) {
      if (number >= this.#taken) this.#lastError = err;
      throw err;
    } finally {
      this.#schedule();
    }
  }

  #schedule(): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#refresh().catch((err) => this.#onError(err));
    }, this.#refreshMs);
    // The refresh alone never keeps a process alive (the server's listener does).
    if (typeof this.#timer === "number") Deno.unrefTimer(this.#timer);
  }
}
