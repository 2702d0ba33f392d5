/**
 * Checks of a projection's name and join-key map against its feature view, shared by the repo
 * checks (feature services) and retrieval (projection handles in a request).
 */
import { ownValue } from "./name_map.ts";
import type { ProjectionSpec } from "./specs.ts";

/** What a projection is: a view, the name it goes by, how its join keys map. */
export type ProjectionTargetSpec = Pick<ProjectionSpec, "view" | "nameAlias" | "joinKeyMap">;

/** The name a projection's features go by: its alias, else its view's name. */
export function projectionName(projection: ProjectionTargetSpec): string {
  return projection.nameAlias ?? projection.view;
}

/** `projection "origin" of feature view "temperature"`, or `feature view "temperature"`. */
export function describeProjection(projection: ProjectionTargetSpec): string {
  const name = projectionName(projection);
  return name === projection.view
    ? `feature view "${projection.view}"`
    : `projection "${name}" of feature view "${projection.view}"`;
}

/**
 * The entity-table column that holds join key `key` under the projection's join-key map: the
 * mapped column, else the key's own name.
 */
export function joinKeyColumn(
  projection: Pick<ProjectionTargetSpec, "joinKeyMap">,
  key: string,
): string {
  const map = projection.joinKeyMap;
  return (map === undefined ? undefined : ownValue(map, key)) ?? key;
}

/** A canonical text of a join-key map (sorted), to tell two projections of one name apart. */
export function joinKeyMapKey(map: Readonly<Record<string, string>> | undefined): string {
  return map === undefined ? "" : JSON.stringify(Object.entries(map).sort());
}

function quoteList(names: Iterable<string>): string {
  const list = [...names].map((n) => `"${n}"`);
  return list.length === 0 ? "none" : list.join(", ");
}

/**
 * What is wrong with a projection's join-key map, given its view's join keys and features: a
 * key the view does not have, two keys read from one entity column, or an entity column named
 * like one of the view's features. Messages start lowercase, to follow a subject.
 */
export function joinKeyMapProblems(
  projection: ProjectionTargetSpec,
  view: { readonly joinKeys: readonly string[]; readonly features: readonly string[] },
): string[] {
  const map = projection.joinKeyMap;
  if (map === undefined) return [];
  const problems: string[] = [];
  for (const key of Object.keys(map)) {
    if (!view.joinKeys.includes(key)) {
      problems.push(
        `join-key map names "${key}", which is not a join key of feature view "${projection.view}" (its join keys: ${
          quoteList(view.joinKeys)
        })`,
      );
    }
  }
  const readFrom = new Map<string, string>();
  for (const key of view.joinKeys) {
    const column = joinKeyColumn(projection, key);
    const other = readFrom.get(column);
    if (other !== undefined) {
      problems.push(
        `join-key map reads join keys "${other}" and "${key}" from the same entity column "${column}"`,
      );
    }
    readFrom.set(column, key);
    if (column !== key && view.features.includes(column)) {
      problems.push(
        `join-key map reads join key "${key}" from "${column}", which is a feature of feature view "${projection.view}"`,
      );
    }
  }
  return problems;
}
