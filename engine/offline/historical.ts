/** Point-in-time retrieval on DuckDB: validation up front, then a lazy job. */
import { resolve } from "node:path";
import { type RecordBatch, Table } from "apache-arrow";
import {
  aggregationOf,
  type AggregationSpec,
  describeProjection,
  type FeatureViewSpec,
  type FileSourceSpec,
  joinKeyColumn,
  LarderError,
  projectionName,
  type ProjectionTargetSpec,
  type ScalarType,
  type ValueType,
  viewFields,
} from "../../registry/mod.ts";
import type { AggregateView } from "./_aggregate_sql.ts";
import type { DuckDB, DuckDBSession } from "./duckdb.ts";
import type {
  BatchOptions,
  EntityInput,
  HistoricalQuery,
  RetrievalJob,
  ViewRequest,
  WindowBound,
} from "./historical_query.ts";
import {
  type CsvHeaders,
  describe,
  describeCsvEntities,
  type Described,
  describeFiles,
  describeSchema,
  duckdbType,
  entityFile,
  type EntityLoadOptions,
  inferTimestampColumn,
  type LoadedEntities,
  loadEntities,
  loadSource,
  tempName,
} from "./_load.ts";
import type { SourceColumn } from "./offline_store.ts";
import { readParquetSchema } from "./parquet.ts";
import {
  type EntityStats,
  joinAll,
  type PitStage,
  type PitView,
  type StageListener,
} from "./_pit_sql.ts";
import { ident, tsLiteral } from "./_sql.ts";
import { checkSourceCompatibility, joinKeysOf, sourceLayout } from "./source_compatibility.ts";
import { resolveSourceFiles } from "./source_files.ts";
import { valueTypeOf } from "./_types.ts";
import { batchRows, tableFromRows } from "./_values.ts";
import { isoMicros } from "../timestamps.ts";
import { outputFormat, writeBatches } from "./_writers.ts";
import { isObjectUrl, writeObjectViaFile } from "../object_store/mod.ts";

/** A view request after validation. */
interface PreparedView {
  readonly request: ViewRequest<FileSourceSpec>;
  readonly files: readonly string[];
  /** Join keys, named by the entity-table column that holds them (after the join-key map). */
  readonly keys: readonly { name: string; type: ScalarType; entity: string }[];
  /** The files' columns, as validated: where the view's columns are is worked out from them. */
  readonly columns: readonly SourceColumn[];
  /** Output names, parallel to `request.features`. */
  readonly outputs: readonly string[];
  /** The requested features that are read as they are (the latest value), and their outputs. */
  readonly plain: readonly { readonly name: string; readonly output: string }[];
  /** The requested aggregations, and their outputs. */
  readonly aggregations: readonly { readonly spec: AggregationSpec; readonly output: string }[];
}

/** The source features a request reads: its plain features and its aggregations' columns. */
function sourceFeatures(
  view: FeatureViewSpec,
  features: readonly string[],
): { plain: number[]; aggregated: number[]; columns: string[] } {
  const plain: number[] = [];
  const aggregated: number[] = [];
  const columns = new Set<string>();
  features.forEach((name, i) => {
    const aggregation = aggregationOf(view, name);
    if (aggregation) {
      aggregated.push(i);
      columns.add(aggregation.column);
    } else {
      plain.push(i);
      columns.add(name);
    }
  });
  return { plain, aggregated, columns: [...columns] };
}

const NUMERIC: ReadonlySet<string> = new Set(["int32", "int64", "float32", "float64"]);

/** A view request as the projection it is: its view, the name it goes by, its join-key map. */
export function projectionOf(request: ViewRequest): ProjectionTargetSpec {
  return {
    view: request.view.name,
    ...(request.name !== undefined ? { nameAlias: request.name } : {}),
    ...(request.joinKeyMap !== undefined ? { joinKeyMap: request.joinKeyMap } : {}),
  };
}

/** The name a view request's features go by. */
export function requestName(request: ViewRequest): string {
  return projectionName(projectionOf(request));
}

function viewWithFeatures(view: FeatureViewSpec, features: readonly string[]): FeatureViewSpec {
  return { ...view, features: view.features.filter((f) => features.includes(f.name)) };
}

/** Checks requested features and output names; returns output names per view. */
export function planOutputs(query: HistoricalQuery): string[][] {
  if (query.views.length === 0) {
    throw new LarderError("INPUT_INVALID", "No features requested: pass at least one feature view");
  }
  const owners = new Map<string, string>();
  return query.views.map((request) => {
    const { view, features } = request;
    const name = requestName(request);
    if (features.length === 0) {
      throw new LarderError(
        "INPUT_INVALID",
        `No features requested from ${describeProjection(projectionOf(request))}`,
      );
    }
    return features.map((feature) => {
      if (!viewFields(view).some((f) => f.name === feature)) {
        throw new LarderError(
          "NOT_FOUND",
          `Feature view "${view.name}" has no feature "${feature}" (features: ${
            viewFields(view).map((f) => `"${f.name}"`).join(", ")
          })`,
          { details: { view: view.name, feature } },
        );
      }
      const output = query.fullFeatureNames ? `${name}__${feature}` : feature;
      const owner = owners.get(output);
      if (owner !== undefined) {
        throw new LarderError(
          "INPUT_INVALID",
          owner === name
            ? `Feature "${feature}" of ${
              describeProjection(projectionOf(request))
            } is requested twice`
            : `Feature "${feature}" is requested from both feature view "${owner}" and "${name}": set fullFeatureNames to name them "${owner}__${feature}" and "${name}__${feature}"`,
          { details: { feature, views: [owner, name] } },
        );
      }
      owners.set(output, name);
      return output;
    });
  });
}

/**
 * Resolves files and checks each source against the requested features. A source read by
 * several requests (two projections of one view, two views of one source) is resolved and
 * described once.
 */
async function prepareViews(
  session: DuckDBSession,
  query: HistoricalQuery<FileSourceSpec>,
  outputs: string[][],
): Promise<PreparedView[]> {
  const prepared: PreparedView[] = [];
  const described = new Map<string, { files: string[]; columns: SourceColumn[] }>();
  for (const [i, request] of query.views.entries()) {
    const key = JSON.stringify([request.source.name, request.source.path, request.source.format]);
    let source = described.get(key);
    if (source === undefined) {
      const files = await resolveSourceFiles(request.source, query.repoDir);
      source = { files, columns: await describeFiles(session, files, request.source) };
      described.set(key, source);
    }
    const { files, columns } = source;
    const split = sourceFeatures(request.view, request.features);
    const problems = checkSourceCompatibility(
      viewWithFeatures(request.view, split.columns),
      request.source,
      [...request.entities],
      columns,
    );
    if (problems.length > 0) {
      throw new LarderError("SOURCE_INVALID", problems.join("\n"), {
        details: { view: request.view.name, source: request.source.name, problems },
      });
    }
    const keys = joinKeysOf(request.view, request.entities).keys.map((k) => ({
      ...k,
      name: joinKeyColumn(request, k.name),
    }));
    const out = outputs[i]!;
    prepared.push({
      request,
      files,
      keys,
      columns,
      outputs: out,
      plain: split.plain.map((f) => ({ name: request.features[f]!, output: out[f]! })),
      aggregations: split.aggregated.map((f) => ({
        spec: aggregationOf(request.view, request.features[f]!)!,
        output: out[f]!,
      })),
    });
  }
  return prepared;
}

/** The entity input's columns, without loading its rows. */
async function describeEntityInput(
  session: DuckDBSession,
  input: EntityInput | Table,
  options: EntityLoadOptions,
): Promise<Described[]> {
  if (typeof input === "string") {
    const { path, format } = await entityFile(input, options.repoDir);
    const unreadable = (err: Error) =>
      new LarderError("INPUT_INVALID", `Cannot read entity file "${path}": ${err.message}`, {
        cause: err,
      });
    if (format === "csv") return await describeCsvEntities(session, path, options);
    const schema = await readParquetSchema(path).catch((err) => {
      throw unreadable(err);
    });
    return await describeSchema(session, schema);
  }
  if (input instanceof Table || (typeof input === "object" && "schema" in input)) {
    return await describeSchema(session, (input as Table).schema);
  }
  if (typeof input === "object" && "sql" in input && typeof input.sql === "string") {
    return await describe(session, `(${input.sql})`).catch((err) => {
      throw new LarderError("INPUT_INVALID", `Entity query failed: ${err.message}`, { cause: err });
    });
  }
  throw new LarderError(
    "INPUT_INVALID",
    "Entity input must be a file path, an Arrow table, an array of rows or { sql }",
  );
}

/** A column of an entity table, as an offline store described it. */
export interface EntityTableColumn {
  readonly name: string;
  /** The closest Larder value type, or `undefined` when there is none. */
  readonly valueType: ValueType | undefined;
  /** The store's own type name, for messages. */
  readonly typeName: string;
}

/**
 * The entity table's columns against a retrieval's views, the same check for every offline
 * store. Throws `INPUT_INVALID` naming the column: a join key (named by the entity-table
 * column that holds it) the table lacks or holds with an incompatible type (numbers fit
 * numbers), or a column named like a requested output.
 */
export function checkEntityColumns(
  columns: readonly EntityTableColumn[],
  views: readonly {
    readonly request: ViewRequest;
    readonly keys: readonly { name: string; type: ScalarType; entity: string }[];
  }[],
  outputs: readonly string[],
): void {
  const list = columns.map((c) => `"${c.name}"`).join(", ");
  for (const view of views) {
    for (const key of view.keys) {
      const column = columns.find((c) => c.name === key.name);
      if (!column) {
        throw new LarderError(
          "INPUT_INVALID",
          `The entity table has no column "${key.name}" (join key of entity "${key.entity}", needed by ${
            describeProjection(projectionOf(view.request))
          }; columns: ${list})`,
          { details: { column: key.name, view: view.request.view.name } },
        );
      }
      const found = column.valueType;
      const ok = found === key.type ||
        (NUMERIC.has(key.type) && found !== undefined && NUMERIC.has(found));
      if (!ok) {
        throw new LarderError(
          "INPUT_INVALID",
          `The entity table's column "${key.name}" is ${column.typeName}, expected ${key.type} (join key of entity "${key.entity}")`,
          { details: { column: key.name, found: column.typeName, expected: key.type } },
        );
      }
    }
  }
  for (const output of outputs) {
    if (columns.some((c) => c.name === output)) {
      throw new LarderError(
        "INPUT_INVALID",
        `The entity table already has a column "${output}", which is also a requested feature: rename the column or set fullFeatureNames`,
        { details: { column: output } },
      );
    }
  }
}

/** Bounds for pruning source rows while loading them. */
interface LoadBounds {
  readonly low: bigint | undefined;
  readonly high: bigint | undefined;
  /** Subtract each view's ttl from `low` (entity table) or not (a start/end window). */
  readonly applyTtl: boolean;
  /** Integer join keys' ranges in the entity table: source rows outside cannot match. */
  readonly keyRanges?: EntityStats["keyRanges"];
}

/**
 * Loads one view's source, pruned to `[low - ttl, high]` and to the entity keys' ranges, and
 * returns its part of the join plan.
 */
async function loadView(
  session: DuckDBSession,
  view: PreparedView,
  bounds: LoadBounds,
  headers: CsvHeaders,
): Promise<PitView> {
  const { request } = view;
  const ttlMicros = BigInt(Math.round(request.view.ttlSeconds * 1_000_000));
  const physical = sourceLayout(
    request.view,
    request.source,
    request.entities,
    request.features,
    view.columns,
  );
  // Key columns are named as in the entity table: a join-key map renames them.
  const layout = request.joinKeyMap === undefined ? physical : {
    ...physical,
    joinKeys: physical.joinKeys.map((c) => ({ ...c, name: joinKeyColumn(request, c.name) })),
  };
  const featureTypes = request.features.map((name) =>
    request.view.features.find((f) => f.name === name)!.type
  );
  const empty = bounds.high === undefined;
  const low = bounds.low === undefined
    ? undefined
    : !bounds.applyTtl
    ? bounds.low
    : ttlMicros > 0n
    ? bounds.low - ttlMicros
    : undefined;
  const table = tempName("source");
  const loaded = await loadSource(session, {
    source: request.source,
    files: view.files,
    layout,
    keyTypes: view.keys.map((k) => k.type),
    featureTypes,
    // No usable entity timestamp: nothing can match, so load no rows.
    low: empty ? 1n : low,
    high: empty ? 0n : bounds.high,
    ...(bounds.keyRanges
      ? { keyRanges: layout.joinKeys.map((c) => bounds.keyRanges!.get(c.name)) }
      : {}),
    // A row without its key is no entity's: it matches no entity row, nor is a key of a window.
    dropNullKeys: true,
    table,
    headers,
  });
  return {
    table,
    keys: loaded.keys,
    ttlMicros: bounds.applyTtl ? ttlMicros : 0n,
    hasCreated: loaded.hasCreated,
    features: loaded.features.map((column, i) => ({ column, output: view.outputs[i]! })),
  };
}

/**
 * Loads the events that a view's requested aggregations read: the aggregated columns in
 * `(at − longest window, high]` (a superset of every entity row's windows).
 */
async function loadAggregates(
  session: DuckDBSession,
  view: PreparedView,
  bounds: {
    at: bigint | undefined;
    high: bigint | undefined;
    keyRanges: EntityStats["keyRanges"];
  },
  headers: CsvHeaders,
): Promise<AggregateView> {
  const columns = [...new Set(view.aggregations.map((a) => a.spec.column))];
  const longest = view.aggregations.reduce((m, a) => Math.max(m, a.spec.windowSeconds), 0);
  const loaded = await loadView(
    session,
    {
      ...view,
      request: { ...view.request, features: columns },
      outputs: columns,
    },
    {
      low: bounds.at === undefined ? undefined : bounds.at - BigInt(longest) * 1_000_000n,
      high: bounds.high,
      applyTtl: false,
      keyRanges: bounds.keyRanges,
    },
    headers,
  );
  return {
    table: loaded.table,
    keys: loaded.keys,
    hasCreated: loaded.hasCreated,
    aggregations: view.aggregations.map((a) => ({
      column: loaded.features[columns.indexOf(a.spec.column)]!.column,
      function: a.spec.function,
      windowMicros: BigInt(a.spec.windowSeconds) * 1_000_000n,
      output: a.output,
      type: a.spec.type,
    })),
  };
}

/** The join of `views` onto `entityTable`; see {@linkcode joinAll}. */
function joinViews(
  session: DuckDBSession,
  views: readonly PreparedView[],
  entityTable: string,
  timestampColumn: string,
  options: {
    filterByCreatedTimestamp: boolean;
    applyTtl: boolean;
    low?: bigint;
    high?: bigint;
    onStage?: StageListener | undefined;
    /** CSV headers of this run (each file's is read once per run: it may have changed). */
    headers: CsvHeaders;
  },
): Promise<string> {
  const stages: PitStage[] = views.flatMap((view): PitStage[] => {
    const name = requestName(view.request);
    const keys = view.keys.map((k) => k.name);
    const plain: PitStage[] = view.plain.length === 0 ? [] : [{
      name,
      keys,
      load: (stats) =>
        loadView(session, {
          ...view,
          request: { ...view.request, features: view.plain.map((p) => p.name) },
          outputs: view.plain.map((p) => p.output),
        }, {
          low: options.low ?? stats.low,
          high: options.high ?? stats.high,
          applyTtl: options.applyTtl,
          keyRanges: stats.keyRanges,
        }, options.headers),
    }];
    const aggregated: PitStage[] = view.aggregations.length === 0 ? [] : [{
      name,
      keys,
      load: (stats) =>
        loadAggregates(session, view, {
          // Window retrieval aggregates as of `end`; an entity table as of each row's time.
          at: options.high !== undefined ? options.high : stats.low,
          high: options.high ?? stats.high,
          keyRanges: stats.keyRanges,
        }, options.headers),
    }];
    return [...plain, ...aggregated];
  });
  return joinAll(session, entityTable, timestampColumn, stages, {
    ...options,
    order: views.flatMap((v) => v.outputs),
  });
}

/** Epoch microseconds of a window bound; `undefined` for an invalid `Date` or another value. */
function boundMicros(bound: WindowBound): bigint | undefined {
  if (typeof bound === "bigint") return bound;
  if (bound instanceof Date && !isNaN(bound.getTime())) return BigInt(bound.getTime()) * 1000n;
  return undefined;
}

/**
 * A window retrieval's `[start, end]` in epoch microseconds, the same check for every offline
 * store: `INPUT_INVALID` for a bound that is no date, or a start after the end.
 */
export function windowMicros(
  query: { readonly start: WindowBound; readonly end: WindowBound },
): { low: bigint; high: bigint } {
  const low = boundMicros(query.start);
  const high = boundMicros(query.end);
  if (low === undefined || high === undefined) {
    throw new LarderError(
      "INPUT_INVALID",
      "start and end must be valid dates (or epoch microseconds as bigints)",
    );
  }
  if (low > high) {
    throw new LarderError(
      "INPUT_INVALID",
      `start (${isoMicros(low)}) is after end (${isoMicros(high)})`,
    );
  }
  return { low, high };
}

/** A job that builds its SQL in a fresh session on each run. */
class DuckDBRetrievalJob implements RetrievalJob {
  readonly columns: readonly string[];
  readonly #db: DuckDB;
  readonly #repoDir: string;
  readonly #prepare: (session: DuckDBSession) => Promise<{ sql: string; cleanup: string[] }>;

  constructor(
    db: DuckDB,
    options: { readonly columns: readonly string[]; readonly repoDir: string },
    prepare: (session: DuckDBSession) => Promise<{ sql: string; cleanup: string[] }>,
  ) {
    this.#db = db;
    this.columns = options.columns;
    this.#repoDir = options.repoDir;
    this.#prepare = prepare;
  }

  async *batches(options: BatchOptions = {}): AsyncGenerator<RecordBatch> {
    const session = await this.#db.connect();
    let cleanup: string[] = [];
    try {
      const prepared = await this.#prepare(session);
      cleanup = prepared.cleanup;
      const limit = options.batchRows;
      for await (const batch of session.stream(prepared.sql)) {
        if (limit === undefined || batch.numRows <= limit) yield batch;
        else {
          for (let at = 0; at < batch.numRows; at += limit) yield batch.slice(at, at + limit);
        }
      }
    } finally {
      for (const table of cleanup) {
        await session.exec(`DROP TABLE IF EXISTS ${ident(table)}`).catch(() => {});
      }
      await session.close();
    }
  }

  async toArrow(): Promise<Table> {
    const batches: RecordBatch[] = [];
    for await (const batch of this.batches()) batches.push(batch);
    const nonEmpty = batches.filter((b) => b.numRows > 0);
    if (nonEmpty.length > 0) return new Table(nonEmpty);
    return new Table(batches[0]!.schema);
  }

  async toRows(): Promise<Record<string, unknown>[]> {
    const rows: Record<string, unknown>[] = [];
    for await (const batch of this.batches()) {
      for (const row of batchRows(batch)) rows.push(row);
    }
    return rows;
  }

  async write(path: string): Promise<{ rows: number }> {
    if (isObjectUrl(path)) {
      outputFormat(path);
      // Written locally first, then one PUT: a failure stores nothing.
      return await writeObjectViaFile(path, (local) => writeBatches(local, this.batches()));
    }
    return await writeBatches(resolve(this.#repoDir, path), this.batches());
  }
}

/**
 * Validates a historical query (features, sources against their views, the entity table's
 * columns) and returns a lazy job; see {@linkcode RetrievalJob}.
 */
export async function getHistoricalFeatures(
  db: DuckDB,
  query: HistoricalQuery<FileSourceSpec>,
): Promise<RetrievalJob> {
  const outputs = planOutputs(query);
  const flatOutputs = outputs.flat();
  const filterByCreatedTimestamp = query.filterByCreatedTimestamp ?? false;
  if ("entityTable" in query) {
    // Rows become an Arrow table once, here, so that validation and each run see the same data.
    const input: EntityInput = Array.isArray(query.entityTable)
      ? (query.entityTable.length === 0
        ? (() => {
          throw new LarderError("INPUT_INVALID", "The entity table is empty");
        })()
        : tableFromRows(query.entityTable))
      : query.entityTable;
    if (input instanceof Table && input.numRows === 0) {
      throw new LarderError("INPUT_INVALID", "The entity table is empty");
    }
    const { views, columns, timestampColumn, keyTypes } = await db.withSession(async (session) => {
      const views = await prepareViews(session, query, outputs);
      const keyTypes = new Map(views.flatMap((v) => v.keys.map((k) => [k.name, k.type] as const)));
      const columns = await describeEntityInput(session, input, {
        repoDir: query.repoDir,
        timestampColumn: query.timestampColumn,
        keyTypes,
      });
      const timestampColumn = inferTimestampColumn(columns, query.timestampColumn);
      checkEntityColumns(
        columns.map((c) => ({ name: c.name, valueType: valueTypeOf(c.type), typeName: c.type })),
        views,
        flatOutputs,
      );
      return { views, columns, timestampColumn, keyTypes };
    });
    return new DuckDBRetrievalJob(
      db,
      { columns: [...columns.map((c) => c.name), ...flatOutputs], repoDir: query.repoDir },
      async (session) => {
        const entities: LoadedEntities = await loadEntities(session, input, {
          repoDir: query.repoDir,
          timestampColumn,
          keyTypes,
        });
        const cleanup = entities.shared ? [entities.table] : [];
        try {
          const sql = await joinViews(session, views, entities.table, timestampColumn, {
            filterByCreatedTimestamp,
            applyTtl: true,
            onStage: query.onStage,
            headers: new Map(),
          });
          return { sql, cleanup };
        } catch (err) {
          for (const table of cleanup) {
            await session.exec(`DROP TABLE IF EXISTS ${ident(table)}`).catch(() => {});
          }
          throw err;
        }
      },
    );
  }

  const { low, high } = windowMicros(query);
  const views = await db.withSession((session) => prepareViews(session, query, outputs));
  const keyColumns: { name: string; type: ScalarType }[] = [];
  for (const view of views) {
    for (const key of view.keys) {
      if (!keyColumns.some((k) => k.name === key.name)) keyColumns.push(key);
    }
  }
  if (keyColumns.some((k) => k.name === "event_timestamp" || flatOutputs.includes(k.name))) {
    throw new LarderError("INPUT_INVALID", "A join key has the name of an output column");
  }
  return new DuckDBRetrievalJob(
    db,
    {
      columns: [...keyColumns.map((k) => k.name), "event_timestamp", ...flatOutputs],
      repoDir: query.repoDir,
    },
    async (session) => {
      const headers: CsvHeaders = new Map();
      const entityTable = tempName("keys");
      // Keys seen in the window, per view (sources are read once here and again to join).
      const selects: string[] = [];
      for (const view of views) {
        if (view.keys.length === 0) continue;
        const pit = await loadView(
          session,
          {
            ...view,
            request: { ...view.request, features: [] },
            outputs: [],
            plain: [],
            aggregations: [],
          },
          { low, high, applyTtl: false },
          headers,
        );
        const keysTable = tempName("window_keys");
        await session.exec(
          `CREATE TEMP TABLE ${ident(keysTable)} AS SELECT DISTINCT ${
            pit.keys.map(ident).join(", ")
          } FROM ${ident(pit.table)}`,
        );
        await session.exec(`DROP TABLE ${ident(pit.table)}`);
        selects.push(
          `SELECT ${
            keyColumns.map((k) =>
              pit.keys.includes(k.name)
                ? ident(k.name)
                : `NULL::${duckdbType(k.type)} AS ${ident(k.name)}`
            ).join(", ")
          } FROM ${ident(keysTable)}`,
        );
      }
      const keysSql = keyColumns.length === 0 || selects.length === 0
        ? `SELECT ${tsLiteral(high)} AS event_timestamp`
        : `SELECT *, ${tsLiteral(high)} AS event_timestamp FROM (${
          selects.join(" UNION ")
        }) ORDER BY ALL`;
      await session.exec(`CREATE TEMP TABLE ${ident(entityTable)} AS ${keysSql}`);
      const sql = await joinViews(session, views, entityTable, "event_timestamp", {
        filterByCreatedTimestamp,
        applyTtl: false,
        low,
        high,
        onStage: query.onStage,
        headers,
      });
      return { sql, cleanup: [] };
    },
  );
}
