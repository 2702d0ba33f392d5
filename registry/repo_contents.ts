/**
 * Collects the definitions a feature repository exports and checks them as a whole:
 * duplicate names, unknown references, schema columns that are join keys, colliding
 * feature names in a service, projections' names and join-key maps.
 */
import { viewFields } from "./aggregation.ts";
import { LarderError } from "./errors.ts";
import { type Definition, isDefinition } from "./definitions/_definition.ts";
import { describeProjection, joinKeyMapProblems, projectionName } from "./projection.ts";
import { KIND_LABEL, OBJECT_KINDS, type ObjectKind, type SpecOf } from "./specs.ts";

/** A definition found in a module. */
export interface FoundDefinition {
  /** The definition object. */
  readonly value: Definition;
  /** The module that exported it (for messages), relative to the repo. */
  readonly file: string;
  /** The name it was exported under (absent for objects only referenced by others). */
  readonly exported?: string;
}

/** The checked contents of a repo, per kind, keyed by name, in definition order. */
export type RepoContents = { readonly [K in ObjectKind]: ReadonlyMap<string, SpecOf[K]> };

function quoteList(names: Iterable<string>): string {
  const list = [...names].map((n) => `"${n}"`);
  return list.length === 0 ? "none" : list.join(", ");
}

/** Referenced objects that were given as objects, so that they count as defined. */
function referencedObjects(def: Definition): Definition[] {
  const out: unknown[] = [];
  const v = def as unknown as Record<string, unknown>;
  if (Array.isArray(v.entityRefs)) out.push(...v.entityRefs);
  if (v.sourceRef !== undefined) out.push(v.sourceRef);
  if (v.batchSourceRef !== undefined) out.push(v.batchSourceRef);
  if (Array.isArray(v.sourceRefs)) out.push(...v.sourceRefs);
  return out.filter((x): x is Definition => isDefinition(x));
}

/**
 * Checks a repo's definitions and returns their specs.
 * Throws one `DEFINITION_INVALID` error listing every problem found.
 */
export function checkRepo(found: readonly FoundDefinition[]): RepoContents {
  const problems: string[] = [];
  const seen = new Map<string, FoundDefinition>();
  const byKind = Object.fromEntries(OBJECT_KINDS.map((k) => [k, new Map()])) as {
    [K in ObjectKind]: Map<string, SpecOf[K]>;
  };
  const fileOf = new Map<string, string>();
  const namespace = (kind: ObjectKind) => kind === "onDemandFeatureView" ? "featureView" : kind;

  const queue: FoundDefinition[] = [...found];
  for (let i = 0; i < queue.length; i++) {
    const { value, file, exported } = queue[i]!;
    const key = `${namespace(value.kind)}/${value.name}`;
    const prior = seen.get(key);
    if (prior) {
      const exports = prior.exported !== undefined && exported !== undefined
        ? ` (exports "${prior.exported}" and "${exported}")`
        : "";
      const problem = `${file}: ${KIND_LABEL[value.kind]} "${value.name}" is defined twice${
        prior.file === file ? exports : ` (also in ${prior.file})`
      }`;
      const differs = prior.value !== value &&
        JSON.stringify(prior.value.spec) !== JSON.stringify(value.spec);
      if (differs && !problems.includes(problem)) problems.push(problem);
      continue;
    }
    seen.set(key, queue[i]!);
    (byKind[value.kind] as Map<string, unknown>).set(value.name, value.spec);
    fileOf.set(`${value.kind}/${value.name}`, file);
    for (const ref of referencedObjects(value)) queue.push({ value: ref, file });
  }
  // Two objects under one name: the checks below would run on a set missing one of them and
  // report problems that are only consequences of that, so the names are all that is said.
  if (problems.length > 0) throw repoProblems(problems);

  const where = (kind: ObjectKind, name: string) =>
    `${fileOf.get(`${kind}/${name}`)}: ${KIND_LABEL[kind]} "${name}"`;

  for (const [name, source] of byKind.dataSource) {
    if (source.kind !== "push" && source.kind !== "stream") continue;
    const batch = byKind.dataSource.get(source.batchSource);
    if (!batch) {
      problems.push(
        `${
          where("dataSource", name)
        }: batch source "${source.batchSource}" is not defined: the repo has ${
          quoteList(
            [...byKind.dataSource.values()].filter((s) =>
              s.kind === "file" || s.kind === "postgres"
            )
              .map((s) => s.name),
          )
        }`,
      );
    } else if (batch.kind !== "file" && batch.kind !== "postgres") {
      problems.push(
        `${
          where("dataSource", name)
        }: batch source "${source.batchSource}" is not a file or Postgres source`,
      );
    }
  }

  for (const [name, view] of byKind.featureView) {
    const joinKeys = new Map<string, string>();
    for (const entityName of view.entities) {
      const ent = byKind.entity.get(entityName);
      if (!ent) {
        problems.push(
          `${where("featureView", name)}: entity "${entityName}" is not defined: the repo has ${
            quoteList(byKind.entity.keys())
          }`,
        );
        continue;
      }
      for (const key of ent.joinKeys) {
        const other = joinKeys.get(key);
        if (other !== undefined) {
          problems.push(
            `${
              where("featureView", name)
            }: entities "${other}" and "${entityName}" share the join key "${key}"`,
          );
        }
        joinKeys.set(key, entityName);
      }
    }
    for (const f of view.features) {
      const ent = joinKeys.get(f.name);
      if (ent !== undefined) {
        problems.push(
          `${
            where("featureView", name)
          }: schema column "${f.name}" is a join key of entity "${ent}"; list only features in schema`,
        );
      }
    }
    const source = byKind.dataSource.get(view.source);
    if (!source) {
      problems.push(
        `${where("featureView", name)}: source "${view.source}" is not defined: the repo has ${
          quoteList(byKind.dataSource.keys())
        }`,
      );
    } else if (source.kind === "request") {
      problems.push(
        `${
          where("featureView", name)
        }: source "${view.source}" is a request source; only on-demand feature views read request sources`,
      );
    } else if (view.stream !== undefined && source.kind !== "stream") {
      problems.push(
        `${
          where("featureView", name)
        }: source "${view.source}" is a ${source.kind} source; a stream feature view reads a stream source: the repo has ${
          quoteList(
            [...byKind.dataSource.values()].filter((s) => s.kind === "stream").map((s) => s.name),
          )
        }`,
      );
    }
  }

  for (const [name, odfv] of byKind.onDemandFeatureView) {
    for (const input of odfv.sources) {
      if (input.kind === "requestSource") {
        const s = byKind.dataSource.get(input.name);
        if (!s || s.kind !== "request") {
          problems.push(
            `${where("onDemandFeatureView", name)}: request source "${input.name}" is not defined`,
          );
        }
      } else if (!byKind.featureView.has(input.name)) {
        problems.push(
          `${
            where("onDemandFeatureView", name)
          }: feature view "${input.name}" is not defined: the repo has ${
            quoteList(byKind.featureView.keys())
          }`,
        );
      } else if (odfv.writeToOnlineStore && !byKind.featureView.get(input.name)!.online) {
        problems.push(
          `${
            where("onDemandFeatureView", name)
          }: writeToOnlineStore needs an online source, but feature view "${input.name}" is online: false`,
        );
      }
    }
  }

  /** The join keys of a feature view's entities (those defined), in order. */
  const joinKeysOf = (
    view: SpecOf["featureView"],
  ): string[] => [...new Set(view.entities.flatMap((e) => byKind.entity.get(e)?.joinKeys ?? []))];

  for (const [name, service] of byKind.featureService) {
    const at = where("featureService", name);
    const owner = new Map<string, { name: string; aliased: boolean }>();
    const byName = new Map<string, SpecOf["featureService"]["projections"][number]>();
    for (const p of service.projections) {
      const featureView = byKind.featureView.get(p.view);
      const view = featureView ?? byKind.onDemandFeatureView.get(p.view);
      if (!view) {
        problems.push(
          `${at}: feature view "${p.view}" is not defined: the repo has ${
            quoteList([...byKind.featureView.keys(), ...byKind.onDemandFeatureView.keys()])
          }`,
        );
        continue;
      }
      const projected = projectionName(p);
      const aliased = projected !== p.view;
      const label = describeProjection(p);
      if (!featureView && (aliased || p.joinKeyMap !== undefined)) {
        problems.push(
          `${at}: on-demand feature view "${p.view}" cannot be projected with ${
            aliased ? `withName("${projected}")` : "withJoinKeyMap()"
          }: only feature views can`,
        );
        continue;
      }
      const shadows = aliased &&
        (byKind.featureView.has(projected) || byKind.onDemandFeatureView.has(projected));
      const prior = byName.get(projected);
      if (shadows) {
        problems.push(
          `${at}: ${label} has the name of ${
            byKind.featureView.has(projected) ? "feature view" : "on-demand feature view"
          } "${projected}": choose another name for withName()`,
        );
      } else if (prior) {
        problems.push(
          `${at}: two projections are named "${projected}" (${
            prior.view === p.view
              ? `both of feature view "${p.view}", with different join-key maps`
              : `of feature views "${prior.view}" and "${p.view}"`
          }): give each a distinct name with withName()`,
        );
      } else byName.set(projected, p);
      if (featureView) {
        for (
          const problem of joinKeyMapProblems(p, {
            joinKeys: joinKeysOf(featureView),
            features: featureView.features.map((f) => f.name),
          })
        ) problems.push(`${at}: ${label}: ${problem}`);
      }
      const names = new Set(
        (featureView ? viewFields(featureView) : view.features).map((f) => f.name),
      );
      for (const feature of p.features) {
        if (!names.has(feature)) {
          problems.push(
            `${at}: feature view "${p.view}" has no feature "${feature}": it has ${
              quoteList(names)
            }`,
          );
          continue;
        }
        // Projections under another name exist to be read with full feature names, where
        // their columns are told apart; without them retrieval reports the collision.
        const other = owner.get(feature);
        if (other !== undefined && other.name !== projected && !other.aliased && !aliased) {
          problems.push(
            `${at}: two features named "${feature}" (from "${other.name}" and "${projected}")`,
          );
        }
        if (other === undefined || !aliased) owner.set(feature, { name: projected, aliased });
      }
    }
  }

  if (problems.length > 0) throw repoProblems(problems);
  return byKind;
}

function repoProblems(problems: readonly string[]): LarderError {
  return new LarderError(
    "DEFINITION_INVALID",
    problems.length === 1
      ? problems[0]!
      : `The feature repo has ${problems.length} problems:\n  ${problems.join("\n  ")}`,
    { details: { problems } },
  );
}
