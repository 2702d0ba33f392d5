/** Turns zod issues into messages that name the field and say what is wrong. */
import type { z } from "zod";
import { didYouMean } from "./suggest.ts";

function valueAt(input: unknown, path: readonly PropertyKey[]): { found: boolean; value: unknown } {
  let current: unknown = input;
  for (const key of path) {
    if (current === null || typeof current !== "object" || !Object.hasOwn(current, key)) {
      return { found: false, value: undefined };
    }
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return { found: true, value: current };
}

/** Renders a key path as `a.b[0].c`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else if (typeof key === "string" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      out += out === "" ? key : `.${key}`;
    } else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

function either(values: readonly unknown[]): string {
  const shown = values.map((v) => JSON.stringify(v));
  if (shown.length <= 1) return shown.join("");
  return `${shown.slice(0, -1).join(", ")} or ${shown.at(-1)}`;
}

/** Zod's own messages start like this; anything else was written by a schema author. */
const DEFAULT_MESSAGE = /^(Too (big|small)|Invalid|Unrecognized|Expected)/;

/**
 * The keys an object schema knows at `path` of `input`: through defaults, optionals and
 * arrays, and into the option of a discriminated union that `input`'s discriminator picks.
 */
function knownKeys(
  schema: z.core.$ZodType,
  path: readonly PropertyKey[],
  input: unknown,
): string[] {
  let current: z.core.$ZodType | undefined = schema;
  let value: unknown = input;
  let depth = 0;
  while (current !== undefined) {
    const def = current._zod.def as unknown as Record<string, unknown> & { type: string };
    if (def.innerType !== undefined) current = def.innerType as z.core.$ZodType;
    else if (def.type === "pipe") current = def.in as z.core.$ZodType;
    else if (def.type === "union") {
      const options = def.options as z.core.$ZodType[];
      const key = def.discriminator as string | undefined;
      const tag = key !== undefined && value !== null && typeof value === "object"
        ? (value as Record<string, unknown>)[key]
        : undefined;
      current = options.find((o) => {
        const shape = (o._zod.def as { shape?: Record<string, z.core.$ZodType> }).shape;
        const values = shape?.[key ?? ""]?._zod.values;
        return values !== undefined && values.has(tag as never);
      });
    } else if (depth === path.length) {
      return def.type === "object" ? Object.keys(def.shape as object) : [];
    } else {
      const step: PropertyKey = path[depth++]!;
      value = value !== null && typeof value === "object"
        ? (value as Record<PropertyKey, unknown>)[step]
        : undefined;
      if (def.type === "object") {
        current = (def.shape as Record<PropertyKey, z.core.$ZodType>)[step];
      } else if (def.type === "array") current = def.element as z.core.$ZodType;
      else if (def.type === "record") current = def.valueType as z.core.$ZodType;
      else return [];
    }
  }
  return [];
}

function issueText(issue: z.core.$ZodIssue, input: unknown, schema?: z.core.$ZodType): string {
  const { found, value } = valueAt(input, issue.path);
  if (issue.code !== "custom" && !DEFAULT_MESSAGE.test(issue.message)) return issue.message;
  switch (issue.code) {
    case "invalid_union": {
      const options = (issue as { options?: unknown[] }).options;
      if (options) return `expected ${either(options)}, got ${describe(value)}`;
      return `${issue.message}, got ${describe(value)}`;
    }
    case "invalid_value":
      return `expected ${either(issue.values)}, got ${describe(value)}`;
    case "invalid_type":
      if (!found || value === undefined) return "is required";
      return `expected ${issue.expected === "int" ? "an integer" : issue.expected}, got ${
        describe(value)
      }`;
    case "unrecognized_keys": {
      const known = schema ? knownKeys(schema, issue.path, input) : [];
      return `unknown ${issue.keys.length === 1 ? "key" : "keys"} ${
        issue.keys.map((k) => `${JSON.stringify(k)}${didYouMean(k, known)}`).join(", ")
      }`;
    }
    case "too_small":
      if (issue.origin === "array") {
        return `expected at least ${issue.minimum} ${issue.minimum === 1 ? "item" : "items"}`;
      }
      if (issue.origin === "string") return "must not be empty";
      return `must be ${issue.inclusive ? "at least" : "greater than"} ${issue.minimum}, got ${
        describe(value)
      }`;
    case "too_big":
      return `must be ${issue.inclusive ? "at most" : "less than"} ${issue.maximum}`;
    default:
      return issue.message;
  }
}

/**
 * One line per issue: `path: what is wrong`. With the `schema` that was parsed, an unknown
 * key that looks like a typo of a known one says which (`unknown key "registy" (did you mean
 * "registry"?)`).
 */
export function formatIssues(
  error: z.ZodError,
  input: unknown,
  options: { schema?: z.core.$ZodType } = {},
): string[] {
  return error.issues.map((issue) => {
    const path = formatPath(issue.path);
    const text = issueText(issue, input, options.schema);
    return path === "" ? text : `${path}: ${text}`;
  });
}

/**
 * `true` when `A` and `B` are the same type, property by property (optional and readonly
 * alike), else `false`. With {@linkcode Assert}, ties an interface written out for readers to
 * the zod schema that validates it: `type _ = Assert<Equals<z.output<typeof s>, Spec>>`.
 */
export type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2)
  ? true
  : false;

/** Compiles only when `T` is `true`: a compile-time proof. */
export type Assert<T extends true> = T;
