/**
 * Reads a request body as JSON within a size and a time limit, and validates it with a zod
 * schema.
 */
import type { z } from "zod";
import { formatIssues, formatPath, RESERVED_NAME } from "../engine/mod.ts";
import { ApiError } from "./errors.ts";

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** How much of a body the server takes, and how long it waits for all of it. */
export interface BodyLimit {
  readonly bytes: number;
  /** Counted from when the handler starts reading the body. */
  readonly timeoutMs: number;
}

function tooLarge(limit: number): ApiError {
  return new ApiError(
    "TOO_LARGE",
    `Request body is over the limit of ${limit} bytes`,
    { details: { limitBytes: limit } },
  );
}

/**
 * The body's bytes; throws `TOO_LARGE` for a declared length over `limit`, and for more than
 * `limit` bytes (the bytes are counted whatever the header says: a `Request` built in process
 * may declare less than it holds).
 */
async function readAll(req: Request, limit: number): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  const length = declared !== null && /^\d+$/.test(declared) ? Number(declared) : undefined;
  if (length !== undefined && length > limit) throw tooLarge(limit);
  if (req.body === null) return new Uint8Array();
  if (length !== undefined) {
    // Deno's HTTP server ends a body at its declared length, so taking it whole is bounded
    // (and one native read, where a stream reader costs a promise per chunk).
    const bytes = new Uint8Array(await req.arrayBuffer());
    if (bytes.byteLength > limit) throw tooLarge(limit);
    return bytes;
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** A body being read, and what to do when its time is up. */
interface Waiting {
  readonly at: number;
  readonly expire: () => void;
}

/**
 * How often the bodies being read are checked against their deadlines: one timer for all of
 * them (a timer per request costs more than the rest of reading a small body), so a body
 * times out up to this much after its limit.
 */
const TICK_MS = 50;
const waiting = new Set<Waiting>();
let ticker: ReturnType<typeof setInterval> | undefined;

function sweep(): void {
  const now = performance.now();
  for (const w of waiting) {
    if (now >= w.at) {
      unwatch(w);
      w.expire();
    }
  }
}

function watch(w: Waiting): void {
  waiting.add(w);
  ticker ??= setInterval(sweep, TICK_MS);
}

/** Stops watching `w`; the timer stops with the last body, so nothing outlives the reads. */
function unwatch(w: Waiting): void {
  waiting.delete(w);
  if (waiting.size === 0 && ticker !== undefined) {
    clearInterval(ticker);
    ticker = undefined;
  }
}

/** The body's bytes; throws `REQUEST_TIMEOUT` when they do not all arrive in time. */
function readBytes(req: Request, limit: BodyLimit): Promise<Uint8Array> {
  const { promise, resolve, reject } = Promise.withResolvers<Uint8Array>();
  const w: Waiting = {
    at: performance.now() + limit.timeoutMs,
    expire: () => {
      const seconds = limit.timeoutMs / 1000;
      reject(
        new ApiError("REQUEST_TIMEOUT", `Request body was not received within ${seconds} s`, {
          details: { timeoutSeconds: seconds },
        }),
      );
    },
  };
  watch(w);
  // After a timeout, the read fails when the connection closes: nobody is waiting for it.
  readAll(req, limit.bytes).then(resolve, reject).finally(() => unwatch(w));
  return promise;
}

/**
 * Parses the body of `req` as JSON. Throws `TOO_LARGE` over `limit.bytes`, `REQUEST_TIMEOUT`
 * when the body takes longer than `limit.timeoutMs`, and `MALFORMED_REQUEST` for an empty
 * body, invalid UTF-8 or invalid JSON.
 */
export async function readJson(req: Request, limit: BodyLimit): Promise<unknown> {
  const bytes = await readBytes(req, limit);
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new ApiError("MALFORMED_REQUEST", "Request body is not valid UTF-8");
  }
  if (text.trim() === "") {
    throw new ApiError("MALFORMED_REQUEST", "Request body is empty: expected a JSON object");
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message.slice(0, 200) : "cannot parse";
    throw new ApiError("MALFORMED_REQUEST", `Request body is not valid JSON: ${why}`);
  }
}

/**
 * The path of the first `"__proto__"` key in parsed JSON. `JSON.parse` keeps it as an own key
 * and zod's records drop it without a word, so a column of that name would vanish silently.
 * Looks `depth` levels down: no valid body nests deeper, and the schema refuses what does.
 */
function reservedKeyPath(value: object, depth = 6): PropertyKey[] | undefined {
  if (depth === 0) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === null || typeof item !== "object") continue;
      const inner = reservedKeyPath(item, depth - 1);
      if (inner) return [i, ...inner];
    }
    return undefined;
  }
  if (Object.hasOwn(value, RESERVED_NAME)) return [RESERVED_NAME];
  for (const key in value) {
    const item: unknown = (value as Record<string, unknown>)[key];
    if (item === null || typeof item !== "object") continue;
    const inner = reservedKeyPath(item, depth - 1);
    if (inner) return [key, ...inner];
  }
  return undefined;
}

/** Validates `raw` with `schema`; throws `INPUT_INVALID` naming the fields that are wrong. */
export function validate<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const reserved = raw !== null && typeof raw === "object" ? reservedKeyPath(raw) : undefined;
  if (reserved) {
    const issue = `${formatPath(reserved)}: the key "${RESERVED_NAME}" is reserved`;
    throw new ApiError("INPUT_INVALID", `Invalid request body: ${issue}`, {
      details: { issues: [issue], issueCount: 1 },
    });
  }
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issues = formatIssues(result.error, raw);
  const shown = issues.slice(0, 5).join("; ");
  throw new ApiError(
    "INPUT_INVALID",
    `Invalid request body: ${shown}${issues.length > 5 ? ` (and ${issues.length - 5} more)` : ""}`,
    { details: { issues: issues.slice(0, 50), issueCount: issues.length } },
  );
}

/** Reads and validates a JSON body in one step. */
export async function readBody<S extends z.ZodType>(
  req: Request,
  schema: S,
  limit: BodyLimit,
): Promise<z.output<S>> {
  return validate(schema, await readJson(req, limit));
}
