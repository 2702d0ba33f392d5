/** `withTimeout`: a dependency's answer, or `UNAVAILABLE` when it does not come in time. */
import { LarderError } from "../engine/mod.ts";

/** `promise`, or an `UNAVAILABLE` "<what> did not answer within <ms> ms" after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new LarderError("UNAVAILABLE", `${what} did not answer within ${ms} ms`)),
        ms,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}
