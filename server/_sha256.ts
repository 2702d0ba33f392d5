/**
 * SHA-256 of a presented secret (API key, bridge token), computed synchronously with
 * `node:crypto`. Callers compare 32-byte digests, which keeps the check constant-time without
 * leaking the secret's length. `crypto.subtle.digest` runs on a worker thread: the hop cost the
 * bridge 180 → 84 µs per pipeline request when it was removed (docs/benchmarks.md, "Online
 * reads").
 */
import { createHash } from "node:crypto";

/** The 32-byte SHA-256 digest of `text` (UTF-8). */
export function sha256Bytes(text: string): Uint8Array {
  return createHash("sha256").update(text, "utf8").digest();
}
