/**
 * The one table from errors to exit codes: 0 ok, 1 something to fix outside Larder (the
 * input, the data, the configuration, or the machine: a full disk, a read-only file system, an
 * unreachable store), 2 a bug in Larder.
 */
import { fileSystemRefusal, isUserError } from "../engine/mod.ts";

/** Exit code for a thrown value. */
export function exitCodeFor(err: unknown): 1 | 2 {
  if (isUserError(err) || (err as { name?: unknown })?.name === "UsageError") return 1;
  // A refusal by the machine that no code path named: still not a bug.
  if (fileSystemRefusal(err) !== undefined) return 1;
  return 2;
}
