/** Getting source files and entity tables into DuckDB, projected, typed and pruned. */
import { isAbsolute, resolve } from "node:path";
import {
  DataType,
  Dictionary,
  Field,
  Float32,
  List,
  Precision,
  Schema,
  Table,
  tableToIPC,
} from "apache-arrow";
import {
  type FileSourceSpec,
  isLarderError,
  LarderError,
  type ScalarType,
  type ValueType,
} from "../../registry/mod.ts";
import type { DuckDBSession } from "./duckdb.ts";
import {
  type CsvColumn,
  csvError,
  csvFailure,
  csvSniffedRelation,
  csvStructureProblem,
  csvTextRelation,
  csvValue,
  isSampledTypeError,
  readCsvHeader,
} from "./_csv.ts";
import type { SourceColumn } from "./offline_store.ts";
import {
  type ParquetFileToRead,
  readParquetFilesIPC,
  readParquetIPC,
  readParquetSchema,
} from "./parquet.ts";
import { ident, str } from "./_sql.ts";
import { remoteParquet, rowGroupsWithin } from "./_remote_parquet.ts";
import { isObjectUrl } from "../object_store/mod.ts";
import { localCopy } from "./source_files.ts";
import { isTimestampType, valueTypeOf } from "./_types.ts";
import {
  narrowingProblem,
  type PhysicalColumn,
  type SourceLayout,
} from "./source_compatibility.ts";
import type { EntityInput } from "./historical_query.ts";

/** A unique table name for this process. */
export function tempName(prefix: string): string {
  return `__larder_${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

/** A column as DuckDB describes it. */
export interface Described {
  readonly name: string;
  readonly type: string;
}

/** Columns of a relation (`SELECT * FROM <relation>`). */
export async function describe(session: DuckDBSession, relation: string): Promise<Described[]> {
  const rows = await session.rows(`DESCRIBE SELECT * FROM ${relation}`);
  return rows.map((r) => ({ name: String(r.column_name), type: String(r.column_type) }));
}

/** DuckDB's type for a Larder value type. */
export function duckdbType(type: ValueType): string {
  const scalar: Record<ScalarType, string> = {
    int32: "INTEGER",
    int64: "BIGINT",
    float32: "FLOAT",
    float64: "DOUBLE",
    string: "VARCHAR",
    bool: "BOOLEAN",
    bytes: "BLOB",
    timestamp: "TIMESTAMP",
  };
  return type.endsWith("[]")
    ? `${scalar[type.slice(0, -2) as ScalarType]}[]`
    : scalar[type as ScalarType];
}

/** The header of a source's CSV file; `SOURCE_INVALID` when it is empty or unreadable. */
function sourceCsvHeader(source: Pick<FileSourceSpec, "name">, file: string): Promise<string[]> {
  return readCsvHeader(
    file,
    (detail) =>
      new LarderError("SOURCE_INVALID", `Data source "${source.name}": file "${file}": ${detail}`, {
        details: { source: source.name, file },
      }),
  );
}

/**
 * The header of each CSV file, read once by the call that describes the files and handed to
 * the reads that follow it in the same call: the header decides which column is which.
 */
export type CsvHeaders = Map<string, readonly string[]>;

/**
 * A file source's columns as stored, with the closest Larder types. CSV columns are text
 * (`textual`): the names of every file's header, each read as the type its view declares;
 * the headers are kept in `headers` when given.
 */
export async function describeFiles(
  session: DuckDBSession,
  files: readonly string[],
  source: Pick<FileSourceSpec, "name" | "format">,
  headers?: CsvHeaders,
): Promise<SourceColumn[]> {
  if (source.format === "csv") {
    const names: string[] = [];
    for (const file of files) {
      const header = await sourceCsvHeader(source, file);
      headers?.set(file, header);
      for (const name of header) {
        if (!names.includes(name)) names.push(name);
      }
    }
    return names.map((name) => ({
      name,
      physicalType: "CSV text",
      valueType: undefined,
      textual: true,
    }));
  }
  const file = files[0]!;
  const schema = await readParquetSchema(file);
  const half = new Set(halfFloatColumns(schema));
  const described = await describeSchema(session, schema);
  return described.map((c) =>
    half.has(c.name)
      ? {
        name: c.name,
        physicalType: "float16 (half precision)",
        valueType: undefined,
        unreadable:
          "Larder cannot read half-precision floats: write the column as float32 or float64",
        file,
      }
      : { name: c.name, physicalType: c.type, valueType: valueTypeOf(c.type), file }
  );
}

/**
 * `type` with dictionary encoding taken off (in list items too): a dictionary column holds
 * values of its dictionary's type, and an empty table cannot carry a dictionary into DuckDB.
 */
function plainType(type: DataType): DataType {
  if (type instanceof Dictionary) return plainType(type.dictionary);
  // DuckDB has no half-precision float; it is described as FLOAT (and refused where read).
  if (isHalfFloat(type)) return new Float32();
  if (type instanceof List) {
    const child = type.children[0]!;
    const inner = plainType(child.type);
    return inner === child.type ? type : new List(new Field(child.name, inner, child.nullable));
  }
  return type;
}

/** DuckDB's name of an Arrow integer type (`BIGINT`, `UBIGINT[]`); `undefined` for others. */
function integerTypeName(type: DataType): string | undefined {
  if (type instanceof List) {
    const inner = integerTypeName(type.children[0]!.type);
    return inner === undefined ? undefined : `${inner}[]`;
  }
  if (!DataType.isInt(type)) return undefined;
  const names: Record<number, string> = {
    8: "TINYINT",
    16: "SMALLINT",
    32: "INTEGER",
    64: "BIGINT",
  };
  const name = names[type.bitWidth];
  return name === undefined ? undefined : type.isSigned ? name : `U${name}`;
}

/** Whether an Arrow type is a half-precision float (float16), or a list of them. */
function isHalfFloat(type: DataType): boolean {
  if (type instanceof List) return isHalfFloat(type.children[0]!.type);
  return DataType.isFloat(type) && type.precision === Precision.HALF;
}

/** The names of `schema`'s float16 columns (among `only`, when given): DuckDB cannot read them. */
export function halfFloatColumns(schema: Schema, only?: readonly string[]): string[] {
  return schema.fields.filter((f) => isHalfFloat(f.type) && (only?.includes(f.name) ?? true))
    .map((f) => f.name);
}

/** Why a float16 column cannot be read, for messages naming the file and the column. */
export function halfFloatProblem(column: string): string {
  return `column "${column}" is float16 (half precision), which Larder cannot read: write it as float32 or float64`;
}

/** `schema` with every column typed so that DuckDB can take an empty table of it. */
function plainSchema(schema: Schema): Schema {
  return new Schema(
    schema.fields.map((f) => new Field(f.name, plainType(f.type), f.nullable, f.metadata)),
    schema.metadata,
  );
}

/**
 * DuckDB's column types for an Arrow schema (through an empty table of that schema). A
 * dictionary column is described as its values' type; a float16 column as FLOAT.
 */
export async function describeSchema(session: DuckDBSession, schema: Schema): Promise<Described[]> {
  const table = tempName("describe");
  await session.insertIPC(table, tableToIPC(new Table(plainSchema(schema)), "stream"), {
    create: true,
  });
  try {
    return await describe(session, ident(table));
  } finally {
    await session.exec(`DROP TABLE IF EXISTS ${ident(table)}`);
  }
}

/**
 * An entity table given as a path: resolved against the repo, and refused (`INPUT_INVALID`)
 * unless it is an existing `.csv` or `.parquet` file. An object URL (`s3://…`, `https://…`) is
 * fetched whole into a local copy first.
 */
export async function entityFile(
  input: string,
  repoDir: string,
): Promise<{ path: string; format: "csv" | "parquet" }> {
  if (isObjectUrl(input)) {
    const lower = input.toLowerCase().replace(/\?.*$/, "");
    if (!lower.endsWith(".csv") && !lower.endsWith(".parquet")) {
      throw new LarderError(
        "INPUT_INVALID",
        `Entity file "${input}" must end in .parquet or .csv`,
        {
          details: { path: input },
        },
      );
    }
    const path = await localCopy(input).catch((err) => {
      if (!isLarderError(err) || err.code !== "NOT_FOUND") throw err;
      throw new LarderError("INPUT_INVALID", `Cannot find entity file "${input}"`, {
        cause: err,
        details: { path: input },
      });
    });
    return { path, format: lower.endsWith(".csv") ? "csv" : "parquet" };
  }
  const path = isAbsolute(input) ? input : resolve(repoDir, input);
  const stat = await Deno.stat(path).catch(() => undefined);
  if (!stat?.isFile) {
    throw new LarderError("INPUT_INVALID", `Cannot find entity file "${path}"`, {
      details: { path },
    });
  }
  const lower = path.toLowerCase();
  if (lower.endsWith(".csv")) return { path, format: "csv" };
  if (lower.endsWith(".parquet")) return { path, format: "parquet" };
  throw new LarderError("INPUT_INVALID", `Entity file "${path}" must end in .parquet or .csv`, {
    details: { path },
  });
}

/** A source loaded into a temporary table. */
export interface LoadedSource {
  readonly table: string;
  /** Join key names, as in the entity table. */
  readonly keys: readonly string[];
  /** Feature names, as columns of `table`. */
  readonly features: readonly string[];
  readonly hasCreated: boolean;
}

/** Options for {@linkcode loadSource}. */
export interface LoadSourceOptions {
  readonly source: FileSourceSpec;
  readonly files: readonly string[];
  readonly layout: SourceLayout;
  /** Types to cast each column to (by name after mapping). */
  readonly keyTypes: readonly ValueType[];
  readonly featureTypes: readonly ValueType[];
  /** Keep only rows with `low <= ts <= high` (epoch microseconds); either bound optional. */
  readonly low?: bigint | undefined;
  readonly high?: bigint | undefined;
  /**
   * Per join key (parallel to `layout.joinKeys`): keep only rows whose key (after the cast) is
   * within `[min, max]`. Rows with a NULL key are dropped too when `dropNullKeys` is set.
   */
  readonly keyRanges?: readonly ({ readonly min: bigint; readonly max: bigint } | undefined)[];
  readonly dropNullKeys?: boolean;
  /** Name of the table to create (a temporary table of the session). */
  readonly table: string;
  /**
   * CSV headers read earlier in the same call (`describeFiles`, another view's load); the
   * others are read here and added.
   */
  readonly headers?: CsvHeaders | undefined;
}

/** The SELECT list that loads a source: keys, `__ts`, `__created`, features, renamed and cast. */
export function sourceProjection(options: LoadSourceOptions): string {
  const { layout } = options;
  const cast = (c: PhysicalColumn, type: ValueType) =>
    `CAST(${ident(c.column)} AS ${duckdbType(type)}) AS ${ident(c.name)}`;
  const parts = [
    ...layout.joinKeys.map((c, i) => cast(c, options.keyTypes[i]!)),
    `CAST(${ident(layout.timestamp.column)} AS TIMESTAMP) AS __ts`,
    ...(layout.created ? [`CAST(${ident(layout.created.column)} AS TIMESTAMP) AS __created`] : []),
    ...layout.features.map((c, i) => cast(c, options.featureTypes[i]!)),
  ];
  return parts.join(", ");
}

/** The WHERE condition that prunes a source's rows (time bounds, key ranges, NULLs). */
export function sourceFilter(options: LoadSourceOptions): string {
  const ts = `epoch_us(CAST(${ident(options.layout.timestamp.column)} AS TIMESTAMP))`;
  const conditions = [`${ts} IS NOT NULL`];
  if (options.low !== undefined) conditions.push(`${ts} >= ${options.low}`);
  if (options.high !== undefined) conditions.push(`${ts} <= ${options.high}`);
  options.layout.joinKeys.forEach((c, i) => {
    const key = `CAST(${ident(c.column)} AS ${duckdbType(options.keyTypes[i]!)})`;
    const range = options.keyRanges?.[i];
    if (range) conditions.push(`${key} BETWEEN ${range.min} AND ${range.max}`);
    else if (options.dropNullKeys) conditions.push(`${key} IS NOT NULL`);
  });
  return conditions.join(" AND ");
}

/** Rows per Parquet batch: about 64 MiB of decoded values, 128Ki to 1Mi rows. */
function batchRowsFor(columns: number): number {
  const rows = Math.floor((64 * 1024 * 1024) / (8 * Math.max(1, columns)));
  return Math.max(131_072, Math.min(1_048_576, rows));
}

function neededColumns(layout: SourceLayout): string[] {
  const all = [
    ...layout.joinKeys.map((c) => c.column),
    layout.timestamp.column,
    ...(layout.created ? [layout.created.column] : []),
    ...layout.features.map((c) => c.column),
  ];
  return [...new Set(all)];
}

/**
 * Loads the rows of a source that a query can use into temporary table `options.table`:
 * only the needed columns, renamed per `fieldMapping`, cast to the declared types, with the
 * event timestamp as `__ts` (and created as `__created`), pruned to `[low, high]`. Parquet is
 * read batch by batch, so only one batch of decoded rows exists beside the table.
 * Table order (`rowid`) is file order, then row order.
 */
export async function loadSource(
  session: DuckDBSession,
  options: LoadSourceOptions,
): Promise<LoadedSource> {
  const { source, layout } = options;
  const target = ident(options.table);
  const columns = [
    ...layout.joinKeys.map((c, i) => `${ident(c.name)} ${duckdbType(options.keyTypes[i]!)}`),
    "__ts TIMESTAMP",
    ...(layout.created ? ["__created TIMESTAMP"] : []),
    ...layout.features.map((c, i) => `${ident(c.name)} ${duckdbType(options.featureTypes[i]!)}`),
  ];
  await session.exec(`CREATE TEMP TABLE ${target} (${columns.join(", ")})`);
  const needed = neededColumns(layout);
  const select = sourceProjection(options);
  const where = sourceFilter(options);
  if (source.format === "csv") {
    const columns = columnTypes(options);
    for (const file of options.files) {
      await readCsvFile(
        session,
        { source, file, columns, headers: options.headers },
        (typed) =>
          session.exec(`INSERT INTO ${target} SELECT ${select} FROM (${typed}) WHERE ${where}`),
      );
    }
  } else {
    const files: ParquetFileToRead[] = [];
    // Footers of objects are fetched a few at a time up front (each is a round trip or two).
    await prefetchFooters(options.files);
    for (const file of options.files) {
      const schema = await readParquetSchema(file);
      const names = new Set(schema.fields.map((f) => f.name));
      const half = halfFloatColumns(schema, needed);
      if (half.length > 0) {
        throw new LarderError(
          "SOURCE_INVALID",
          `Data source "${source.name}": file "${file}": ${halfFloatProblem(half[0]!)}`,
          { details: { source: source.name, file, column: half[0]! } },
        );
      }
      // The first file's types were checked against the declared ones; another may be wider.
      const declared = [
        ...layout.joinKeys.map((c, i) => [c.column, options.keyTypes[i]!] as const),
        ...layout.features.map((c, i) => [c.column, options.featureTypes[i]!] as const),
      ];
      for (const [column, type] of declared) {
        const stored = schema.fields.find((f) => f.name === column)?.type;
        const name = stored && integerTypeName(stored);
        const problem = name === undefined ? undefined : narrowingProblem(type, name);
        if (problem !== undefined) {
          throw new LarderError(
            "SOURCE_INVALID",
            `Data source "${source.name}": file "${file}": column "${column}" ${problem}`,
            { details: { source: source.name, file, column } },
          );
        }
      }
      const missing = needed.filter((c) => !names.has(c));
      if (missing.length > 0) {
        throw new LarderError(
          "SOURCE_INVALID",
          `Data source "${source.name}": file "${file}" has no column ${
            missing.map((m) => `"${m}"`).join(", ")
          } (columns: ${schema.fields.map((f) => `"${f.name}"`).join(", ")})`,
          { details: { source: source.name, file, missing } },
        );
      }
      files.push({
        path: file,
        fileColumns: [...names],
        rowGroups: isObjectUrl(file) ? await remoteRowGroups(file, options) : undefined,
      });
    }
    // Native DuckDB reads local files itself; objects are fetched by range in TypeScript (it
    // has no HTTP here), whichever engine runs.
    if (session.readsParquet && !options.files.some(isObjectUrl)) {
      await loadParquetNatively(session, options, { target, select, where });
      return loadedSource(options);
    }
    const chunk = tempName("chunk");
    try {
      const batchRows = batchRowsFor(needed.length);
      for await (
        const { path, ipc } of readParquetFilesIPC(files, { columns: needed, batchRows })
      ) {
        await session.insertIPC(chunk, ipc, { create: true });
        try {
          await session.exec(
            `INSERT INTO ${target} SELECT ${select} FROM ${ident(chunk)} WHERE ${where}`,
          );
        } catch (err) {
          throw sourceError(source, path, err);
        } finally {
          await session.exec(`DROP TABLE IF EXISTS ${ident(chunk)}`);
        }
      }
    } catch (err) {
      await session.exec(`DROP TABLE IF EXISTS ${ident(chunk)}`).catch(() => {});
      throw err;
    }
  }
  return loadedSource(options);
}

function loadedSource(options: LoadSourceOptions): LoadedSource {
  const { layout } = options;
  return {
    table: options.table,
    keys: layout.joinKeys.map((c) => c.name),
    features: layout.features.map((c) => c.name),
    hasCreated: layout.created !== undefined,
  };
}

/**
 * Fetches (and caches) the footers of the files in object storage, eight at a time. A failure
 * is left for the read of that file to report, with its context.
 */
async function prefetchFooters(files: readonly string[]): Promise<void> {
  const remote = files.filter(isObjectUrl);
  let next = 0;
  const worker = async () => {
    while (next < remote.length) await remoteParquet(remote[next++]!).catch(() => {});
  };
  await Promise.all(Array.from({ length: Math.min(8, remote.length) }, worker));
}

/**
 * The row groups of a Parquet file in object storage that may hold rows the load keeps (by
 * the footer's statistics on the event time and the integer join keys): the others are never
 * fetched.
 */
async function remoteRowGroups(file: string, options: LoadSourceOptions): Promise<number[]> {
  const { layout } = options;
  const keys = layout.joinKeys.flatMap((c, i) => {
    const range = options.keyRanges?.[i];
    return range ? [{ column: c.column, min: range.min, max: range.max }] : [];
  });
  return rowGroupsWithin(await remoteParquet(file), {
    timestampColumn: layout.timestamp.column,
    low: options.low,
    high: options.high,
    keys,
  });
}

/**
 * Native DuckDB reads the (already checked) Parquet files itself, all in one scan so that its
 * threads share the row groups of every file; columns are matched by name across files, and
 * only the needed ones are read. A failure is placed on a file by reading the files one by one.
 */
async function loadParquetNatively(
  session: DuckDBSession,
  options: LoadSourceOptions,
  sql: { target: string; select: string; where: string },
): Promise<void> {
  const read = (files: readonly string[]) =>
    session.exec(
      `INSERT INTO ${sql.target} SELECT ${sql.select} FROM read_parquet([${
        files.map(str).join(", ")
      }], union_by_name = true) WHERE ${sql.where}`,
    );
  try {
    await read(options.files);
  } catch (err) {
    if (options.files.length === 1) throw sourceError(options.source, options.files[0]!, err);
    for (const file of options.files) {
      await session.exec(`DELETE FROM ${sql.target}`);
      await read([file]).catch((fileErr) => {
        throw sourceError(options.source, file, fileErr);
      });
    }
    throw sourceError(options.source, options.files[0]!, err);
  }
}

/** The declared type of each source column a load reads (keys, timestamps, features). */
function columnTypes(options: CsvSourceRead): CsvColumn[] {
  const { layout } = options;
  const types = new Map<string, ValueType>();
  layout.joinKeys.forEach((c, i) => types.set(c.column, options.keyTypes[i]!));
  types.set(layout.timestamp.column, "timestamp");
  if (layout.created) types.set(layout.created.column, "timestamp");
  layout.features.forEach((c, i) => {
    if (!types.has(c.column)) types.set(c.column, options.featureTypes[i]!);
  });
  return [...types].map(([name, type]) => ({ name, type }));
}

/** What one view reads from a CSV source: where its columns are and their declared types. */
export type CsvSourceRead = Pick<LoadSourceOptions, "layout" | "keyTypes" | "featureTypes">;

/** One CSV file of a source to read, and its columns to parse. */
interface CsvFileRead {
  readonly source: FileSourceSpec;
  readonly file: string;
  readonly columns: readonly CsvColumn[];
  /** Headers read earlier in the same call; the file's is added when it is read here. */
  readonly headers?: CsvHeaders | undefined;
}

/**
 * Runs `use` on a SELECT of one CSV file's columns, each parsed as declared (named `name(c, i)`,
 * by default the column's name). A file without a needed column, a malformed file or a value
 * that does not fit is `SOURCE_INVALID` naming the file (and the line, column and value).
 */
async function readCsvFile(
  session: DuckDBSession,
  read: CsvFileRead,
  use: (typedSelect: string) => Promise<void>,
  name: (column: CsvColumn, index: number) => string = (c) => c.name,
): Promise<void> {
  const { source, file, columns } = read;
  let header = read.headers?.get(file);
  if (header === undefined) {
    header = await sourceCsvHeader(source, file);
    read.headers?.set(file, header);
  }
  const missing = columns.map((c) => c.name).filter((c) => !header.includes(c));
  if (missing.length > 0) {
    throw new LarderError(
      "SOURCE_INVALID",
      `Data source "${source.name}": file "${file}" has no column ${
        [...new Set(missing)].map((m) => `"${m}"`).join(", ")
      } (columns: ${header.map((c) => `"${c}"`).join(", ")})`,
      { details: { source: source.name, file, missing: [...new Set(missing)] } },
    );
  }
  const typed = `SELECT ${
    columns.map((c, i) => `${csvValue(c, source)} AS ${ident(name(c, i))}`).join(", ")
  } FROM ${csvTextRelation(file, header)}`;
  try {
    await session.forgetFiles([file]);
    await use(typed);
  } catch (err) {
    const problem = await csvFailure(session, err, { file, header, columns }, source)
      .catch(() => undefined);
    if (!problem) throw sourceError(source, file, err);
    throw csvError("SOURCE_INVALID", `Data source "${source.name}": file "${file}"`, problem, {
      cause: err,
      details: { source: source.name, file },
    });
  }
}

/**
 * Reads every row of a CSV source's files as declared by each of `reads` (the views of the
 * source), in one pass per file, keeping nothing: `SOURCE_INVALID` for the first problem (see
 * `readCsvFile`). Source validation on apply runs it.
 */
export async function checkCsvValues(
  session: DuckDBSession,
  options: {
    readonly source: FileSourceSpec;
    readonly files: readonly string[];
    readonly reads: readonly CsvSourceRead[];
    readonly headers?: CsvHeaders;
  },
): Promise<void> {
  // A column that two views read as two types is parsed as each.
  const columns: CsvColumn[] = [];
  for (const read of options.reads) {
    for (const column of columnTypes(read)) {
      if (!columns.some((c) => c.name === column.name && c.type === column.type)) {
        columns.push(column);
      }
    }
  }
  for (const file of options.files) {
    await readCsvFile(
      session,
      { source: options.source, file, columns, headers: options.headers },
      async (typed) => {
        // count() of each column makes DuckDB parse every value.
        await session.exec(
          `SELECT ${columns.map((_, i) => `count(__check_${i})`).join(", ")} FROM (${typed})`,
        );
      },
      (_, i) => `__check_${i}`,
    );
  }
}

/** A DuckDB failure caused by the data it read (a value, the file), not by Larder's SQL. */
function dataFailure(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /^(?:DuckDB query failed: )?(?:Conversion|Invalid Input|Out of Range|IO) Error/.test(
    message,
  );
}

/**
 * The error for a failed read of one source file that `readCsvFile` could not place: a
 * classified `LarderError` as it is (an IO failure, DuckDB out of memory); a failure caused by
 * the data `SOURCE_INVALID`; anything else (Larder's own SQL) `INTERNAL`, the cause kept.
 */
export function sourceError(source: FileSourceSpec, file: string, err: unknown): LarderError {
  if (isLarderError(err) && (err.code !== "INTERNAL" || /ran out of memory/.test(err.message))) {
    return err;
  }
  const detail = err instanceof Error ? err.message : String(err);
  const data = dataFailure(err);
  return new LarderError(
    data ? "SOURCE_INVALID" : "INTERNAL",
    data
      ? `Data source "${source.name}": cannot read "${file}" as declared: ${detail}`
      : `Data source "${source.name}": reading "${file}" failed: ${detail}`,
    { cause: err, details: { source: source.name, file } },
  );
}

/** The entity table in DuckDB. */
export interface LoadedEntities {
  /** The table holding the rows as given; `rowid` is input order. */
  readonly table: string;
  /** Whether `table` is a regular (non-temporary) table that the caller must drop. */
  readonly shared: boolean;
  readonly columns: readonly Described[];
  readonly timestampColumn: string;
}

function isTable(value: unknown): value is Table {
  return typeof value === "object" && value !== null && "schema" in value && "batches" in value;
}

/** Options for {@linkcode loadEntities} and {@linkcode describeCsvEntities}. */
export interface EntityLoadOptions {
  readonly repoDir: string;
  readonly timestampColumn?: string | undefined;
  /**
   * The join keys the request needs, with their types: a CSV entity file's key columns are
   * parsed as these (the other columns pass through as DuckDB reads them).
   */
  readonly keyTypes?: ReadonlyMap<string, ScalarType> | undefined;
}

/**
 * The columns of a CSV entity file: the join keys typed as declared, the timestamp column
 * (`timestampColumn`, else `event_timestamp`) as TIMESTAMP, every other column as DuckDB
 * reads it (with the dialect fixed and only ISO 8601 dates recognized).
 */
export async function describeCsvEntities(
  session: DuckDBSession,
  path: string,
  options: EntityLoadOptions,
  header?: readonly string[],
): Promise<Described[]> {
  header ??= await entityCsvHeader(path);
  const named = options.timestampColumn ??
    (header.includes("event_timestamp") ? "event_timestamp" : undefined);
  await session.forgetFiles([path]);
  const typed = await describe(session, csvSniffedRelation(path, [])).catch(async (err) => {
    throw await entityCsvError(session, err, { path, header: header!, columns: [] });
  });
  return header.map((name, i) => {
    const key = options.keyTypes?.get(name);
    if (key !== undefined) return { name, type: duckdbType(key) };
    if (name === named) return { name, type: "TIMESTAMP" };
    return typed[i] ?? { name, type: "VARCHAR" };
  });
}

function entityCsvHeader(path: string): Promise<string[]> {
  return readCsvHeader(
    path,
    (detail) => new LarderError("INPUT_INVALID", `Entity file "${path}": ${detail}`),
  );
}

/**
 * Loads a CSV entity file: the join keys and the timestamp column parsed strictly (an empty
 * timestamp is an error too), the other columns as DuckDB reads them. A bad value is
 * `INPUT_INVALID` naming the file, line, column and value.
 */
async function loadCsvEntities(
  session: DuckDBSession,
  path: string,
  table: string,
  options: EntityLoadOptions,
): Promise<void> {
  const header = await entityCsvHeader(path);
  // A run knows the timestamp column from validation: then nothing needs sniffing first.
  const timestampColumn = options.timestampColumn ??
    inferTimestampColumn(await describeCsvEntities(session, path, options, header), undefined);
  const parsed: CsvColumn[] = header.flatMap((name): CsvColumn[] => {
    if (name === timestampColumn) return [{ name, type: "timestamp", required: true }];
    const key = options.keyTypes?.get(name);
    return key === undefined ? [] : [{ name, type: key }];
  });
  const select = header.map((name) => {
    const column = parsed.find((c) => c.name === name);
    return column ? `${csvValue(column, {})} AS ${ident(name)}` : ident(name);
  }).join(", ");
  const text = parsed.map((c) => c.name);
  for (const wholeFile of [false, true]) {
    try {
      await session.exec(
        `CREATE TEMP TABLE ${ident(table)} AS SELECT ${select} FROM ${
          csvSniffedRelation(path, text, { wholeFile })
        }`,
      );
      return;
    } catch (err) {
      if (!wholeFile && isSampledTypeError(err)) continue;
      throw await entityCsvError(session, err, { path, header, columns: parsed });
    }
  }
}

/**
 * `INPUT_INVALID` for a failed read of a CSV entity file: the structural problem or the bad
 * value with its line when there is one, else DuckDB's message when the data caused it;
 * anything else (Larder's own SQL) is `INTERNAL`, the cause kept.
 */
async function entityCsvError(
  session: DuckDBSession,
  err: unknown,
  read: { path: string; header: readonly string[]; columns: readonly CsvColumn[] },
): Promise<LarderError> {
  const { path } = read;
  const problem = await csvStructureProblem(session, path, read.header)
    .then((found) => found ?? csvFailure(session, err, { ...read, file: path }, {}))
    .catch(() => undefined);
  if (problem) {
    return csvError("INPUT_INVALID", `Entity file "${path}"`, problem, {
      cause: err,
      details: { path },
    });
  }
  if (isLarderError(err) && (err.code !== "INTERNAL" || /ran out of memory/.test(err.message))) {
    return err;
  }
  const detail = err instanceof Error ? err.message : String(err);
  const data = dataFailure(err);
  return new LarderError(
    data ? "INPUT_INVALID" : "INTERNAL",
    `${data ? "Cannot read" : "Reading"} entity file "${path}"${data ? "" : " failed"}: ${detail}`,
    { cause: err, details: { path } },
  );
}

/**
 * `INPUT_INVALID` naming the first entity row (counting from 0, in input order) without a
 * timestamp: it has no point in time to look features up at.
 */
async function checkEntityTimestamps(
  session: DuckDBSession,
  table: string,
  column: string,
): Promise<void> {
  const [row] = await session.rows(
    `SELECT rowid AS r FROM ${ident(table)} WHERE ${ident(column)} IS NULL ORDER BY rowid LIMIT 1`,
  );
  if (row === undefined) return;
  const index = Number(row.r);
  throw new LarderError(
    "INPUT_INVALID",
    `Entity row ${index} (counting from 0) has no "${column}": every entity row needs a timestamp`,
    { details: { row: index, column } },
  );
}

/**
 * Loads an entity input into a table and finds its timestamp column. Row arrays come as an
 * Arrow table: the caller converts them once (`getHistoricalFeatures`).
 * Throws `INPUT_INVALID` for a missing or unreadable file, an empty table, or no usable
 * timestamp column.
 */
export async function loadEntities(
  session: DuckDBSession,
  input: EntityInput,
  options: EntityLoadOptions,
): Promise<LoadedEntities> {
  const table = tempName("entity");
  let shared = false;
  if (typeof input === "string") {
    const { path, format } = await entityFile(input, options.repoDir);
    if (format === "csv") {
      await loadCsvEntities(session, path, table, options);
    } else {
      shared = true;
      let first = true;
      try {
        const half = halfFloatColumns(await readParquetSchema(path));
        if (half.length > 0) throw new Error(halfFloatProblem(half[0]!));
        if (session.readsParquet) {
          await session.exec(
            `CREATE TABLE ${ident(table)} AS SELECT * FROM read_parquet(${str(path)})`,
          );
        } else {
          for await (const ipc of readParquetIPC(path)) {
            await session.insertIPC(table, ipc, { create: first });
            first = false;
          }
        }
        if (first && !session.readsParquet) {
          await session.insertIPC(
            table,
            tableToIPC(new Table(plainSchema(await readParquetSchema(path)))),
            { create: true },
          );
        }
      } catch (err) {
        await session.exec(`DROP TABLE IF EXISTS ${ident(table)}`).catch(() => {});
        const detail = err instanceof Error ? err.message : String(err);
        throw new LarderError("INPUT_INVALID", `Cannot read entity file "${path}": ${detail}`, {
          cause: err,
        });
      }
    }
  } else if (isTable(input)) {
    shared = true;
    const half = halfFloatColumns(input.schema);
    if (half.length > 0) {
      throw new LarderError("INPUT_INVALID", `Entity table: ${halfFloatProblem(half[0]!)}`);
    }
    const ipc = tableToIPC(
      input.numRows === 0 ? new Table(plainSchema(input.schema)) : input,
      "stream",
    );
    await session.insertIPC(table, ipc, { create: true });
  } else if (typeof (input as { sql?: unknown }).sql === "string") {
    const sql = (input as { sql: string }).sql;
    try {
      await session.exec(`CREATE TEMP TABLE ${ident(table)} AS ${sql}`);
    } catch (err) {
      const detail = err instanceof LarderError
        ? err.message.replace(/^DuckDB query failed: /, "")
        : String(err);
      throw new LarderError("INPUT_INVALID", `Entity query failed: ${detail}`, { cause: err });
    }
  } else {
    throw new LarderError(
      "INPUT_INVALID",
      "Entity input must be a file path, an Arrow table, an array of rows or { sql }",
    );
  }
  try {
    const columns = await describe(session, ident(table));
    const count = await session.rows(`SELECT count(*)::BIGINT AS n FROM ${ident(table)}`);
    if (Number(count[0]?.n ?? 0) === 0) {
      throw new LarderError("INPUT_INVALID", "The entity table is empty");
    }
    const timestampColumn = inferTimestampColumn(columns, options.timestampColumn);
    await checkEntityTimestamps(session, table, timestampColumn);
    return { table, shared, columns, timestampColumn };
  } catch (err) {
    if (shared) await session.exec(`DROP TABLE IF EXISTS ${ident(table)}`).catch(() => {});
    throw err;
  }
}

/** A column of an entity table, for {@linkcode inferTimestampColumn}. */
export interface TimestampCandidate {
  readonly name: string;
  /** The store's type name, for messages. */
  readonly typeName: string;
  /** Whether the column holds timestamps. */
  readonly isTimestamp: boolean;
}

/**
 * The entity table's event-time column: the one asked for, else `event_timestamp`, else the
 * only timestamp column; `INPUT_INVALID` naming the columns otherwise. DuckDB's `Described`
 * columns are taken as they are; other stores pass {@linkcode TimestampCandidate}s.
 */
export function inferTimestampColumn(
  described: readonly (Described | TimestampCandidate)[],
  requested: string | undefined,
): string {
  const columns = described.map((c): TimestampCandidate =>
    "isTimestamp" in c
      ? c
      : { name: c.name, typeName: c.type, isTimestamp: isTimestampType(c.type) }
  );
  const list = columns.map((c) => `"${c.name}" ${c.typeName}`).join(", ");
  const check = (name: string) => {
    const column = columns.find((c) => c.name === name);
    if (!column) {
      throw new LarderError(
        "INPUT_INVALID",
        `The entity table has no column "${name}" (columns: ${list})`,
      );
    }
    if (!column.isTimestamp) {
      throw new LarderError(
        "INPUT_INVALID",
        `The entity table's column "${name}" is ${column.typeName}, expected a timestamp`,
      );
    }
    return name;
  };
  if (requested !== undefined) return check(requested);
  if (columns.some((c) => c.name === "event_timestamp")) return check("event_timestamp");
  const timestamps = columns.filter((c) => c.isTimestamp);
  if (timestamps.length === 1) return timestamps[0]!.name;
  throw new LarderError(
    "INPUT_INVALID",
    timestamps.length === 0
      ? `The entity table has no timestamp column: name one "event_timestamp" (columns: ${list})`
      : `The entity table has several timestamp columns (${
        timestamps.map((c) => `"${c.name}"`).join(", ")
      }): name the event time "event_timestamp" or pass timestampColumn`,
  );
}
