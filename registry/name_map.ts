/**
 * Maps keyed by names that callers supply (objects, features, columns). They are created
 * without a prototype and read through own properties only, so that `"constructor"` or
 * `"toString"` is a name like any other and never finds a member of `Object.prototype`.
 */
import { LarderError } from "./errors.ts";

/**
 * The one name no map may hold: assigning it to an ordinary object replaces the object's
 * prototype, and `JSON.parse` and zod treat it differently (kept as an own key, dropped).
 */
export const RESERVED_NAME = "__proto__";

/** A new map without a prototype, holding `entries`. */
export function nameMap<T>(entries: Iterable<readonly [string, T]> = []): Record<string, T> {
  const map = Object.create(null) as Record<string, T>;
  for (const [name, value] of entries) map[name] = value;
  return map;
}

/** The value `map` holds under `name` as its own property, or `undefined`. */
export function ownValue<T>(map: Readonly<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(map, name) ? map[name] : undefined;
}

/** Whether `value` is an object holding the reserved name as its own key. */
export function holdsReservedName(value: unknown): boolean {
  return value !== null && typeof value === "object" && Object.hasOwn(value, RESERVED_NAME);
}

/**
 * Throws `INPUT_INVALID` when `map` (caller data such as columns or a row) holds the reserved
 * name as its own key; `what` names such a key in the message (`"entity column"`).
 */
export function refuseReservedName(map: unknown, what: string): void {
  if (!holdsReservedName(map)) return;
  throw new LarderError(
    "INPUT_INVALID",
    `Invalid ${what} "${RESERVED_NAME}": the name is reserved`,
    { details: { name: RESERVED_NAME } },
  );
}
