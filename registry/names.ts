/** Object names and durations as users write them in definitions. */
import { z } from "zod";
import { RESERVED_NAME } from "./name_map.ts";

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Schema of an object, feature or column name: `[A-Za-z_][A-Za-z0-9_]*`, except `__proto__`
 * (which no name-keyed object can hold safely).
 */
export const NameSchema: z.ZodType<string, string> = z.string().regex(
  NAME,
  {
    error: (iss) =>
      `invalid name ${
        JSON.stringify(iss.input)
      }: use letters, digits and "_", not starting with a digit`,
  },
).refine((name) => name !== RESERVED_NAME, {
  error: `invalid name "${RESERVED_NAME}": it is reserved`,
});

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const DURATION = /^(\d+(?:\.\d+)?)(s|m|h|d|w)/;

/**
 * Parses a duration such as `"2h"`, `"1h30m"`, `"7d"` or a number of seconds.
 * Returns seconds, or a message saying what is wrong.
 */
export function parseDuration(input: string | number): number | string {
  if (typeof input === "number") {
    if (!Number.isFinite(input)) return `expected a finite number of seconds, got ${input}`;
    if (input < 0) return `must not be negative, got ${input}`;
    return input;
  }
  const text = input.trim();
  if (text === "") return 'expected a duration such as "2h", got an empty string';
  if (text.startsWith("-")) return `must not be negative, got ${JSON.stringify(input)}`;
  let rest = text;
  let total = 0;
  while (rest.length > 0) {
    const m = DURATION.exec(rest);
    if (!m) {
      return `expected a duration such as "90s", "15m", "2h", "1d" or "1h30m", got ${
        JSON.stringify(input)
      }`;
    }
    total += Number(m[1]) * UNIT_SECONDS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** Schema of a duration: a string such as `"2h"` or seconds; output is seconds. */
export const DurationSchema: z.ZodType<number, string | number> = z.union([z.string(), z.number()])
  .transform((value, ctx) => {
    const parsed = parseDuration(value);
    if (typeof parsed === "string") {
      ctx.addIssue({ code: "custom", message: parsed });
      return z.NEVER;
    }
    return parsed;
  });
