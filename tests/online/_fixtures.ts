/** Registry documents and specs for the online and materialization tests. */
import { join } from "node:path";
import {
  type DataSourceSpec,
  emptyDocument,
  type EntitySpec,
  type FeatureServiceSpec,
  type FeatureViewSpec,
  type FieldSpec,
  FileRegistryBackend,
  type FileSourceSpec,
  type PushSourceSpec,
  Registry,
  type RegistryDocument,
  type ScalarType,
} from "../../registry/mod.ts";

const COMMON = { description: "", tags: {}, owner: "" };

export function entity(
  name: string,
  joinKeys: string[],
  valueType: ScalarType = "int64",
): EntitySpec {
  return { ...COMMON, name, joinKeys, valueType };
}

export function fileSource(
  name: string,
  path: string,
  options: Partial<Pick<FileSourceSpec, "createdTimestampColumn" | "fieldMapping">> & {
    timestampField?: string;
  } = {},
): FileSourceSpec {
  const spec: FileSourceSpec = {
    ...COMMON,
    name,
    kind: "file",
    path,
    format: path.endsWith(".csv") ? "csv" : "parquet",
    timestampField: options.timestampField ?? "event_timestamp",
    fieldMapping: options.fieldMapping ?? {},
  };
  if (options.createdTimestampColumn) spec.createdTimestampColumn = options.createdTimestampColumn;
  return spec;
}

export function pushSource(name: string, batchSource: string): PushSourceSpec {
  return { ...COMMON, name, kind: "push", batchSource };
}

export function featureView(
  name: string,
  options: {
    entities: string[];
    features: FieldSpec[];
    source: string;
    ttlSeconds?: number;
    online?: boolean;
  },
): FeatureViewSpec {
  return {
    ...COMMON,
    name,
    entities: options.entities,
    ttlSeconds: options.ttlSeconds ?? 0,
    features: options.features,
    source: options.source,
    online: options.online ?? true,
    offline: true,
  };
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

/** `new Date(iso)` with `Z` added when missing. */
export function t(iso: string): Date {
  return new Date(/Z$|[+-]\d\d:\d\d$/.test(iso) ? iso : `${iso}Z`);
}
