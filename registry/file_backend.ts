/** The `file` registry backend: one JSON file, replaced atomically under a file lock. */
import { dirname } from "node:path";
import { atomicWriteFile } from "./atomic_write.ts";
import type { RegistryBackend, StoredText } from "./backend.ts";
import { LarderError } from "./errors.ts";
import { fileSystemFailure } from "./fs_errors.ts";

function versionOf(text: string, path: string): number {
  try {
    const v = (JSON.parse(text) as { version?: unknown }).version;
    if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
  } catch (cause) {
    throw new LarderError(
      "REGISTRY_CORRUPT",
      `Cannot read the registry at "${path}": not valid JSON`,
      {
        cause,
      },
    );
  }
  throw new LarderError(
    "REGISTRY_CORRUPT",
    `Cannot read the registry at "${path}": it has no version number`,
  );
}

/** Stores the registry in a local file (default `data/registry.json`). */
export class FileRegistryBackend implements RegistryBackend {
  readonly location: string;
  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
    this.location = `file ${path}`;
  }

  async read(): Promise<StoredText | null> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.#path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      const refused = fileSystemFailure(err, {
        path: this.#path,
        action: "read",
        what: "the registry",
      });
      if (refused) throw refused;
      throw new LarderError(
        "UNAVAILABLE",
        `Cannot read the registry at "${this.#path}": ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    return { version: versionOf(text, this.#path), text };
  }

  async compareAndSet(expectedVersion: number, next: StoredText): Promise<void> {
    // An exclusive lock on a companion file serializes writers across processes;
    // the OS drops it if the holder dies, so it can never be left stale.
    let lock: Deno.FsFile;
    try {
      await Deno.mkdir(dirname(this.#path), { recursive: true });
      lock = await Deno.open(`${this.#path}.lock`, { read: true, write: true, create: true });
    } catch (err) {
      throw fileSystemFailure(err, {
        path: this.#path,
        action: "write",
        what: "the registry",
        unchanged: true,
        mkdir: true,
      }) ?? err;
    }
    try {
      await lock.lock(true);
      const current = await this.read();
      const actual = current?.version ?? 0;
      if (actual !== expectedVersion) {
        throw new LarderError(
          "REGISTRY_CONFLICT",
          `The registry changed since it was read (read version ${expectedVersion}, now ${actual}): run the command again`,
          { details: { expectedVersion, actualVersion: actual } },
        );
      }
      await atomicWriteFile(this.#path, next.text);
    } finally {
      await lock.unlock().catch(() => {});
      lock.close();
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
