/** The one table from errors to exit codes: 0 ok, 1 the user's mistake, 2 Larder's. */
import { isUserError } from "../engine/mod.ts";

/** Exit code for a thrown value. */
export function exitCodeFor(err: unknown): 1 | 2 {
  if (isUserError(err) || (err as { name?: unknown })?.name === "UsageError") return 1;
  return 2;
}
