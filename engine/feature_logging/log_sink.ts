/**
 * Where logged features are written: the one seam between the feature logger and storage. A
 * sink stores whole parts under keys relative to a service's destination
 * (`date=2026-12-03/part-….parquet`); each part appears whole or not at all.
 */
import { isAbsolute, join, resolve } from "node:path";
import { atomicWriteFile, LarderError } from "../../registry/mod.ts";
import { defaultObjectStore, type ObjectStore } from "../object_store/mod.ts";

/** Stores the parts of one logging destination. */
export interface LogSink {
  /** Where the parts go, for messages (a folder, or a URL). */
  readonly location: string;
  /**
   * Stores `data` under `key` (a relative path with `/` separators), atomically: readers see
   * the whole part or none of it. Throws (`IO_FAILED` and the like) when it cannot.
   */
  write(key: string, data: Uint8Array): Promise<void>;
}

/** Makes the sink of a service's destination path. */
export type LogSinkFactory = (
  path: string,
  options: { repoDir: string; service: string },
) => LogSink;

/** A folder on the local file system: each part is written to a temporary file, then renamed. */
export class LocalLogSink implements LogSink {
  /** The folder. */
  readonly location: string;

  /** A sink writing under the folder `dir` (created when the first part is written). */
  constructor(dir: string) {
    this.location = dir;
  }

  /** Writes `data` to `<folder>/<key>` through a temporary file renamed when complete. */
  async write(key: string, data: Uint8Array): Promise<void> {
    await atomicWriteFile(join(this.location, ...key.split("/")), data);
  }
}

/**
 * A folder in object storage (`s3://bucket/prefix`): each part is one PUT, which S3 stores
 * whole or not at all.
 */
export class ObjectLogSink implements LogSink {
  /** The folder's URL. */
  readonly location: string;
  readonly #store: ObjectStore | undefined;

  /**
   * A sink writing under `url`, through `store` (default: the client configured from
   * `object_store:` in `larder.yaml`, or the `AWS_*` environment variables).
   */
  constructor(url: string, store?: ObjectStore) {
    this.location = url.replace(/\/+$/, "");
    this.#store = store;
  }

  /** Stores `data` at `<folder>/<key>`. */
  async write(key: string, data: Uint8Array): Promise<void> {
    await (this.#store ?? defaultObjectStore()).put(`${this.location}/${key}`, data);
  }
}

const URL_SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

/**
 * The sink for a destination path: a local folder (relative to the repo unless absolute), or
 * an `s3://bucket/prefix` folder in object storage. Other URLs (`gs://…`, `https://…`) are
 * `CONFIG_INVALID`: pass another {@linkcode LogSinkFactory} to the logger to write there.
 */
export const defaultLogSinks: LogSinkFactory = (
  path: string,
  { repoDir, service }: { repoDir: string; service: string },
): LogSink => {
  const scheme = URL_SCHEME.exec(path)?.[1];
  if (scheme === "s3") return new ObjectLogSink(path);
  if (scheme !== undefined) {
    throw new LarderError(
      "CONFIG_INVALID",
      `Feature service "${service}": logging destination "${path}" is a ${scheme}:// URL; feature logging writes to local folders and s3:// URLs only`,
      { details: { service, path } },
    );
  }
  return new LocalLogSink(isAbsolute(path) ? path : resolve(repoDir, path));
};
