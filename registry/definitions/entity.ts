/** `entity()`: the key that features describe. */
import { z } from "zod";
import { NameSchema } from "../names.ts";
import type { EntitySpec } from "../specs.ts";
import type { Assert, Equals } from "../_zod.ts";
import { type ScalarType, ScalarTypeSchema } from "../value_type.ts";
import { brand, type CommonInput, type Definition, parseDefinition } from "./_definition.ts";

/** What {@linkcode entity} accepts. */
export interface EntityInput extends CommonInput {
  /** The columns that identify one entity. @default {[name]} */
  joinKeys?: string[] | undefined;
  /** The value type of every join key. @default {"string"} */
  valueType?: ScalarType | undefined;
}

const EntityInputSchema = z.strictObject({
  name: NameSchema,
  /** Columns that identify the entity; default: `[name]`. */
  joinKeys: z.array(NameSchema).min(1).optional(),
  /** Type of every join key; default `"string"`. */
  valueType: ScalarTypeSchema.default("string"),
  description: z.string().default(""),
  tags: z.record(z.string(), z.string()).default({}),
  owner: z.string().default(""),
});
type _EntityInput = Assert<Equals<z.input<typeof EntityInputSchema>, EntityInput>>;

/** A built entity. */
export interface Entity<N extends string = string> extends Definition<"entity"> {
  /** The entity's name. */
  readonly name: N;
  /** The columns that identify one entity. */
  readonly joinKeys: readonly string[];
}

/**
 * Defines an entity.
 *
 * @example
 * ```ts
 * import { entity } from "larder";
 * export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
 * ```
 */
export function entity<const N extends string>(input: EntityInput & { name: N }): Entity<N> {
  const parsed = parseDefinition("entity", EntityInputSchema, input);
  const spec: EntitySpec = {
    name: parsed.name,
    description: parsed.description,
    tags: parsed.tags,
    owner: parsed.owner,
    joinKeys: parsed.joinKeys ?? [parsed.name],
    valueType: parsed.valueType,
  };
  return brand("entity", {
    kind: "entity" as const,
    name: input.name,
    joinKeys: spec.joinKeys,
    spec,
  });
}
