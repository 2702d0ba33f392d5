/** What every built definition shares, and the validation step every builder runs. */
import type { z } from "zod";
import { LarderError } from "../errors.ts";
import { formatIssues, formatPath } from "../_zod.ts";
import { holdsReservedName, RESERVED_NAME } from "../name_map.ts";
import { KIND_LABEL, type ObjectKind, type SpecOf } from "../specs.ts";

/** Fields every definition builder accepts besides its own. */
export interface CommonInput {
  /**
   * The object's name, unique among objects of its kind in the project: letters, digits and
   * `_`, not starting with a digit.
   */
  name: string;
  /** Free text shown by the CLI, the registry API and the web UI. @default {""} */
  description?: string | undefined;
  /** Free key -> value labels (permissions can require some). @default {{}} */
  tags?: Record<string, string> | undefined;
  /** Who owns the object (often an email address). @default {""} */
  owner?: string | undefined;
}

/** Brand that marks built definitions; `Symbol.for` so that module copies agree. */
export const DEFINITION: unique symbol = Symbol.for("larder.definition") as never;

/** A built definition object of some kind. */
export interface Definition<K extends ObjectKind = ObjectKind> {
  /** The brand: the kind of definition. */
  readonly [DEFINITION]: K;
  /** The kind of definition. */
  readonly kind: K;
  /** The object's name. */
  readonly name: string;
  /** The normalized form the registry stores. */
  readonly spec: SpecOf[K];
}

/** Whether `value` is a built definition (optionally of one kind). */
export function isDefinition<K extends ObjectKind>(
  value: unknown,
  kind?: K,
): value is Definition<K> {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) return false;
  const brand = (value as Record<symbol, unknown>)[DEFINITION];
  return typeof brand === "string" && (kind === undefined || brand === kind);
}

/**
 * Fields of `input` (schemas, tags, field mappings) holding `"__proto__"` as an own key, which
 * zod's records drop without a word.
 */
function reservedKeys(input: unknown): string[] {
  if (input === null || typeof input !== "object") return [];
  return Object.entries(input).filter(([, value]) => holdsReservedName(value)).map(([field]) =>
    `${formatPath([field, RESERVED_NAME])}: invalid name "${RESERVED_NAME}": it is reserved`
  );
}

/** Parses builder input, throwing a message that names the object and field. */
export function parseDefinition<S extends z.ZodType>(
  kind: ObjectKind,
  schema: S,
  input: unknown,
): z.output<S> {
  const result = schema.safeParse(input);
  const reserved = reservedKeys(input);
  if (result.success && reserved.length === 0) return result.data;
  const name = typeof (input as { name?: unknown } | null)?.name === "string"
    ? ` "${(input as { name: string }).name}"`
    : "";
  const lines = [
    ...reserved,
    ...(result.success ? [] : formatIssues(result.error, input, { schema })),
  ];
  throw new LarderError(
    "DEFINITION_INVALID",
    `${KIND_LABEL[kind]}${name}: ${lines.join("; ")}`,
    { details: { kind, issues: lines } },
  );
}

/** Makes a definition object with its brand set and everything frozen. */
export function brand<K extends ObjectKind, T extends object>(kind: K, body: T): T & Definition<K> {
  Object.defineProperty(body, DEFINITION, { value: kind, enumerable: false });
  return Object.freeze(body) as T & Definition<K>;
}

/** A reference to another object: the object itself or its name. */
export function refName(ref: string | { readonly name: string }): string {
  return typeof ref === "string" ? ref : ref.name;
}

/** What a definition reference was given as, for messages: `push source "q"`, `5`, `an object`. */
function describeRef(value: unknown): string {
  if (value === null) return "null";
  if (isDefinition(value)) {
    const kind = value.kind === "dataSource"
      ? `${(value.spec as { kind: string }).kind} source`
      : KIND_LABEL[value.kind].toLowerCase();
    return `${kind} "${value.name}"`;
  }
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "a plain object";
  if (typeof value === "function") return "a function";
  if (typeof value === "bigint") return `${value}n`;
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/**
 * The zod error of a reference option (`source`, `batchSource`) given as neither a name nor
 * the kind of definition it names: says what `what` is expected and what came instead. A
 * string falls through to the name's own error.
 */
export function refError(
  what: string,
): (issue: { readonly input?: unknown }) => string | undefined {
  return (issue) => {
    if (typeof issue.input === "string") return undefined;
    if (issue.input === undefined) return `is required: pass ${what}`;
    return `expected ${what}, got ${describeRef(issue.input)}`;
  };
}
