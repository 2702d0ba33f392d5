/**
 * Larder's registry objects in Feast's protobuf JSON: what Feast's registry REST API answers
 * (`MessageToDict` of the protos in `protos/feast/core/*.proto`: camelCase field names, enum
 * names such as `"INT64"`, durations as `"7200s"`, timestamps in RFC 3339, and fields at their
 * default value — empty strings, `false`, empty lists and maps — left out).
 */
import { findObject, type RegistryDocument } from "../engine/mod.ts";

type Objects = RegistryDocument["objects"];
type Stored<K extends keyof Objects> = Objects[K][string];
type EntitySpec = Stored<"entity">["spec"];
type DataSourceSpec = Stored<"dataSource">["spec"];
type FileSourceSpec = Extract<DataSourceSpec, { kind: "file" }>;
type FieldSpec = Stored<"featureView">["spec"]["features"][number];
type Meta = Stored<"entity">["meta"];
type ResourceType = Stored<"permission">["spec"]["types"][number];

/** A protobuf JSON object. */
export type Json = Record<string, unknown>;

/** The kinds of object one object's JSON may embed ("featureView": either kind of view). */
export type EmbeddedType = "entity" | "dataSource" | "featureView";

/**
 * Whether the caller may see the object `type`/`name`. Every builder asks it about each object
 * it would embed, and leaves out what it answers `false` for (each proto field concerned can be
 * absent, or is a list or map that can hold fewer entries): nothing hidden appears.
 */
export type Visible = (type: EmbeddedType, name: string) => boolean;

/** `feast.types.ValueType.Enum` names of Larder's scalar types (`protos/feast/types/Value.proto`). */
const VALUE_TYPE: Readonly<Record<string, string>> = {
  int32: "INT32",
  int64: "INT64",
  float32: "FLOAT",
  float64: "DOUBLE",
  string: "STRING",
  bool: "BOOL",
  bytes: "BYTES",
  timestamp: "UNIX_TIMESTAMP",
};

/** Feast's Python type names (`str(dtype)` in `sdk/python/feast/types.py`), for `/features`. */
const FEAST_TYPE: Readonly<Record<string, string>> = {
  int32: "Int32",
  int64: "Int64",
  float32: "Float32",
  float64: "Float64",
  string: "String",
  bool: "Bool",
  bytes: "Bytes",
  timestamp: "UnixTimestamp",
};

/** `PermissionSpec.Type` names (`protos/feast/core/Permission.proto`). */
const PERMISSION_TYPE: Readonly<Record<ResourceType, string>> = {
  entity: "ENTITY",
  dataSource: "DATA_SOURCE",
  featureView: "FEATURE_VIEW",
  onDemandFeatureView: "ON_DEMAND_FEATURE_VIEW",
  featureService: "FEATURE_SERVICE",
  permission: "PERMISSION",
};

/** `data_source_class_type` Feast records for each kind of source. */
const SOURCE_CLASS: Readonly<Record<DataSourceSpec["kind"], string>> = {
  file: "feast.infra.offline_stores.file_source.FileSource",
  postgres:
    "feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source.PostgreSQLSource",
  push: "feast.data_source.PushSource",
  stream: "larder.StreamSource",
  request: "feast.data_source.RequestSource",
};

/** The `ValueType` enum name of a Larder value type (`"float32[]"` is `"FLOAT_LIST"`). */
export function valueTypeName(type: string): string {
  const list = type.endsWith("[]");
  const name = VALUE_TYPE[list ? type.slice(0, -2) : type] ?? "INVALID";
  return list ? `${name}_LIST` : name;
}

/** Feast's Python name of a Larder value type (`"float32[]"` is `"Array(Float32)"`). */
export function feastTypeName(type: string): string {
  const list = type.endsWith("[]");
  const name = FEAST_TYPE[list ? type.slice(0, -2) : type] ?? "Invalid";
  return list ? `Array(${name})` : name;
}

/** An ISO 8601 time as protobuf JSON prints a `Timestamp`: 0, 3, 6 or 9 fraction digits. */
export function timestampJson(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return new Date(ms).toISOString().replace(".000Z", "Z");
}

/** Seconds as protobuf JSON prints a `Duration` (`"7200s"`, `"1.500s"`). */
export function durationJson(seconds: number): string {
  const whole = Math.trunc(seconds);
  const nanos = Math.round((seconds - whole) * 1e9);
  if (nanos === 0) return `${whole}s`;
  const digits = String(nanos).padStart(9, "0");
  const fraction = digits.endsWith("000000")
    ? digits.slice(0, 3)
    : digits.endsWith("000")
    ? digits.slice(0, 6)
    : digits;
  return `${whole}.${fraction}s`;
}

/** `obj` without the keys whose values protobuf JSON leaves out (defaults, `undefined`). */
function compact(obj: Json): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(obj)) {
    if (value === undefined || value === "" || value === false || value === 0) continue;
    if (Array.isArray(value) && value.length === 0) continue;
    if (
      value !== null && typeof value === "object" && !Array.isArray(value) &&
      Object.keys(value).length === 0 && MAPS.has(key)
    ) continue;
    out[key] = value;
  }
  return out;
}

/** Map fields (`map<string, string>`): left out when empty, unlike empty messages. */
const MAPS = new Set(["tags", "fieldMapping", "requiredTags", "joinKeyMap"]);

function metaJson(meta: Meta | undefined): Json {
  if (!meta) return {};
  return {
    createdTimestamp: timestampJson(meta.createdAt),
    lastUpdatedTimestamp: timestampJson(meta.updatedAt),
  };
}

function fieldJson(field: FieldSpec): Json {
  return { name: field.name, valueType: valueTypeName(field.type) };
}

/** `Entity` (`protos/feast/core/Entity.proto`). Feast entities have one join key: the first. */
export function entityJson(
  doc: RegistryDocument,
  name: string,
  _visible?: Visible,
): Json | undefined {
  const found = findObject(doc, "entity", name);
  if (!found) return undefined;
  const { spec } = found;
  return {
    spec: compact({
      name: spec.name,
      project: doc.project,
      valueType: valueTypeName(spec.valueType),
      description: spec.description,
      joinKey: spec.joinKeys[0],
      tags: spec.tags,
      owner: spec.owner,
    }),
    meta: metaJson(found.meta),
  };
}

function fileOptionsJson(spec: FileSourceSpec): Json {
  // Feast's FileFormat has Parquet (and Delta) only: a CSV source carries no format.
  return compact({
    fileFormat: spec.format === "parquet" ? { parquetFormat: {} } : undefined,
    uri: spec.path,
  });
}

/**
 * `DataSource` (`protos/feast/core/DataSource.proto`). `top`: the registry's own copy, with
 * the project set; embedded copies (a push source's batch source) have none, as in Feast. A
 * push source's batch source is left out when hidden (its timestamp fields, the push source's
 * own in Feast, stay).
 */
function sourceJson(
  doc: RegistryDocument,
  spec: DataSourceSpec,
  options: { top: boolean; classType: boolean; visible: Visible },
): Json {
  const meta = metaJson(findObject(doc, "dataSource", spec.name)?.meta);
  const common = {
    name: spec.name,
    project: options.top ? doc.project : undefined,
    description: spec.description,
    tags: spec.tags,
    owner: spec.owner,
    dataSourceClassType: options.classType ? SOURCE_CLASS[spec.kind] : undefined,
  };
  if (spec.kind === "file") {
    return {
      ...compact({
        type: "BATCH_FILE",
        fieldMapping: spec.fieldMapping,
        timestampField: spec.timestampField,
        createdTimestampColumn: spec.createdTimestampColumn,
        ...common,
      }),
      fileOptions: fileOptionsJson(spec),
      meta,
    };
  }
  if (spec.kind === "postgres") {
    // Feast's PostgreSQLSource keeps its options as JSON bytes in `customOptions`.
    const options = JSON.stringify(
      spec.table !== undefined
        ? { name: spec.name, table: spec.table }
        : { name: spec.name, query: spec.query },
    );
    return {
      ...compact({
        type: "CUSTOM_SOURCE",
        fieldMapping: spec.fieldMapping,
        timestampField: spec.timestampField,
        createdTimestampColumn: spec.createdTimestampColumn,
        ...common,
      }),
      customOptions: {
        configuration: btoa(String.fromCharCode(...new TextEncoder().encode(options))),
      },
      meta,
    };
  }
  if (spec.kind === "request") {
    return {
      ...compact({ type: "REQUEST_SOURCE", ...common }),
      requestDataOptions: { schema: spec.schema.map(fieldJson) },
      meta,
    };
  }
  // A push source takes its timestamp fields from its batch source (Feast's PushSource).
  const batch = findObject(doc, "dataSource", spec.batchSource)?.spec;
  const file = batch?.kind === "file" || batch?.kind === "postgres" ? batch : undefined;
  return {
    ...compact({
      type: spec.kind === "stream" ? "CUSTOM_SOURCE" : "PUSH_SOURCE",
      fieldMapping: file?.fieldMapping,
      timestampField: file?.timestampField,
      createdTimestampColumn: file?.createdTimestampColumn,
      ...common,
    }),
    ...(batch && options.visible("dataSource", batch.name)
      ? {
        batchSource: sourceJson(doc, batch, {
          top: false,
          classType: false,
          visible: options.visible,
        }),
      }
      : {}),
    meta,
  };
}

/** A data source of the registry, as `/data_sources` lists it. */
export function dataSourceJson(
  doc: RegistryDocument,
  name: string,
  visible: Visible,
): Json | undefined {
  const spec = findObject(doc, "dataSource", name)?.spec;
  return spec ? sourceJson(doc, spec, { top: true, classType: true, visible }) : undefined;
}

/**
 * A feature view's sources as Feast's `FeatureView(source=...)` records them: a push source is
 * the stream source and its batch source the batch source.
 */
function viewSources(
  doc: RegistryDocument,
  sourceName: string,
): { batch?: DataSourceSpec; stream?: DataSourceSpec } {
  const source = findObject(doc, "dataSource", sourceName)?.spec;
  if (!source) return {};
  if (source.kind !== "push" && source.kind !== "stream") return { batch: source };
  const batch = findObject(doc, "dataSource", source.batchSource)?.spec;
  return batch ? { batch, stream: source } : { stream: source };
}

/** The name of a feature view's batch source (its push source's batch source), if any. */
export function batchSourceName(doc: RegistryDocument, view: string): string | undefined {
  const spec = findObject(doc, "featureView", view)?.spec;
  return spec ? viewSources(doc, spec.source).batch?.name : undefined;
}

function entityColumns(doc: RegistryDocument, entities: readonly string[]): Json[] {
  return entities.flatMap((name) => {
    const entity: EntitySpec | undefined = findObject(doc, "entity", name)?.spec;
    return entity
      ? entity.joinKeys.map((key) => ({ name: key, valueType: valueTypeName(entity.valueType) }))
      : [];
  });
}

/**
 * `FeatureView` (`protos/feast/core/FeatureView.proto`), with `type` as Feast's REST adds it.
 * Hidden entities are left out of `entities` (their join keys stay in `entityColumns`: they are
 * the view's own columns), a hidden batch or stream source is left out.
 */
export function featureViewJson(
  doc: RegistryDocument,
  name: string,
  visible: Visible,
): Json | undefined {
  const found = findObject(doc, "featureView", name);
  if (!found) return undefined;
  const { spec } = found;
  const { batch, stream } = viewSources(doc, spec.source);
  const intervals = doc.materializations[name] ?? [];
  const embed = (source: DataSourceSpec | undefined) =>
    source && visible("dataSource", source.name)
      ? sourceJson(doc, source, { top: false, classType: true, visible })
      : undefined;
  return {
    type: "featureView",
    spec: compact({
      name: spec.name,
      project: doc.project,
      entities: spec.entities.filter((e) => visible("entity", e)),
      features: spec.features.map(fieldJson),
      tags: spec.tags,
      ttl: durationJson(spec.ttlSeconds),
      batchSource: embed(batch),
      online: spec.online,
      streamSource: embed(stream),
      description: spec.description,
      owner: spec.owner,
      entityColumns: entityColumns(doc, spec.entities),
      offline: spec.offline,
    }),
    meta: compact({
      ...metaJson(found.meta),
      materializationIntervals: intervals.map((i) => ({
        startTime: timestampJson(i.start),
        endTime: timestampJson(i.end),
      })),
    }),
  };
}

/**
 * A projection of `view` onto `features` (`FeatureViewProjection.proto`); the view's batch
 * source is left out when hidden.
 */
function projectionJson(
  doc: RegistryDocument,
  view: string,
  features: readonly string[],
  extra: {
    alias?: string | undefined;
    joinKeyMap?: Record<string, string> | undefined;
    visible: Visible;
  },
): Json {
  const spec = findObject(doc, "featureView", view)?.spec ??
    findObject(doc, "onDemandFeatureView", view)?.spec;
  const types = new Map(spec?.features.map((f) => [f.name, f.type]));
  const batch = batchSourceName(doc, view);
  const batchSpec = batch ? findObject(doc, "dataSource", batch)?.spec : undefined;
  return compact({
    featureViewName: view,
    featureViewNameAlias: extra.alias,
    featureColumns: features.map((name) => ({
      name,
      valueType: valueTypeName(types.get(name) ?? ""),
    })),
    joinKeyMap: extra.joinKeyMap,
    batchSource: batchSpec && extra.visible("dataSource", batchSpec.name)
      ? sourceJson(doc, batchSpec, { top: false, classType: false, visible: extra.visible })
      : undefined,
  });
}

/**
 * `OnDemandFeatureView` (`protos/feast/core/OnDemandFeatureView.proto`): sources keyed by
 * name, and the transform's TypeScript source text as the user-defined function's `bodyText`
 * (Feast stores Python there; `body`, the pickled function, has no Larder counterpart). A
 * hidden source (view or request source) is left out of `sources`.
 */
export function onDemandFeatureViewJson(
  doc: RegistryDocument,
  name: string,
  visible: Visible,
): Json | undefined {
  const found = findObject(doc, "onDemandFeatureView", name);
  if (!found) return undefined;
  const { spec } = found;
  const sources: Json = {};
  for (const source of spec.sources) {
    if (source.kind === "featureView") {
      if (!visible("featureView", source.name)) continue;
      sources[source.name] = {
        featureViewProjection: projectionJson(doc, source.name, source.features, { visible }),
      };
    } else {
      if (!visible("dataSource", source.name)) continue;
      const request = findObject(doc, "dataSource", source.name)?.spec;
      sources[source.name] = {
        requestDataSource: request
          ? sourceJson(doc, request, { top: false, classType: false, visible })
          : { name: source.name },
      };
    }
  }
  return {
    type: "onDemandFeatureView",
    spec: compact({
      name: spec.name,
      project: doc.project,
      features: spec.features.map(fieldJson),
      sources,
      featureTransformation: {
        userDefinedFunction: compact({
          name: spec.name,
          bodyText: spec.transformSource,
          mode: "typescript",
        }),
      },
      description: spec.description,
      tags: spec.tags,
      owner: spec.owner,
      mode: "typescript",
      writeToOnlineStore: spec.writeToOnlineStore,
    }),
    meta: metaJson(found.meta),
  };
}

/**
 * `FeatureService` (`protos/feast/core/FeatureService.proto`), with each projection's alias and
 * join-key map when it has them. A projection of a hidden view is left out.
 */
export function featureServiceJson(
  doc: RegistryDocument,
  name: string,
  visible: Visible,
): Json | undefined {
  const found = findObject(doc, "featureService", name);
  if (!found) return undefined;
  const { spec } = found;
  return {
    spec: compact({
      name: spec.name,
      project: doc.project,
      features: spec.projections.filter((p) => visible("featureView", p.view)).map((p) =>
        projectionJson(doc, p.view, p.features, {
          alias: p.nameAlias,
          joinKeyMap: p.joinKeyMap,
          visible,
        })
      ),
      tags: spec.tags,
      description: spec.description,
      owner: spec.owner,
      loggingConfig: spec.logging && compact({
        sampleRate: spec.logging.sampleRate,
        fileDestination: { path: spec.logging.destination.path },
      }),
    }),
    meta: metaJson(found.meta),
  };
}

/** `Permission` (`protos/feast/core/Permission.proto`), with a role-based policy. */
export function permissionJson(
  doc: RegistryDocument,
  name: string,
  _visible?: Visible,
): Json | undefined {
  const found = findObject(doc, "permission", name);
  if (!found) return undefined;
  const { spec } = found;
  return {
    spec: compact({
      name: spec.name,
      project: doc.project,
      // Repeated enums keep every element, the zero value (FEATURE_VIEW, CREATE) included.
      types: spec.types.map((t) => PERMISSION_TYPE[t]),
      namePatterns: spec.namePatterns,
      requiredTags: spec.requiredTags,
      actions: [...spec.actions],
      policy: { roleBasedPolicy: { roles: [...spec.roles] } },
      tags: spec.tags,
    }),
    meta: metaJson(found.meta),
  };
}

/** `Project` (`protos/feast/core/Project.proto`): the one project a registry document holds. */
export function projectJson(doc: RegistryDocument): Json {
  const created =
    Object.values(doc.objects).flatMap((objects) =>
      Object.values(objects as Record<string, { meta: Meta }>).map((o) => o.meta.createdAt)
    ).sort()[0];
  return {
    spec: { name: doc.project },
    meta: doc.version === 0 ? {} : compact({
      createdTimestamp: created ? timestampJson(created) : undefined,
      lastUpdatedTimestamp: timestampJson(doc.updatedAt),
    }),
  };
}

/**
 * One feature of a view (`Feature` in `protos/feast/registry/RegistryServer.proto`), as
 * Feast's `ListFeatures` builds it: name, view, Python type name and kind.
 */
export function featureJson(view: string, field: FieldSpec): Json {
  return { name: field.name, featureView: view, type: feastTypeName(field.type), kind: "feature" };
}
