/**
 * The relationships between a registry's objects, as Feast's lineage generator derives them
 * (`sdk/python/feast/lineage/registry_lineage.py`): direct ones (an entity, a feature, a batch
 * source or an upstream view into a view; a view into a service) and indirect ones (anything
 * into a view, carried on into the services using it; an entity into its views' sources).
 */
import type { RegistryDocument } from "../engine/mod.ts";
import { batchSourceName } from "./_feast_json.ts";

/** Object types a relationship names (`FeastObjectType` values). */
export const LINEAGE_TYPES = [
  "dataSource",
  "entity",
  "featureView",
  "featureService",
  "feature",
  "savedDataset",
] as const;
export type LineageType = typeof LINEAGE_TYPES[number];

/** `EntityReference` of `protos/feast/registry/RegistryServer.proto`. */
export interface ObjectRef {
  readonly type: LineageType;
  readonly name: string;
}

/** `EntityRelation`: `source` feeds `target`. */
export interface Relation {
  readonly source: ObjectRef;
  readonly target: ObjectRef;
}

/** The direct and indirect relationships of a document. */
export interface Lineage {
  readonly direct: readonly Relation[];
  readonly indirect: readonly Relation[];
  /**
   * The view each relationship from a feature comes from (a feature is named by its name
   * alone, so this is what tells who may see it).
   */
  readonly owners: ReadonlyMap<Relation, string>;
  /** Each object's relationships (`type\0name`), direct and indirect, in the lists' order. */
  readonly byObject: ReadonlyMap<string, { direct: Relation[]; indirect: Relation[] }>;
}

function rel(
  source: LineageType,
  sourceName: string,
  target: LineageType,
  targetName: string,
): Relation {
  return { source: { type: source, name: sourceName }, target: { type: target, name: targetName } };
}

function byName<T>(map: Readonly<Record<string, T>>): [string, T][] {
  return Object.entries(map).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
}

/** Every relationship of `doc`, in Feast's order (by kind of relation, objects by name). */
export function lineageOf(doc: RegistryDocument): Lineage {
  const direct: Relation[] = [];
  const owners = new Map<Relation, string>();
  const feature = (name: string, view: string) => {
    const r = rel("feature", name, "featureView", view);
    owners.set(r, view);
    direct.push(r);
  };
  const services = byName(doc.objects.featureService);
  for (const [name, { spec }] of services) {
    for (const p of spec.projections) {
      direct.push(rel("featureView", p.view, "featureService", name));
    }
  }
  for (const [name, { spec }] of byName(doc.objects.featureView)) {
    for (const entity of spec.entities) direct.push(rel("entity", entity, "featureView", name));
    for (const f of spec.features) feature(f.name, name);
    // Feast links a view to its batch source only (for a push source, the push source's batch
    // source): stream sources are linked for stream feature views alone.
    const batch = batchSourceName(doc, name);
    if (batch !== undefined) direct.push(rel("dataSource", batch, "featureView", name));
  }
  const onDemand = byName(doc.objects.onDemandFeatureView);
  for (const [name, { spec }] of onDemand) {
    for (const f of spec.features) feature(f.name, name);
  }
  for (const [name, { spec }] of onDemand) {
    for (const source of spec.sources) {
      direct.push(
        source.kind === "requestSource"
          ? rel("dataSource", source.name, "featureView", name)
          : rel("featureView", source.name, "featureView", name),
      );
    }
  }

  const indirect: Relation[] = [];
  for (const [name, { spec }] of services) {
    for (const p of spec.projections) {
      for (const r of direct) {
        if (r.target.type === "featureView" && r.target.name === p.view) {
          const through: Relation = { source: r.source, target: { type: "featureService", name } };
          const owner = owners.get(r);
          if (owner !== undefined) owners.set(through, owner);
          indirect.push(through);
        }
      }
    }
  }
  const sourcesOf = new Map<string, string[]>();
  for (const r of direct) {
    if (r.source.type === "dataSource" && r.target.type === "featureView") {
      sourcesOf.set(r.target.name, [...(sourcesOf.get(r.target.name) ?? []), r.source.name]);
    }
  }
  for (const r of direct) {
    if (r.source.type !== "entity" || r.target.type !== "featureView") continue;
    for (const source of sourcesOf.get(r.target.name) ?? []) {
      indirect.push({ source: r.source, target: { type: "dataSource", name: source } });
    }
  }
  const byObject = new Map<string, { direct: Relation[]; indirect: Relation[] }>();
  const index = (relations: readonly Relation[], list: "direct" | "indirect") => {
    for (const r of relations) {
      for (
        const end of r.source.type === r.target.type && r.source.name === r.target.name
          ? [r.source]
          : [r.source, r.target]
      ) {
        const key = `${end.type}\0${end.name}`;
        let entry = byObject.get(key);
        if (!entry) byObject.set(key, entry = { direct: [], indirect: [] });
        entry[list].push(r);
      }
    }
  };
  index(direct, "direct");
  index(indirect, "indirect");
  return { direct, indirect, owners, byObject };
}

/** Whether `r` names `type`/`name` at either end. */
export function involves(r: Relation, type: string, name: string): boolean {
  return (r.source.type === type && r.source.name === name) ||
    (r.target.type === type && r.target.name === name);
}

/** The relationships of one object (direct, then indirect when asked), as Feast filters them. */
export function relationsOf(
  lineage: Lineage,
  type: LineageType,
  name: string,
  includeIndirect: boolean,
): Relation[] {
  const found = lineage.byObject.get(`${type}\0${name}`);
  if (!found) return [];
  return includeIndirect ? [...found.direct, ...found.indirect] : [...found.direct];
}
