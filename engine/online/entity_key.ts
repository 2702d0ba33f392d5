/**
 * Canonical entity keys: the join-key values of one row, normalized by the entity's declared
 * type, so that int64 `1001`, `1001n` and `"1001"` name the same online row.
 *
 * Format: `name=value` per join key, sorted by join-key name, joined by `&`; values are
 * decimal for integers, shortest round-trip text for floats, `true`/`false`, epoch milliseconds
 * for timestamps, base64 for bytes; strings (and base64) are percent-encoded. A view without
 * entities has the single key `_`.
 */
import {
  type FeatureViewSpec,
  findObject,
  LarderError,
  type RegistryDocument,
  type ScalarType,
} from "../../registry/mod.ts";
import {
  article,
  coerceValue,
  describeValue,
  INVALID,
  invalidReason,
  toBase64,
} from "./value_codec.ts";

/** A join key of a feature view and its declared type. */
export interface JoinKey {
  readonly name: string;
  readonly type: ScalarType;
  /** The entity declaring it. */
  readonly entity: string;
}

/** The key of every row of a view without entities. */
export const ENTITYLESS_KEY = "_";

/** The join keys of a view's entities, sorted by name. */
export function viewJoinKeys(doc: RegistryDocument, view: FeatureViewSpec): JoinKey[] {
  const keys = new Map<string, JoinKey>();
  for (const name of view.entities) {
    const entity = findObject(doc, "entity", name)?.spec;
    if (!entity) {
      throw new LarderError(
        "NOT_FOUND",
        `Feature view "${view.name}" names entity "${name}", which the registry does not have`,
      );
    }
    for (const key of entity.joinKeys) {
      if (!keys.has(key)) keys.set(key, { name: key, type: entity.valueType, entity: name });
    }
  }
  return [...keys.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Normalizes one join-key value by its declared type; throws `INPUT_INVALID` naming the join
 * key and the value when it cannot be read as that type (or is missing).
 */
export function canonicalKeyValue(key: JoinKey, value: unknown): unknown {
  const typed = value === null || value === undefined ? INVALID : coerceValue(value, key.type);
  if (typed === INVALID || typed === null) {
    throw new LarderError(
      "INPUT_INVALID",
      value === null || value === undefined
        ? `Join key "${key.name}" has no value: every entity row needs one`
        : `Invalid value for join key "${key.name}": ${describeValue(value)} is not ${
          article(key.type)
        } ${key.type} (entity "${key.entity}")${reasonOf(value, key.type)}`,
      { details: { joinKey: key.name, type: key.type, value: describeValue(value) } },
    );
  }
  return typed;
}

function reasonOf(value: unknown, type: ScalarType): string {
  const reason = invalidReason(value, type);
  return reason === undefined ? "" : `: ${reason}`;
}

/** The text of one normalized key value (the output of {@linkcode canonicalKeyValue}). */
export function keyPart(type: ScalarType, typed: unknown): string {
  switch (type) {
    case "string":
      return encodeURIComponent(typed as string);
    case "bytes":
      return encodeURIComponent(toBase64(typed as Uint8Array));
    case "timestamp":
      return String((typed as Date).getTime());
    case "float32":
    case "float64":
      return Object.is(typed, -0) ? "0" : String(typed);
    default:
      return String(typed);
  }
}

/** The canonical key of one row, from its normalized values in the order of `keys`. */
export function entityKey(keys: readonly JoinKey[], typed: readonly unknown[]): string {
  if (keys.length === 0) return ENTITYLESS_KEY;
  let out = "";
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (i > 0) out += "&";
    out += `${key.name}=${keyPart(key.type, typed[i])}`;
  }
  return out;
}
