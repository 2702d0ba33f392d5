/**
 * The one table from the operating system's refusals of a file operation (a full disk, a
 * read-only file system, a denied permission) to `IO_FAILED` errors that name the path and say
 * what happened in plain words: the machine's condition, not a bug in Larder.
 */
import { LarderError } from "./errors.ts";
import { ownValue } from "./name_map.ts";

/** OS error code → what happened, for a message. */
const REFUSALS: Readonly<Record<string, string>> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EFBIG: "the file is too large for the file system",
  EROFS: "read-only file system",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOTDIR: "a part of the path is a file, not a folder",
  EISDIR: "it is a folder",
  ENAMETOOLONG: "the path is too long",
  ELOOP: "too many levels of symbolic links",
  EIO: "input/output error",
  EXDEV: "the temporary file is on another file system",
  EBUSY: "the file is busy",
  ETXTBSY: "the file is busy",
};

/**
 * Out of file handles: most often Larder holding files open that it should have closed, so a
 * bug to report (`INTERNAL`), not the machine's condition.
 */
const OUT_OF_HANDLES: Readonly<Record<string, string>> = {
  EMFILE: "the process has too many open files",
  ENFILE: "the system has too many open files",
};

/** The OS code of `err` (`"ENOSPC"`), from its `code` or its message's `(os error 28)`. */
function osCode(err: Error): string | undefined {
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") return code;
  const os = /\(os error (\d+)\)/.exec(err.message)?.[1];
  const byNumber: Record<string, string> = {
    "28": "ENOSPC",
    "30": "EROFS",
    "13": "EACCES",
    "1": "EPERM",
    "20": "ENOTDIR",
    "21": "EISDIR",
    "122": "EDQUOT",
    "17": "EEXIST",
    "23": "ENFILE",
    "24": "EMFILE",
  };
  return os === undefined ? undefined : ownValue(byNumber, os);
}

/** Deno's error classes that carry no OS code. */
function denoRefusal(err: Error): string | undefined {
  if (err.name === "NotCapable") {
    return "Deno's permissions do not allow it (run with --allow-read and --allow-write)";
  }
  if (err.name === "PermissionDenied") return "permission denied";
  if (err.name === "NotADirectory") return REFUSALS.ENOTDIR;
  if (err.name === "IsADirectory") return REFUSALS.EISDIR;
  if (err.name === "FilesystemLoop") return REFUSALS.ELOOP;
  return undefined;
}

/**
 * What the OS said, in words, when `err` is a refusal of a file operation by the machine
 * (`"no space left on device"`); `undefined` for anything else (a bug, a missing file, running
 * out of file handles). `EEXIST` is one only where the operation created the parent folders
 * (`mkdir`): a file stands where a folder is needed.
 */
export function fileSystemRefusal(
  err: unknown,
  options: { readonly mkdir?: boolean } = {},
): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = osCode(err);
  if (code === "EEXIST" || err.name === "AlreadyExists") {
    return options.mkdir ? "a part of the path is a file, not a folder" : undefined;
  }
  const refusal = code === undefined ? undefined : ownValue(REFUSALS, code);
  return refusal ?? denoRefusal(err);
}

/** Options for {@linkcode fileSystemFailure}. */
export interface FileSystemFailureOptions {
  /** The file or folder the operation was for (the target, not a temporary file). */
  readonly path: string;
  /** `"write"`, `"read"`, `"create"`, `"open"`… */
  readonly action: string;
  /** The operation left everything as it was (an atomic write): the message says so. */
  readonly unchanged?: boolean;
  /** What the path is, for the message (`the registry`). */
  readonly what?: string;
  /**
   * The operation created the path's parent folders (`Deno.mkdir(…, { recursive: true })`),
   * where `EEXIST` means that a part of the path is a file.
   */
  readonly mkdir?: boolean;
}

/**
 * `IO_FAILED` for a refusal by the machine (see {@linkcode fileSystemRefusal}), naming the
 * path: `Cannot write "data/registry.json": no space left on device; nothing was changed`.
 * Out of file handles (`EMFILE`, `ENFILE`) is `INTERNAL`, naming the path too. `undefined` when
 * `err` is neither (rethrow it as it is).
 *
 * @example
 * ```ts
 * import { fileSystemFailure } from "./fs_errors.ts";
 * try {
 *   await Deno.writeTextFile("/proc/x", "x");
 * } catch (err) {
 *   throw fileSystemFailure(err, { path: "/proc/x", action: "write" }) ?? err;
 * }
 * ```
 */
export function fileSystemFailure(
  err: unknown,
  options: FileSystemFailureOptions,
): LarderError | undefined {
  if (err instanceof LarderError) {
    return err.code === "IO_FAILED" || err.code === "INTERNAL" ? err : undefined;
  }
  const target = options.what ? `${options.what} at "${options.path}"` : `"${options.path}"`;
  const unchanged = options.unchanged ? "; nothing was changed" : "";
  const handles = err instanceof Error ? ownValue(OUT_OF_HANDLES, osCode(err) ?? "") : undefined;
  if (handles !== undefined) {
    return new LarderError(
      "INTERNAL",
      `Cannot ${options.action} ${target}: ${handles}, which usually means Larder holds files open that it should have closed (please report it)${unchanged}`,
      { cause: err, details: { path: options.path, os: osCode(err as Error) } },
    );
  }
  const refusal = fileSystemRefusal(err, { mkdir: options.mkdir ?? false });
  if (refusal === undefined) return undefined;
  return new LarderError(
    "IO_FAILED",
    `Cannot ${options.action} ${target}: ${refusal}${unchanged}`,
    {
      cause: err,
      details: {
        path: options.path,
        ...(typeof (err as { code?: unknown }).code === "string"
          ? { os: (err as { code: string }).code }
          : {}),
      },
    },
  );
}
