/**
 * The registry document the online benchmarks serve: a `driver` entity (int64 `driver_id`), a
 * Parquet source at `data/source.parquet`, and float64 feature views over it. Built directly,
 * so that a benchmark needs no definition modules.
 */
import { emptyDocument, type RegistryDocument } from "../registry/mod.ts";

const META = { createdAt: "", updatedAt: "", hash: "" };
const COMMON = { description: "", tags: {}, owner: "" };

/** The document with the entity and the source; add views with {@linkcode addFloatView}. */
export function benchDocument(): RegistryDocument {
  const doc = emptyDocument("bench");
  doc.objects.entity.driver = {
    spec: { ...COMMON, name: "driver", joinKeys: ["driver_id"], valueType: "int64" },
    meta: META,
  };
  doc.objects.dataSource.source = {
    spec: {
      ...COMMON,
      name: "source",
      kind: "file",
      path: "data/source.parquet",
      format: "parquet",
      timestampField: "event_timestamp",
      fieldMapping: {},
    },
    meta: META,
  };
  return doc;
}

/** Adds an online feature view of `driver` over `source` with these float64 features. */
export function addFloatView(
  doc: RegistryDocument,
  name: string,
  features: readonly string[],
): void {
  doc.objects.featureView[name] = {
    spec: {
      ...COMMON,
      name,
      entities: ["driver"],
      ttlSeconds: 0,
      features: features.map((f) => ({ name: f, type: "float64" as const })),
      source: "source",
      online: true,
      offline: true,
    },
    meta: META,
  };
}

/** Adds a request source with these float64 fields. */
export function addRequestSource(
  doc: RegistryDocument,
  name: string,
  fields: readonly string[],
): void {
  doc.objects.dataSource[name] = {
    spec: {
      ...COMMON,
      name,
      kind: "request",
      schema: fields.map((f) => ({ name: f, type: "float64" as const })),
    },
    meta: META,
  };
}

/** Adds a stored on-demand view spec (the benchmark supplies its transform). */
export function addOnDemand(
  doc: RegistryDocument,
  spec: RegistryDocument["objects"]["onDemandFeatureView"][string]["spec"],
): void {
  doc.objects.onDemandFeatureView[spec.name] = { spec, meta: META };
}
