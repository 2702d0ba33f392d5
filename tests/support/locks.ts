/** What a blocked materialization says when this test process holds the view's lock. */
import assert from "node:assert/strict";

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const ISO = String.raw`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z`;

/**
 * Checks a `CONFLICT` (a `LarderError` or an HTTP error body) for `view`, whose lock this
 * process holds: the message names this process and host, since when, and the expiry.
 */
export function assertHeldByThisProcess(
  error: { code?: unknown; message?: unknown; details?: unknown },
  view: string,
): void {
  assert.equal(error.code, "CONFLICT");
  assert.match(
    String(error.message),
    new RegExp(
      `^Feature view "${escape(view)}" is already being materialized by pid ${Deno.pid} on "${
        escape(Deno.hostname())
      }" since ${ISO} \\(its lock expires at ${ISO} unless that run renews it\\): try again when that run ends, or if it crashed, break its lock with "larder unlock ${
        escape(view)
      }"$`,
    ),
  );
  const details = error.details as Record<string, unknown>;
  assert.equal(details.view, view);
  const holder = details.holder as Record<string, unknown>;
  assert.deepEqual([holder.host, holder.pid], [Deno.hostname(), Deno.pid]);
  assert.match(String(details.expiresAt), new RegExp(`^${ISO}$`));
}
