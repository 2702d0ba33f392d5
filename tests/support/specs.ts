/** Registry specs built by hand, for tests of the engines below `FeatureStore`. */
import type {
  EntitySpec,
  FeatureViewSpec,
  FieldSpec,
  FileSourceSpec,
  ScalarType,
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
  options: Partial<
    Pick<
      FileSourceSpec,
      "format" | "timestampField" | "createdTimestampColumn" | "fieldMapping" | "timestampFormat"
    >
  > = {},
): FileSourceSpec {
  const spec: FileSourceSpec = {
    ...COMMON,
    name,
    kind: "file",
    path,
    format: options.format ?? (path.endsWith(".csv") ? "csv" : "parquet"),
    timestampField: options.timestampField ?? "event_timestamp",
    fieldMapping: options.fieldMapping ?? {},
  };
  if (options.createdTimestampColumn !== undefined) {
    spec.createdTimestampColumn = options.createdTimestampColumn;
  }
  if (options.timestampFormat !== undefined) spec.timestampFormat = options.timestampFormat;
  return spec;
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

/** `new Date(iso)`, with `Z` added when the text has no offset. */
export function t(iso: string): Date {
  return new Date(/Z$|[+-]\d\d:\d\d$/.test(iso) ? iso : `${iso}Z`);
}
