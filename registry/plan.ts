/** Compares a repo's definitions with the registry, object by object, and applies the result. */
import { canonicalJson, specHash } from "./canonical.ts";
import { findObject, type RegistryDocument, withNameMaps } from "./document.ts";
import { ownValue } from "./name_map.ts";
import type { RepoContents } from "./repo_contents.ts";
import { OBJECT_KINDS, type ObjectKind } from "./specs.ts";

/** What happens to one object. */
export type ChangeAction = "create" | "update" | "delete" | "unchanged";

/** One object's change. */
export interface ObjectChange {
  readonly kind: ObjectKind;
  readonly name: string;
  readonly action: ChangeAction;
  /** Top-level spec fields that differ (for updates). */
  readonly fields: readonly string[];
  /** Hash of the desired spec (empty for deletes). */
  readonly hash: string;
}

/** The changes from the registry to the repo. */
export interface Plan {
  /** Registry version the plan was computed against. */
  readonly baseVersion: number;
  readonly changes: readonly ObjectChange[];
  /** Whether applying the plan would change anything. */
  readonly hasChanges: boolean;
}

function changedFields(before: object, after: object): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) =>
    canonicalJson((before as Record<string, unknown>)[k]) !==
      canonicalJson((after as Record<string, unknown>)[k])
  ).sort();
}

/** Compares `desired` with `current`. */
export async function planChanges(current: RegistryDocument, desired: RepoContents): Promise<Plan> {
  const changes: ObjectChange[] = [];
  for (const kind of OBJECT_KINDS) {
    const stored = current.objects[kind] as Record<
      string,
      { meta: { hash: string }; spec: object }
    >;
    for (const [name, spec] of [...desired[kind]].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) {
      const hash = await specHash(spec);
      const old = ownValue(stored, name);
      if (!old) changes.push({ kind, name, action: "create", fields: [], hash });
      else if (old.meta.hash === hash) {
        changes.push({ kind, name, action: "unchanged", fields: [], hash });
      } else {changes.push({
          kind,
          name,
          action: "update",
          fields: changedFields(old.spec, spec),
          hash,
        });}
    }
    for (const name of Object.keys(stored).sort()) {
      if (!desired[kind].has(name)) {
        changes.push({ kind, name, action: "delete", fields: [], hash: "" });
      }
    }
  }
  return {
    baseVersion: current.version,
    changes,
    hasChanges: changes.some((c) => c.action !== "unchanged"),
  };
}

/** The document after applying `plan` (objects only; version and times are set on commit). */
export function applyPlan(
  current: RegistryDocument,
  desired: RepoContents,
  plan: Plan,
  now: Date = new Date(),
): RegistryDocument {
  const at = now.toISOString();
  const next = structuredClone(current);
  for (const change of plan.changes) {
    const objects = next.objects[change.kind] as Record<string, { spec: unknown; meta: unknown }>;
    if (change.action === "delete") {
      delete objects[change.name];
      if (change.kind === "featureView") delete next.materializations[change.name];
      continue;
    }
    if (change.action === "unchanged") continue;
    const spec = (desired[change.kind] as ReadonlyMap<string, unknown>).get(change.name);
    const createdAt = change.action === "create"
      ? at
      : (findObject(current, change.kind, change.name)?.meta.createdAt ?? at);
    objects[change.name] = { spec, meta: { createdAt, updatedAt: at, hash: change.hash } };
  }
  // Keep objects in a stable order so that the document diffs cleanly.
  for (const kind of OBJECT_KINDS) {
    const objects = next.objects[kind] as Record<string, unknown>;
    next.objects[kind] = Object.fromEntries(
      Object.keys(objects).sort().map((k) => [k, objects[k]]),
    ) as never;
  }
  return withNameMaps(next);
}
