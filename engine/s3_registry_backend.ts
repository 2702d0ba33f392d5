/**
 * The `s3` registry backend: the document as one object in S3 or S3-compatible storage,
 * replaced only by conditional writes: `If-None-Match: *` creates it, `If-Match: <ETag>`
 * replaces the version that was read. S3 answers 412 when the condition fails and 409 when
 * another conditional write on the key is in flight; either way exactly one writer wins.
 * Reads and writes use `fetch` only (through the object-storage client): it runs at the edge.
 */
import {
  isLarderError,
  LarderError,
  type RegistryBackend,
  type StoredText,
} from "../registry/mod.ts";
import { defaultObjectStore, type ObjectStore } from "./object_store/mod.ts";

/** Options for {@linkcode S3RegistryBackend}. */
export interface S3RegistryBackendOptions {
  /** `s3://bucket/key` of the document. */
  readonly url: string;
  /** @default the client configured by `object_store:` / the `AWS_*` variables */
  readonly store?: ObjectStore;
  /**
   * Attempts of a write that S3 answered 409 (another conditional write in flight).
   * @default {5}
   */
  readonly attempts?: number;
}

function versionOf(text: string, location: string): number {
  let v: unknown;
  try {
    v = (JSON.parse(text) as { version?: unknown }).version;
  } catch (cause) {
    throw new LarderError(
      "REGISTRY_CORRUPT",
      `Cannot read the registry (${location}): not valid JSON`,
      {
        cause,
      },
    );
  }
  if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
  throw new LarderError(
    "REGISTRY_CORRUPT",
    `Cannot read the registry (${location}): it has no version number`,
  );
}

/**
 * Stores the registry document in one object.
 *
 * @example
 * ```ts ignore
 * const backend = new S3RegistryBackend({ url: "s3://features/registry.json" });
 * console.log(await backend.read());
 * ```
 */
export class S3RegistryBackend implements RegistryBackend {
  readonly location: string;
  readonly #url: string;
  readonly #store: ObjectStore | undefined;
  readonly #attempts: number;

  constructor(options: S3RegistryBackendOptions) {
    this.#url = options.url;
    this.#store = options.store;
    this.#attempts = options.attempts ?? 5;
    this.location = `object ${options.url}`;
  }

  get #objects(): ObjectStore {
    return this.#store ?? defaultObjectStore();
  }

  async #readTagged(): Promise<(StoredText & { etag: string | undefined }) | null> {
    let body;
    try {
      body = await this.#objects.get(this.#url);
    } catch (err) {
      if (
        isLarderError(err) && err.code === "NOT_FOUND" && err.details?.s3Code !== "NoSuchBucket"
      ) {
        return null;
      }
      throw err;
    }
    const text = new TextDecoder().decode(body.bytes);
    return { version: versionOf(text, this.location), text, etag: body.etag };
  }

  async read(): Promise<StoredText | null> {
    const found = await this.#readTagged();
    return found && { version: found.version, text: found.text };
  }

  async compareAndSet(expectedVersion: number, next: StoredText): Promise<void> {
    const bytes = new TextEncoder().encode(next.text);
    for (let attempt = 1;; attempt++) {
      const current = expectedVersion === 0 ? null : await this.#readTagged();
      if (expectedVersion !== 0 && (current?.version ?? 0) !== expectedVersion) {
        throw this.#conflict(expectedVersion, current?.version ?? 0);
      }
      if (current !== null && current.etag === undefined) {
        throw new LarderError(
          "UNAVAILABLE",
          `Cannot write the registry (${this.location}): the object store sent no ETag, which compare-and-set needs`,
        );
      }
      try {
        await this.#objects.put(this.#url, bytes, {
          contentType: "application/json",
          ...(current ? { ifMatch: current.etag! } : { ifNoneMatch: "*" as const }),
        });
        return;
      } catch (err) {
        if (!isLarderError(err) || err.code !== "CONFLICT") throw err;
        const status = err.details?.status;
        const now = (await this.#readTagged())?.version ?? 0;
        // 412: the condition failed (another writer won). 409: one is in flight: try again.
        if (status !== 409 || now !== expectedVersion || attempt >= this.#attempts) {
          throw this.#conflict(expectedVersion, now);
        }
        await new Promise((r) => setTimeout(r, 20 * attempt));
      }
    }
  }

  #conflict(expected: number, actual: number): LarderError {
    return new LarderError(
      "REGISTRY_CONFLICT",
      `The registry changed since it was read (read version ${expected}, now ${actual}): run the command again`,
      { details: { expectedVersion: expected, actualVersion: actual, url: this.#url } },
    );
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
