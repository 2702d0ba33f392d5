/** `permission()`: which roles may do which actions on which objects. */
import { z } from "zod";
import { ownValue } from "../name_map.ts";
import { NameSchema } from "../names.ts";
import type { Assert, Equals } from "../_zod.ts";
import {
  type Action,
  ACTIONS,
  type PermissionSpec,
  RESOURCE_TYPES,
  type ResourceType,
} from "../specs.ts";
import { brand, type CommonInput, type Definition, parseDefinition } from "./_definition.ts";

/** Action aliases, as in Feast. */
export const ACTION_ALIASES: Record<string, readonly Action[]> = {
  READ: ["READ_ONLINE", "READ_OFFLINE"],
  WRITE: ["WRITE_ONLINE", "WRITE_OFFLINE"],
  CRUD: ["CREATE", "DESCRIBE", "UPDATE", "DELETE"],
  ALL: ACTIONS,
};

const ActionInputSchema = z.enum([...ACTIONS, "READ", "WRITE", "CRUD", "ALL"]);

/** An action as `permission()` accepts it: one action, or an alias of several. */
export type ActionInput = Action | "READ" | "WRITE" | "CRUD" | "ALL";

/** What {@linkcode permission} accepts. */
export interface PermissionInput extends CommonInput {
  /** The object types covered. */
  types: ResourceType[];
  /**
   * Regular expressions, one of which must match an object's whole name for the permission
   * to cover it.
   * @default {[".*"]}
   */
  namePatterns?: string[] | undefined;
  /** Tags an object must carry (all of them) for the permission to cover it. @default {{}} */
  requiredTags?: Record<string, string> | undefined;
  /**
   * The actions granted: `CREATE`, `DESCRIBE`, `UPDATE`, `DELETE`, `READ_ONLINE`,
   * `READ_OFFLINE`, `WRITE_ONLINE`, `WRITE_OFFLINE`, or the aliases `READ` (both reads),
   * `WRITE` (both writes), `CRUD` (the first four) and `ALL`.
   */
  actions: ActionInput[];
  /** The roles granted them; a caller holding any one of them is granted. */
  roles: string[];
}

const PermissionInputSchema = z.strictObject({
  name: NameSchema,
  types: z.array(z.enum(RESOURCE_TYPES)).min(1),
  /** Regular expressions over object names; default: every name. */
  namePatterns: z.array(
    z.string().refine((p) => {
      try {
        new RegExp(p);
        return true;
      } catch {
        return false;
      }
    }, { error: (iss) => `invalid regular expression ${JSON.stringify(iss.input)}` }),
  ).default([".*"]),
  /** Tags an object must carry for the permission to apply. */
  requiredTags: z.record(z.string(), z.string()).default({}),
  actions: z.array(ActionInputSchema).min(1),
  roles: z.array(z.string().min(1)).min(1),
  description: z.string().default(""),
  tags: z.record(z.string(), z.string()).default({}),
  owner: z.string().default(""),
});
type _PermissionInput = Assert<Equals<z.input<typeof PermissionInputSchema>, PermissionInput>>;

/** A built permission. */
export interface Permission<N extends string = string> extends Definition<"permission"> {
  /** The permission's name. */
  readonly name: N;
}

/** Expands aliases to the concrete actions, keeping the canonical order. */
export function expandActions(actions: readonly string[]): Action[] {
  const wanted = new Set<Action>();
  for (const a of actions) {
    for (const x of ownValue(ACTION_ALIASES, a) ?? [a as Action]) wanted.add(x);
  }
  return ACTIONS.filter((a) => wanted.has(a));
}

/**
 * Defines a permission. Once any permission exists, requests no permission grants are denied.
 *
 * @example
 * ```ts
 * import { permission } from "larder";
 * export const readers = permission({
 *   name: "readers",
 *   types: ["featureView", "featureService"],
 *   actions: ["READ_ONLINE"],
 *   roles: ["model"],
 * });
 * ```
 */
export function permission<const N extends string>(
  input: PermissionInput & { name: N },
): Permission<N> {
  const parsed = parseDefinition("permission", PermissionInputSchema, input);
  const spec: PermissionSpec = {
    name: parsed.name,
    description: parsed.description,
    tags: parsed.tags,
    owner: parsed.owner,
    types: parsed.types,
    namePatterns: parsed.namePatterns,
    requiredTags: parsed.requiredTags,
    actions: expandActions(parsed.actions),
    roles: parsed.roles,
  };
  return brand("permission", { kind: "permission" as const, name: input.name, spec });
}
