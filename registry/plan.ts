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
  /** The object's kind. */
  readonly kind: ObjectKind;
  /** The object's name. */
  readonly name: string;
  /** What happens to it. */
  readonly action: ChangeAction;
  /** Top-level spec fields that differ (for updates). */
  readonly fields: readonly string[];
  /**
   * For updates, each field of `fields` with its value in the registry (`old`) and in the
   * repo (`new`); a side is absent where the spec does not have the field.
   */
  readonly diff: Readonly<Record<string, FieldChange>>;
  /** Hash of the desired spec (empty for deletes). */
  readonly hash: string;
}

/** A changed field: the registry's value and the repo's. */
export interface FieldChange {
  /** The value in the registry (absent: the field is new). */
  readonly old?: unknown;
  /** The value in the repo (absent: the field is gone). */
  readonly new?: unknown;
}

/** The changes from the registry to the repo. */
export interface Plan {
  /** Registry version the plan was computed against. */
  readonly baseVersion: number;
  /** One entry per object, created, updated, deleted or unchanged. */
  readonly changes: readonly ObjectChange[];
  /** Whether applying the plan would change anything. */
  readonly hasChanges: boolean;
}

function changedFields(before: object, after: object): Record<string, FieldChange> {
  const old = before as Record<string, unknown>;
  const now = after as Record<string, unknown>;
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  const diff: Record<string, FieldChange> = {};
  for (const k of [...keys].sort()) {
    if (canonicalJson(old[k]) === canonicalJson(now[k])) continue;
    diff[k] = {
      ...(Object.hasOwn(old, k) && old[k] !== undefined ? { old: old[k] } : {}),
      ...(Object.hasOwn(now, k) && now[k] !== undefined ? { new: now[k] } : {}),
    };
  }
  return diff;
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
      if (!old) changes.push({ kind, name, action: "create", fields: [], diff: {}, hash });
      else if (old.meta.hash === hash) {
        changes.push({ kind, name, action: "unchanged", fields: [], diff: {}, hash });
      } else {
        const diff = changedFields(old.spec, spec);
        changes.push({ kind, name, action: "update", fields: Object.keys(diff), diff, hash });
      }
    }
    for (const name of Object.keys(stored).sort()) {
      if (!desired[kind].has(name)) {
        changes.push({ kind, name, action: "delete", fields: [], diff: {}, hash: "" });
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
