/** Registry documents and specs for the online and materialization tests. */
import { join } from "node:path";
import {
  type DataSourceSpec,
  emptyDocument,
  type EntitySpec,
  type FeatureServiceSpec,
  type FeatureViewSpec,
  FileRegistryBackend,
  type PushSourceSpec,
  Registry,
  type RegistryDocument,
} from "../../registry/mod.ts";

export { entity, featureView, fileSource, t } from "../support/specs.ts";

const COMMON = { description: "", tags: {}, owner: "" };

export function pushSource(name: string, batchSource: string): PushSourceSpec {
  return { ...COMMON, name, kind: "push", batchSource };
}

export function featureService(
  name: string,
  projections: { view: string; features: string[] }[],
): FeatureServiceSpec {
  return { ...COMMON, name, projections };
}

/** A registry document holding these objects. */
export function documentWith(
  objects: {
    entities?: EntitySpec[];
    sources?: DataSourceSpec[];
    views?: FeatureViewSpec[];
    services?: FeatureServiceSpec[];
  },
  project = "test_project",
): RegistryDocument {
  const doc = emptyDocument(project);
  const meta = {
    createdAt: "2024-01-01T00:00:00.000Z",
    updatedAt: "2024-01-01T00:00:00.000Z",
    hash: "",
  };
  for (const spec of objects.entities ?? []) doc.objects.entity[spec.name] = { spec, meta };
  for (const spec of objects.sources ?? []) doc.objects.dataSource[spec.name] = { spec, meta };
  for (const spec of objects.views ?? []) doc.objects.featureView[spec.name] = { spec, meta };
  for (const spec of objects.services ?? []) doc.objects.featureService[spec.name] = { spec, meta };
  return doc;
}

/** A file-backed registry in `dir` holding `doc`. */
export async function registryWith(dir: string, doc: RegistryDocument): Promise<Registry> {
  const registry = new Registry(new FileRegistryBackend(join(dir, "registry.json")), {
    project: doc.project,
    cacheTtlSeconds: 0,
  });
  await registry.commit(await registry.read({ fresh: true }), doc);
  return registry;
}
