/**
 * The registry as the server sees it: loaded once, then refreshed in the background every
 * `cache_ttl_seconds`, so that after the first load no request waits for a registry read.
 */
import type { RegistryDocument } from "../engine/mod.ts";
import { withTimeout } from "./_timeout.ts";

/** What the cache reads from: `Registry` fits. */
export interface RegistryReader {
  read(options?: { fresh?: boolean }): Promise<RegistryDocument>;
}

/** Options for {@linkcode RegistryCache}. */
export interface RegistryCacheOptions {
  /** Time between background refreshes. 0 is taken as 1 second. @default 60_000 */
  readonly refreshMs?: number;
  /** Called when a background refresh fails (the previous document stays in use). */
  readonly onError?: (err: unknown) => void;
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
  #loading: Promise<RegistryDocument> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #lastError: unknown;
  #loadedAt = 0;

  constructor(reader: RegistryReader, options: RegistryCacheOptions = {}) {
    this.#reader = reader;
    this.#refreshMs = Math.max(options.refreshMs ?? 60_000, 1000);
    this.#onError = options.onError ?? (() => {});
  }

  /** The document: from memory once loaded; the first call (only) waits for the load. */
  get(): Promise<RegistryDocument> {
    if (this.#doc) return Promise.resolve(this.#doc);
    return this.#load();
  }

  /** The document in memory, or `undefined` before the first load. */
  current(): RegistryDocument | undefined {
    return this.#doc;
  }

  /** The last background refresh's failure, or `undefined` when it succeeded. */
  get lastError(): unknown {
    return this.#lastError;
  }

  /** Seconds since the document in memory was read. */
  ageSeconds(): number | undefined {
    return this.#doc ? (performance.now() - this.#loadedAt) / 1000 : undefined;
  }

  /**
   * Reads the registry now (for health checks): resolves when it is readable within
   * `timeoutMs`, throws `UNAVAILABLE` (or the registry's own error) otherwise.
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

  #load(): Promise<RegistryDocument> {
    this.#loading ??= this.#refresh().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #refresh(): Promise<RegistryDocument> {
    try {
      const read = await this.#reader.read({ fresh: true });
      // Keep the same object when nothing changed, so that what requests derive from it stays cached.
      const same = this.#doc !== undefined && this.#doc.version === read.version &&
        this.#doc.updatedAt === read.updatedAt && this.#doc.project === read.project;
      const doc = same ? this.#doc! : read;
      this.#doc = doc;
      this.#loadedAt = performance.now();
      this.#lastError = undefined;
      return doc;
    } catch (err) {
      this.#lastError = err;
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
