/**
 * The server's errors and the one table that turns error codes into HTTP statuses.
 * Every error body is `{"error": {"code", "message", "details"}}`; stack traces never leave
 * the process.
 */
import { isLarderError, LarderError, type LarderErrorCode } from "../engine/mod.ts";

/** The HTTP statuses of error answers. */
export type ErrorStatus = 400 | 401 | 403 | 404 | 405 | 408 | 409 | 413 | 422 | 500 | 503;

/**
 * Codes the server answers with: the engine's, plus its own for reading bodies (cannot be
 * parsed, not received in time) and for methods a route refuses (the read-only registry API).
 */
export type ApiErrorCode =
  | LarderErrorCode
  | "MALFORMED_REQUEST"
  | "REQUEST_TIMEOUT"
  | "METHOD_NOT_ALLOWED";

/**
 * The one table from error code to HTTP status. 400 means the body could not be read as
 * JSON at all; 422 means it was JSON but not a valid request (as FastAPI, and so Feast, answer).
 */
export const STATUS_OF: Readonly<Record<ApiErrorCode, ErrorStatus>> = {
  MALFORMED_REQUEST: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  CONFLICT: 409,
  REGISTRY_CONFLICT: 409,
  TOO_LARGE: 413,
  INPUT_INVALID: 422,
  SOURCE_INVALID: 422,
  DEFINITION_INVALID: 422,
  DRIFT: 503,
  UNAVAILABLE: 503,
  IO_FAILED: 503,
  CONFIG_INVALID: 503,
  REGISTRY_CORRUPT: 503,
  INTERNAL: 500,
};

/**
 * An error raised by the HTTP layer itself (the engine raises `LarderError`s). The app's
 * error handler treats both alike: by their `code`.
 */
export class ApiError extends Error {
  /** What went wrong; the status comes from {@linkcode STATUS_OF}. */
  readonly code: ApiErrorCode;
  /** Structured facts about the failure, sent as the body's `details`. */
  readonly details: Record<string, unknown> | undefined;

  /** Makes an error with a code and a message; `options` add details and the cause. */
  constructor(
    code: ApiErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ApiError";
    this.code = code;
    this.details = options.details;
  }
}

/** The JSON body of every error answer. */
export interface ErrorBody {
  /** The error: its code, message and details. */
  readonly error: {
    readonly code: ApiErrorCode;
    readonly message: string;
    readonly details: Record<string, unknown>;
  };
}

/** Whether `err` carries a code the table knows (an `ApiError` or a `LarderError`). */
function coded(err: unknown): err is { code: ApiErrorCode; message: string; details?: unknown } {
  return (err instanceof ApiError || isLarderError(err)) && err.code in STATUS_OF;
}

/**
 * The status and body for any thrown value. Unknown failures become a 500 `INTERNAL` with a
 * generic message; the caller logs them.
 */
export function errorAnswer(err: unknown): { status: ErrorStatus; body: ErrorBody } {
  if (!coded(err) || err.code === "INTERNAL") {
    return {
      status: 500,
      body: { error: { code: "INTERNAL", message: "Internal server error", details: {} } },
    };
  }
  const details = err.details !== null && typeof err.details === "object"
    ? err.details as Record<string, unknown>
    : {};
  return {
    status: STATUS_OF[err.code],
    body: { error: { code: err.code, message: err.message, details } },
  };
}

/**
 * What an edge entry answers while its feature store cannot open: a generic 503. The reason
 * names settings, files and store URLs, and no caller can be authenticated before the store is
 * open, so it goes to the log only (prefixed with `entry`, such as `larder edge`).
 */
export function cannotStartResponse(err: unknown, entry: string): Response {
  console.error(isLarderError(err) ? `${entry}: ${err.message}` : err);
  const { status, body } = errorAnswer(
    new LarderError("UNAVAILABLE", "The feature server cannot start: see its log"),
  );
  return Response.json(body, { status });
}
