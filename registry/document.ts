/** The registry document: every object of one project, versioned for compare-and-set. */
import { z } from "zod";
import { LarderError } from "./errors.ts";
import { nameMap, ownValue } from "./name_map.ts";
import { NameSchema } from "./names.ts";
import {
  DataSourceSpecSchema,
  EntitySpecSchema,
  FeatureServiceSpecSchema,
  FeatureViewSpecSchema,
  KIND_LABEL,
  type ObjectKind,
  OnDemandFeatureViewSpecSchema,
  PermissionSpecSchema,
  type SpecOf,
} from "./specs.ts";

/** When an object was created and last changed, and the hash of its spec. */
export const ObjectMetaSchema = z.object({
  createdAt: z.string(),
  updatedAt: z.string(),
  hash: z.string(),
});
export type ObjectMeta = z.infer<typeof ObjectMetaSchema>;

/** Name -> value, parsed into a map without a prototype (see `name_map.ts`). */
function byName<S extends z.ZodType>(value: S) {
  return z.record(z.string(), value).transform((map) => nameMap(Object.entries(map)));
}

function stored<S extends z.ZodType>(spec: S) {
  return byName(z.object({ spec, meta: ObjectMetaSchema }));
}

/** A materialized window of one view (inclusive bounds, ISO 8601). */
export const IntervalSchema = z.object({
  start: z.string(),
  end: z.string(),
  recordedAt: z.string(),
});
export type Interval = z.infer<typeof IntervalSchema>;

/** The current format of the document. */
export const FORMAT_VERSION = 1;

/** The registry document. */
export const RegistryDocumentSchema = z.object({
  formatVersion: z.literal(FORMAT_VERSION),
  project: NameSchema,
  /** Increments on every write; writes are compare-and-set on it. */
  version: z.number().int().nonnegative(),
  updatedAt: z.string(),
  objects: z.object({
    entity: stored(EntitySpecSchema),
    dataSource: stored(DataSourceSpecSchema),
    featureView: stored(FeatureViewSpecSchema),
    onDemandFeatureView: stored(OnDemandFeatureViewSpecSchema),
    featureService: stored(FeatureServiceSpecSchema),
    permission: stored(PermissionSpecSchema),
  }),
  /** View name -> materialized intervals, oldest first. */
  materializations: byName(z.array(IntervalSchema)),
});
export type RegistryDocument = z.infer<typeof RegistryDocumentSchema>;

/** A stored object of one kind. */
export type StoredObject<K extends ObjectKind> = RegistryDocument["objects"][K][string];

/**
 * The stored object `name` of `kind`, or `undefined`. Every lookup of a name in the document
 * goes through here (or {@linkcode objectOf}): only the document's own entries count.
 */
export function findObject<K extends ObjectKind>(
  doc: RegistryDocument,
  kind: K,
  name: string,
): { spec: SpecOf[K]; meta: ObjectMeta } | undefined {
  return ownValue(
    doc.objects[kind] as unknown as Record<string, { spec: SpecOf[K]; meta: ObjectMeta }>,
    name,
  );
}

/**
 * The stored object `name` of `kind`; throws `NOT_FOUND` naming what the document has instead.
 */
export function objectOf<K extends ObjectKind>(
  doc: RegistryDocument,
  kind: K,
  name: string,
): { spec: SpecOf[K]; meta: ObjectMeta } {
  const found = findObject(doc, kind, name);
  if (found) return found;
  const have = Object.keys(doc.objects[kind]).sort().map((n) => `"${n}"`);
  throw new LarderError(
    "NOT_FOUND",
    `Cannot find ${KIND_LABEL[kind].toLowerCase()} "${name}": the registry has ${
      have.length === 0 ? "none" : have.join(", ")
    }`,
    { details: { kind, name } },
  );
}

/** A document with no objects, at version 0. */
export function emptyDocument(project: string): RegistryDocument {
  return withNameMaps({
    formatVersion: FORMAT_VERSION,
    project,
    version: 0,
    updatedAt: new Date(0).toISOString(),
    objects: {
      entity: {},
      dataSource: {},
      featureView: {},
      onDemandFeatureView: {},
      featureService: {},
      permission: {},
    },
    materializations: {},
  });
}

/**
 * `doc` with its name-keyed maps (objects of each kind, materializations) copied into maps
 * without a prototype, as a parsed document has them (`structuredClone` and object literals
 * give ordinary objects).
 */
export function withNameMaps(doc: RegistryDocument): RegistryDocument {
  const objects = Object.fromEntries(
    Object.entries(doc.objects).map(([kind, map]) => [kind, nameMap(Object.entries(map))]),
  ) as RegistryDocument["objects"];
  return { ...doc, objects, materializations: nameMap(Object.entries(doc.materializations)) };
}
