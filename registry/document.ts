/** The registry document: every object of one project, versioned for compare-and-set. */
import { z } from "zod";
import type { Assert, Equals } from "./_zod.ts";
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
export interface ObjectMeta {
  /** When the object was first applied (ISO 8601). */
  createdAt: string;
  /** When its spec last changed (ISO 8601). */
  updatedAt: string;
  /** SHA-256 of its canonical spec. */
  hash: string;
}
const objectMeta = z.object({
  createdAt: z.string(),
  updatedAt: z.string(),
  hash: z.string(),
});
/** Schema of an {@linkcode ObjectMeta}. */
export const ObjectMetaSchema: z.ZodType<ObjectMeta> = objectMeta;
type _ObjectMeta = Assert<Equals<z.output<typeof objectMeta>, ObjectMeta>>;

/** Name -> value, parsed into a map without a prototype (see `name_map.ts`). */
function byName<S extends z.ZodType>(value: S) {
  return z.record(z.string(), value).transform((map) => nameMap(Object.entries(map)));
}

function stored<S extends z.ZodType>(spec: S) {
  return byName(z.object({ spec, meta: objectMeta }));
}

/** A materialized window of one view (inclusive bounds, ISO 8601). */
export interface Interval {
  /** The window's start (inclusive). */
  start: string;
  /** The window's end (inclusive). */
  end: string;
  /** When the materialization was recorded. */
  recordedAt: string;
}
const interval = z.object({
  start: z.string(),
  end: z.string(),
  recordedAt: z.string(),
});
/** Schema of an {@linkcode Interval}. */
export const IntervalSchema: z.ZodType<Interval> = interval;
type _Interval = Assert<Equals<z.output<typeof interval>, Interval>>;

/** The current format of the document. */
export const FORMAT_VERSION = 1;

/** The registry document: every object of one project, versioned for compare-and-set. */
export interface RegistryDocument {
  /** The document's format. */
  formatVersion: typeof FORMAT_VERSION;
  /** The project. */
  project: string;
  /** Increments on every write; writes are compare-and-set on it. */
  version: number;
  /** When the document was last written (ISO 8601). */
  updatedAt: string;
  /** Kind -> name -> the object's spec and metadata. */
  objects: {
    [K in ObjectKind]: Record<string, { spec: SpecOf[K]; meta: ObjectMeta }>;
  };
  /** View name -> materialized intervals, oldest first. */
  materializations: Record<string, Interval[]>;
}
const registryDocument = z.object({
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
  materializations: byName(z.array(interval)),
});
/** Schema of a {@linkcode RegistryDocument}. */
export const RegistryDocumentSchema: z.ZodType<RegistryDocument> = registryDocument;
type _RegistryDocument = Assert<Equals<z.output<typeof registryDocument>, RegistryDocument>>;

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
