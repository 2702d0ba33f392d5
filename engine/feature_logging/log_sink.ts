/**
 * Where logged features are written: the one seam between the feature logger and storage. A
 * sink stores whole parts under keys relative to a service's destination
 * (`date=2026-12-03/part-….parquet`); each part appears whole or not at all.
 */
import { isAbsolute, join, resolve } from "node:path";
import { atomicWriteFile, LarderError } from "../../registry/mod.ts";

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

const URL_SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

/**
 * The sink for a destination path: a local folder (relative to the repo unless absolute).
 * A URL (`s3://…`, `gs://…`, `https://…`) is `CONFIG_INVALID`: logging writes to local
 * folders only; pass another {@linkcode LogSinkFactory} to the logger to write elsewhere.
 */
export const localLogSinks: LogSinkFactory = (
  path: string,
  { repoDir, service }: { repoDir: string; service: string },
): LogSink => {
  const scheme = URL_SCHEME.exec(path)?.[1];
  if (scheme !== undefined) {
    throw new LarderError(
      "CONFIG_INVALID",
      `Feature service "${service}": logging destination "${path}" is a ${scheme}:// URL; feature logging writes to local folders only`,
      { details: { service, path } },
    );
  }
  return new LocalLogSink(isAbsolute(path) ? path : resolve(repoDir, path));
};
