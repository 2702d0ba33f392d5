/**
 * One error class for everything Larder reports. Callers branch on `code`;
 * the edges (CLI, HTTP server) turn codes into exit codes and statuses.
 */

/** Every condition a caller may need to tell apart. */
export type LarderErrorCode =
  /** `larder.yaml` is missing or invalid. */
  | "CONFIG_INVALID"
  /** A definition (entity, source, view, service, permission) is invalid. */
  | "DEFINITION_INVALID"
  /** A request (SDK options, CLI flags, HTTP body) is invalid. */
  | "INPUT_INVALID"
  /** A data file does not match what its definition says. */
  | "SOURCE_INVALID"
  /** A named object does not exist. */
  | "NOT_FOUND"
  /** The registry changed between read and write (compare-and-set lost). */
  | "REGISTRY_CONFLICT"
  /** Another operation holds the resource (e.g. a materialization lock). */
  | "CONFLICT"
  /** The stored registry document cannot be parsed. */
  | "REGISTRY_CORRUPT"
  /** No or invalid credentials. */
  | "UNAUTHENTICATED"
  /** Valid credentials without the permission. */
  | "FORBIDDEN"
  /** A request body or input over its size limit. */
  | "TOO_LARGE"
  /** A definition changed since the registry was applied (e.g. a transform hash). */
  | "DRIFT"
  /** A backing service (Redis, registry store) cannot be reached. */
  | "UNAVAILABLE"
  /**
   * The machine refused a file operation: no space left, a read-only file system, a denied
   * permission, a path through a file (see `fs_errors.ts`). Writes left the previous file
   * intact.
   */
  | "IO_FAILED"
  /** A bug or an unexpected failure inside Larder. */
  | "INTERNAL";

/** Options for {@linkcode LarderError}. */
export interface LarderErrorOptions {
  /** The underlying failure. */
  cause?: unknown;
  /** Machine-readable detail (field paths, names); shown to HTTP callers. */
  details?: Record<string, unknown>;
}

/**
 * The error Larder throws for every condition it recognizes.
 *
 * @example
 * ```ts
 * import { LarderError } from "./errors.ts";
 * throw new LarderError("NOT_FOUND", 'Cannot find feature view "x"');
 * ```
 */
export class LarderError extends Error {
  /** What went wrong, for callers to branch on (and the edges to map to statuses). */
  readonly code: LarderErrorCode;
  /** Structured facts about the failure (the object, the field, ...). */
  readonly details: Record<string, unknown> | undefined;

  /** Makes an error with a code and a message; `options` add details and the cause. */
  constructor(code: LarderErrorCode, message: string, options: LarderErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "LarderError";
    this.code = code;
    this.details = options.details;
  }
}

/** Whether `err` is a {@linkcode LarderError}, asked structurally so that copies of the module agree. */
export function isLarderError(err: unknown): err is LarderError {
  return err instanceof Error && err.name === "LarderError" &&
    typeof (err as { code?: unknown }).code === "string";
}

/** Codes that describe the caller's mistake rather than Larder's or a service's failure. */
const USER_CODES: ReadonlySet<LarderErrorCode> = new Set<LarderErrorCode>([
  "CONFIG_INVALID",
  "DEFINITION_INVALID",
  "INPUT_INVALID",
  "SOURCE_INVALID",
  "NOT_FOUND",
  "REGISTRY_CONFLICT",
  "CONFLICT",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "TOO_LARGE",
  "DRIFT",
  "UNAVAILABLE",
  "IO_FAILED",
  "REGISTRY_CORRUPT",
]);

/** Whether the error is one the user can act on (as opposed to a bug). */
export function isUserError(err: unknown): boolean {
  return isLarderError(err) && USER_CODES.has(err.code);
}
