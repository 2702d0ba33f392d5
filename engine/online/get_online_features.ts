/** `getOnlineFeatures`: the latest feature values of entity rows, from the online store. */
import {
  aggregationOf,
  LarderError,
  ownValue,
  refuseReservedName,
  type Registry,
  type RegistryDocument,
  type ScalarType,
} from "../../registry/mod.ts";
import {
  type LoadedTransform,
  requestValues,
  runTransform,
  type TransformLoader,
} from "../on_demand.ts";
import {
  type FeatureReference,
  type ResolvedFeature,
  type ResolvedRequest,
  type ResolvedView as SharedResolvedView,
  resolveFeatures,
} from "../resolve_features.ts";
import { canonicalKeyValue, entityKey, type JoinKey, viewJoinKeys } from "./entity_key.ts";
import type { OnlineKey, OnlineStore } from "./online_store.ts";
import {
  type FeatureStatus,
  type OnlineColumn,
  OnlineFeaturesResponse,
} from "./online_response.ts";
import { coerceValue, decodeValue, INVALID } from "./value_codec.ts";
import { ShapeCache } from "../shape_cache.ts";
import { aggregateRing, decodeRing, type Ring, tileLayout, tilesView } from "./tiles.ts";

/** A view of the request with its join keys. */
interface ResolvedView extends SharedResolvedView {
  /** The view's join keys, sorted by name: they make its keys in the store. */
  readonly joinKeys: readonly JoinKey[];
  /**
   * Per join key, the entity column of the request holding its values, named after that column
   * (a projection's join-key map renames them; else the same array as `joinKeys`).
   */
  readonly inputs: readonly JoinKey[];
  /** The join keys and their columns, as one string: views with the same one share keys. */
  readonly signature: string;
}

/** What online reads need. */
export interface OnlineDeps {
  /** The registry, or a document already read from it. */
  readonly registry: Registry | RegistryDocument;
  readonly online: OnlineStore;
  /**
   * The clock that view ttls are measured against.
   * @default {() => new Date()}
   */
  readonly now?: () => Date;
  /** Loads on-demand transforms (from the definitions); needed only for on-demand views. */
  readonly transforms?: TransformLoader;
}

/** Entity values as columns: `{ driver_id: [1001, 1002] }`. */
export type EntityColumns = Readonly<Record<string, readonly unknown[]>>;
/** Entity values as rows: `[{ driver_id: 1001 }, { driver_id: 1002 }]`. */
export type EntityRows = readonly Readonly<Record<string, unknown>>[];

/** Options for {@linkcode getOnlineFeatures}. */
export interface GetOnlineFeaturesRequest {
  /** `"view:feature"` references (or typed handles); or use `featureService`. */
  readonly features?: readonly FeatureReference[];
  /** A feature service whose features to read; or use `features`. */
  readonly featureService?: string;
  /**
   * The entity rows, as columns or as row objects. Like Feast, the response echoes (first, in
   * request order) every column that is a join key of a requested view (under a projection's
   * join-key map, the mapped column) or of any entity of the project; other columns (such as
   * request data) are accepted and not echoed.
   */
  readonly entities: EntityColumns | EntityRows;
  /**
   * Name feature columns `view__feature` instead of `feature`.
   * @default {false}
   */
  readonly fullFeatureNames?: boolean;
}

/** The registry document of `deps`, read through the registry's cache when given a registry. */
export async function documentOf(registry: Registry | RegistryDocument): Promise<RegistryDocument> {
  return "objects" in registry ? registry : await registry.read();
}

function toColumns(entities: EntityColumns | EntityRows): {
  columns: Map<string, readonly unknown[]>;
  rowCount: number | undefined;
} {
  const columns = new Map<string, readonly unknown[]>();
  if (Array.isArray(entities)) {
    const rows = entities as EntityRows;
    const names = new Set<string>();
    for (const row of rows) {
      if (row === null || typeof row !== "object") {
        throw new LarderError(
          "INPUT_INVALID",
          "Entity rows must be objects such as { driver_id: 1001 }",
        );
      }
      refuseReservedName(row, "entity column");
      for (const name of Object.keys(row)) names.add(name);
    }
    for (const name of names) columns.set(name, rows.map((row) => row[name]));
    return { columns, rowCount: rows.length };
  }
  if (entities === null || typeof entities !== "object") {
    throw new LarderError(
      "INPUT_INVALID",
      "Entities must be columns ({ driver_id: [1001, 1002] }) or rows ([{ driver_id: 1001 }])",
    );
  }
  refuseReservedName(entities, "entity column");
  let rowCount: number | undefined;
  for (const [name, values] of Object.entries(entities as EntityColumns)) {
    if (!Array.isArray(values)) {
      throw new LarderError(
        "INPUT_INVALID",
        `Entity column "${name}" must be an array of values, got ${typeof values}`,
      );
    }
    if (rowCount !== undefined && values.length !== rowCount) {
      const lengths = Object.entries(entities as EntityColumns)
        .map(([n, v]) => `${n}: ${Array.isArray(v) ? v.length : "?"}`).join(", ");
      throw new LarderError(
        "INPUT_INVALID",
        `Entity columns have different lengths (${lengths})`,
      );
    }
    rowCount = values.length;
    columns.set(name, values);
  }
  return { columns, rowCount };
}

function missingKeyError(view: ResolvedView, index: number, given: Iterable<string>): LarderError {
  const have = [...given].map((n) => `"${n}"`);
  const key = view.joinKeys[index]!;
  const column = view.inputs[index]!.name;
  const request = `the request has ${have.length === 0 ? "no entity columns" : have.join(", ")}`;
  if (column !== key.name) {
    return new LarderError(
      "INPUT_INVALID",
      `Entity column "${column}" is missing: projection "${view.name}" of feature view "${view.spec.name}" reads its join key "${key.name}" from it; ${request}`,
      { details: { view: view.spec.name, projection: view.name, joinKey: key.name, column } },
    );
  }
  return new LarderError(
    "INPUT_INVALID",
    `Entity column "${key.name}" is missing: feature view "${view.spec.name}" needs join ${
      view.joinKeys.length === 1 ? "key" : "keys"
    } ${view.joinKeys.map((k) => `"${k.name}"`).join(", ")}; ${request}`,
    { details: { view: view.spec.name, joinKey: key.name } },
  );
}

async function loadTransforms(
  deps: OnlineDeps,
  names: readonly string[],
  doc: RegistryDocument,
): Promise<ReadonlyMap<string, LoadedTransform>> {
  if (!deps.transforms) {
    throw new LarderError(
      "INPUT_INVALID",
      `On-demand feature ${names.length === 1 ? "view" : "views"} ${
        names.map((n) => `"${n}"`).join(", ")
      } need the repo's definitions to run; this caller has none loaded`,
    );
  }
  return await deps.transforms(names, doc);
}

/** What a request shape resolves to against one registry document; see {@linkcode planOf}. */
interface OnlinePlan {
  readonly resolved: ResolvedRequest;
  readonly views: readonly ResolvedView[];
  readonly viewByName: ReadonlyMap<string, ResolvedView>;
  /**
   * Entity columns echoed though no requested view reads them: join keys of the project's
   * entities (Feast echoes those too), with their entity's type; not request fields, not a
   * feature's output name.
   */
  readonly alsoEchoed: ReadonlyMap<string, ScalarType>;
  /** A feature named like an echoed entity column: thrown once the join keys are checked. */
  readonly collision: (() => LarderError) | undefined;
}

const plans = new ShapeCache<OnlinePlan>();

function refKey(ref: FeatureReference): string | unknown[] {
  if (typeof ref === "string") return ref;
  const projection = ref?.projection;
  return projection === undefined
    ? [ref?.view, ref?.feature]
    : [ref?.view, ref?.feature, projection?.view, projection?.joinKeyMap ?? null];
}

/** `keys`, each renamed to the entity column a join-key map reads it from. */
function inputsOf(
  keys: readonly JoinKey[],
  map: Readonly<Record<string, string>> | undefined,
): readonly JoinKey[] {
  if (map === undefined) return keys;
  return keys.map((k) => (Object.hasOwn(map, k.name) ? { ...k, name: map[k.name]! } : k));
}

/**
 * Resolves the request's features against `doc`, once per document and request shape (the
 * server answers the same few shapes over and over). The entities play no part here.
 */
function planOf(doc: RegistryDocument, request: GetOnlineFeaturesRequest): OnlinePlan {
  // JSON keeps every list apart (["a:b\n", "c:d"] is not ["a:b", "", "c:d"]).
  const shape = JSON.stringify([
    request.features?.map(refKey) ?? null,
    request.featureService ?? null,
    request.fullFeatureNames === true,
  ]);
  return plans.get(doc, shape, () => {
    const resolved = resolveFeatures(doc, {
      features: request.features,
      featureService: request.featureService,
      fullFeatureNames: request.fullFeatureNames,
      path: "online",
    });
    const views: ResolvedView[] = resolved.views.map((v) => {
      const joinKeys = viewJoinKeys(doc, v.spec);
      const inputs = inputsOf(joinKeys, v.joinKeyMap);
      return {
        ...v,
        joinKeys,
        inputs,
        signature: joinKeys.map((key, i) => `${key.name}\u0000${key.type}\u0000${inputs[i]!.name}`)
          .join("\u0001"),
      };
    });
    // Entity columns that views read (each must be in the request) are echoed.
    const echoed = new Set(views.flatMap((v) => v.inputs.map((k) => k.name)));
    const clash = resolved.columns.find(({ feature }) => echoed.has(feature.output));
    const outputs = new Set(resolved.columns.map((c) => c.feature.output));
    const requestFields = new Set(resolved.requestFields.map((f) => f.name));
    const alsoEchoed = new Map<string, ScalarType>();
    for (const { spec } of Object.values(doc.objects.entity)) {
      for (const key of spec.joinKeys) {
        if (echoed.has(key) || requestFields.has(key) || outputs.has(key)) continue;
        if (!alsoEchoed.has(key)) alsoEchoed.set(key, spec.valueType);
      }
    }
    return {
      resolved,
      views,
      viewByName: new Map(views.map((v) => [v.name, v])),
      alsoEchoed,
      collision: clash &&
        (() =>
          new LarderError(
            "INPUT_INVALID",
            `Feature "${clash.feature.name}" of feature view "${clash.view}" has the name of the entity column "${clash.feature.output}": pass fullFeatureNames to name it "${clash.view}__${clash.feature.name}"`,
          )),
    };
  });
}

/**
 * The values of an echoed column that no view reads, typed by its entity where they can be read
 * as that type and as given otherwise: it is not used, so it refuses nothing.
 */
function echoValues(raw: readonly unknown[], type: ScalarType, rowCount: number): unknown[] {
  const values = new Array<unknown>(rowCount);
  for (let r = 0; r < rowCount; r++) {
    const typed = coerceValue(raw[r], type);
    values[r] = typed === INVALID ? (raw[r] ?? null) : typed;
  }
  return values;
}

/**
 * Reads the latest values of features for entity rows: one store read for all rows and views
 * (one HTTP request on Redis). Statuses follow Feast's Go server: `NOT_FOUND` when nothing is
 * stored for the key, `NULL_VALUE` for a stored null, `OUTSIDE_MAX_AGE` (value still returned)
 * when the row is older than the view's ttl at read time, otherwise `PRESENT`.
 *
 * Throws `NOT_FOUND` for unknown views, features or services (naming what exists) and
 * `INPUT_INVALID` for a missing join-key column, a join-key value of the wrong type, or two
 * views giving the same feature name without `fullFeatureNames`.
 *
 * @example
 * ```ts ignore
 * const res = await getOnlineFeatures({ registry, online }, {
 *   features: ["driver_hourly_stats:conv_rate"],
 *   entities: { driver_id: [1001, 1002] },
 * });
 * console.log(res.toRows());
 * ```
 */
export async function getOnlineFeatures(
  deps: OnlineDeps,
  request: GetOnlineFeaturesRequest,
): Promise<OnlineFeaturesResponse> {
  const doc = await documentOf(deps.registry);
  const { resolved, views, viewByName, alsoEchoed, collision } = planOf(doc, request);
  const { columns: given, rowCount: counted } = toColumns(request.entities);
  const allEntityless = views.every((v) => v.joinKeys.length === 0);
  const rowCount = counted ?? (allEntityless ? 1 : 0);

  // Entity columns that views read, normalized by the first view that needs them.
  const echoed = new Map<string, unknown[]>();
  const normalized = new Map<string, unknown[]>();
  const normalize = (key: JoinKey): unknown[] => {
    const cacheKey = `${key.name}\u0000${key.type}`;
    let values = normalized.get(cacheKey);
    if (!values) {
      const raw = given.get(key.name)!;
      values = new Array<unknown>(rowCount);
      for (let r = 0; r < rowCount; r++) values[r] = canonicalKeyValue(key, raw[r]);
      normalized.set(cacheKey, values);
    }
    if (!echoed.has(key.name)) echoed.set(key.name, values);
    return values;
  };

  // Canonical keys per view and row; each distinct (view, key) is read once. Views with the
  // same join keys share their rows' entity keys (computed once per row, not once per view).
  const readKeys: OnlineKey[] = [];
  const rowSlots = new Map<ResolvedView, Int32Array>();
  // Views with aggregations also read their entities' tile rings, in the same store call.
  const tileSlots = new Map<ResolvedView, Int32Array>();
  const entityKeysBySignature = new Map<string, string[]>();
  // Per stored view: where each key is in `readKeys` (projections of one view share reads).
  const readIndexes = new Map<string, Map<string, number>>();
  for (const view of views) {
    const keyValues = view.inputs.map((input, i) => {
      if (!given.has(input.name)) throw missingKeyError(view, i, given.keys());
      return normalize(input);
    });
    let keys = entityKeysBySignature.get(view.signature);
    if (!keys) {
      keys = new Array<string>(rowCount);
      const typed = new Array<unknown>(view.joinKeys.length);
      for (let r = 0; r < rowCount; r++) {
        for (let k = 0; k < keyValues.length; k++) typed[k] = keyValues[k]![r];
        keys[r] = entityKey(view.joinKeys, typed);
      }
      entityKeysBySignature.set(view.signature, keys);
    }
    const slotsOf = (stored: string): Int32Array => {
      let readIndex = readIndexes.get(stored);
      if (!readIndex) {
        readIndex = new Map<string, number>();
        readIndexes.set(stored, readIndex);
      }
      const slots = new Int32Array(rowCount);
      for (let r = 0; r < rowCount; r++) {
        const key = keys![r]!;
        let slot = readIndex.get(key);
        if (slot === undefined) {
          slot = readKeys.length;
          readIndex.set(key, slot);
          readKeys.push({ view: stored, entityKey: key });
        }
        slots[r] = slot;
      }
      return slots;
    };
    const aggregated = view.features.filter((f) => aggregationOf(view.spec, f.name));
    if (aggregated.length < view.features.length) rowSlots.set(view, slotsOf(view.spec.name));
    if (aggregated.length > 0) tileSlots.set(view, slotsOf(tilesView(view.spec.name)));
  }

  if (collision) throw collision();

  // Request data for on-demand views travels with the entities; typed by its request source.
  const requestData = new Map<string, unknown[]>();
  for (const field of resolved.requestFields) {
    const raw = given.get(field.name);
    if (raw === undefined) {
      throw new LarderError(
        "INPUT_INVALID",
        `Request field "${field.name}" is missing: on-demand feature view ${
          resolved.onDemand.filter((od) => od.inputs.has(field.name)).map((od) =>
            `"${od.spec.name}"`
          ).join(", ")
        } needs it with the entities`,
        { details: { field: field.name } },
      );
    }
    requestData.set(field.name, requestValues(field, raw));
  }
  const transforms = resolved.onDemand.length > 0
    ? await loadTransforms(deps, resolved.onDemand.map((od) => od.spec.name), doc)
    : new Map<string, LoadedTransform>();

  const records = rowCount === 0 ? [] : await deps.online.read(readKeys);
  const nowMicros = (deps.now?.() ?? new Date()).getTime() * 1000;

  const output: OnlineColumn[] = [];
  for (const [name, raw] of given) {
    let values = echoed.get(name);
    if (!values) {
      const type = alsoEchoed.get(name);
      if (type === undefined) continue;
      values = echoValues(raw, type, rowCount);
    }
    output.push({
      name,
      values,
      statuses: new Array<FeatureStatus>(rowCount).fill("PRESENT"),
      eventMicros: new Array<number | null>(rowCount).fill(null),
    });
  }
  const viewColumns = new Map<string, OnlineColumn>();
  const rings = new Map<number, Ring | null>();
  const aggregateColumn = (view: ResolvedView, feature: ResolvedFeature): OnlineColumn => {
    const aggregation = aggregationOf(view.spec, feature.name)!;
    const layout = tileLayout(view.spec)!;
    const slots = tileSlots.get(view)!;
    const values = new Array<unknown>(rowCount);
    const statuses = new Array<FeatureStatus>(rowCount);
    const timestamps = new Array<number | null>(rowCount);
    for (let r = 0; r < rowCount; r++) {
      const slot = slots[r]!;
      let ring = rings.get(slot);
      if (ring === undefined) {
        ring = decodeRing(layout, records[slot] ?? null);
        rings.set(slot, ring);
      }
      const { value, eventMicros } = aggregateRing(layout, ring, aggregation, nowMicros);
      values[r] = value;
      timestamps[r] = eventMicros;
      statuses[r] = ring === null ? "NOT_FOUND" : value === null ? "NULL_VALUE" : "PRESENT";
    }
    return { name: feature.output, values, statuses, eventMicros: timestamps };
  };
  const viewColumn = (view: ResolvedView, feature: ResolvedFeature): OnlineColumn => {
    const id = `${view.name}\u0000${feature.name}`;
    const done = viewColumns.get(id);
    if (done) return done;
    if (tileSlots.has(view) && aggregationOf(view.spec, feature.name)) {
      const column = aggregateColumn(view, feature);
      viewColumns.set(id, column);
      return column;
    }
    const slots = rowSlots.get(view)!;
    const maxAgeMicros = view.spec.ttlSeconds > 0 ? view.spec.ttlSeconds * 1e6 : Infinity;
    const values = new Array<unknown>(rowCount);
    const statuses = new Array<FeatureStatus>(rowCount);
    const timestamps = new Array<number | null>(rowCount);
    for (let r = 0; r < rowCount; r++) {
      const record = records[slots[r]!] ?? null;
      const stored = record ? ownValue(record.values, feature.name) : undefined;
      if (record === null || stored === undefined) {
        values[r] = null;
        statuses[r] = "NOT_FOUND";
        timestamps[r] = null;
        continue;
      }
      timestamps[r] = record.eventMicros;
      values[r] = decodeValue(stored, feature.type);
      if (values[r] === null) statuses[r] = "NULL_VALUE";
      else if (nowMicros - record.eventMicros > maxAgeMicros) statuses[r] = "OUTSIDE_MAX_AGE";
      else statuses[r] = "PRESENT";
    }
    const column = { name: feature.output, values, statuses, eventMicros: timestamps };
    viewColumns.set(id, column);
    return column;
  };

  // On-demand views run once over all rows, on the same inputs historical retrieval gives them.
  const computed = new Map<string, Record<string, unknown[]>>();
  for (const od of resolved.onDemand) {
    const inputs: Record<string, unknown[]> = {};
    for (const [input, origin] of od.inputs) {
      if ("request" in origin) inputs[input] = requestData.get(origin.request)!;
      else {
        const view = viewByName.get(origin.view)!;
        const feature = view.features.find((f) => f.name === origin.feature)!;
        // Like historical retrieval, a value older than the view's ttl is no input at all.
        const { values, statuses } = viewColumn(view, feature);
        inputs[input] = statuses.includes("OUTSIDE_MAX_AGE")
          ? values.map((v, r) => (statuses[r] === "OUTSIDE_MAX_AGE" ? null : v))
          : values as unknown[];
      }
    }
    computed.set(od.spec.name, runTransform(transforms.get(od.spec.name)!, inputs, rowCount));
  }

  for (const { view, onDemand, feature } of resolved.columns) {
    if (!onDemand) {
      output.push(viewColumn(viewByName.get(view)!, feature));
      continue;
    }
    const values = computed.get(view)![feature.name]!;
    output.push({
      name: feature.output,
      values,
      statuses: values.map((v): FeatureStatus => v === null ? "NULL_VALUE" : "PRESENT"),
      eventMicros: new Array<number | null>(rowCount).fill(null),
    });
  }
  return new OnlineFeaturesResponse(output, rowCount);
}
