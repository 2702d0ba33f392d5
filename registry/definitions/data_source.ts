/** `fileSource()`, `pushSource()` and `requestSource()`: where feature values come from. */
import { z } from "zod";
import { LarderError } from "../errors.ts";
import { NameSchema } from "../names.ts";
import type {
  DataSourceSpec,
  FileSourceSpec,
  PostgresSourceSpec,
  PushSourceSpec,
  RequestSourceSpec,
} from "../specs.ts";
import type { Assert, Equals } from "../_zod.ts";
import { type ValueType, ValueTypeSchema } from "../value_type.ts";
import {
  brand,
  type CommonInput,
  type Definition,
  isDefinition,
  parseDefinition,
  refError,
  refName,
} from "./_definition.ts";

const Common = {
  name: NameSchema,
  description: z.string().default(""),
  tags: z.record(z.string(), z.string()).default({}),
  owner: z.string().default(""),
};

/** What {@linkcode fileSource} accepts. */
export interface FileSourceInput extends CommonInput {
  /**
   * A Parquet or CSV file, a glob of files (`"data/*.parquet"`) or a folder of files,
   * relative to the repo unless absolute.
   */
  path: string;
  /** The files' format. @default {"csv"} when the path ends in `.csv`, otherwise `"parquet"` */
  format?: "parquet" | "csv" | undefined;
  /** The event-time column: when each row's values became true. */
  timestampField: string;
  /**
   * The column saying when each row was written; of two rows of one key with the same event
   * time, the later written wins. Absent: no such column.
   */
  createdTimestampColumn?: string | undefined;
  /** Source column -> feature or join-key name, for columns named otherwise. @default {{}} */
  fieldMapping?: Record<string, string> | undefined;
  /**
   * CSV only: how timestamp values are written when they are not ISO 8601, as a strptime
   * format (`"%d/%m/%Y %H:%M"`). Values in this format or in ISO 8601 are read; any other is
   * an error. Absent: ISO 8601 only.
   */
  timestampFormat?: string | undefined;
}

const FileSourceInputSchema = z.strictObject({
  ...Common,
  /** A file, a glob of files or a folder of Parquet files, relative to the repo. */
  path: z.string().min(1),
  /** Default: `"csv"` when the path ends in `.csv`, otherwise `"parquet"`. */
  format: z.enum(["parquet", "csv"]).optional(),
  timestampField: NameSchema,
  createdTimestampColumn: NameSchema.optional(),
  /** Source column -> feature or join-key name. */
  fieldMapping: z.record(z.string().min(1), NameSchema).default({}),
  /**
   * CSV only: how timestamp values are written when they are not ISO 8601, as a strptime
   * format (`"%d/%m/%Y %H:%M"`). Values in this format or in ISO 8601 are read; any other is
   * an error. Default: ISO 8601 only.
   */
  timestampFormat: z.string().min(1).optional(),
});
type _FileSourceInput = Assert<Equals<z.input<typeof FileSourceInputSchema>, FileSourceInput>>;

/** A data source of any kind. */
export interface DataSource<N extends string = string> extends Definition<"dataSource"> {
  /** The source's name. */
  readonly name: N;
  /** The normalized form the registry stores. */
  readonly spec: DataSourceSpec;
}

/** A built file source. */
export interface FileSource<N extends string = string> extends DataSource<N> {
  /** The normalized form the registry stores. */
  readonly spec: FileSourceSpec;
}

/**
 * Defines a batch source of Parquet or CSV files.
 *
 * @example
 * ```ts
 * import { fileSource } from "larder";
 * export const stats = fileSource({
 *   name: "driver_stats_source",
 *   path: "data/driver_stats.parquet",
 *   timestampField: "event_timestamp",
 * });
 * ```
 */
export function fileSource<const N extends string>(
  input: FileSourceInput & { name: N },
): FileSource<N> {
  const parsed = parseDefinition("dataSource", FileSourceInputSchema, input);
  const spec: FileSourceSpec = {
    name: parsed.name,
    description: parsed.description,
    tags: parsed.tags,
    owner: parsed.owner,
    kind: "file",
    path: parsed.path,
    format: parsed.format ?? (/\.csv$/i.test(parsed.path) ? "csv" : "parquet"),
    timestampField: parsed.timestampField,
    fieldMapping: parsed.fieldMapping,
  };
  if (parsed.createdTimestampColumn !== undefined) {
    spec.createdTimestampColumn = parsed.createdTimestampColumn;
  }
  if (parsed.timestampFormat !== undefined) {
    if (spec.format !== "csv") {
      throw new LarderError(
        "DEFINITION_INVALID",
        `Data source "${spec.name}": timestampFormat applies to CSV sources only (format is "${spec.format}")`,
        { details: { kind: "dataSource", field: "timestampFormat" } },
      );
    }
    spec.timestampFormat = parsed.timestampFormat;
  }
  return brand("dataSource", { kind: "dataSource" as const, name: input.name, spec });
}

/** What {@linkcode postgresSource} accepts: a `table` or a `query`, not both. */
export interface PostgresSourceInput extends CommonInput {
  /**
   * A table or view, optionally schema-qualified (`"analytics.driver_stats"`). Each part is
   * quoted as written, so its case matters.
   */
  table?: string | undefined;
  /** A `SELECT` whose rows are the source; it runs as a subquery of each read. */
  query?: string | undefined;
  /** The event-time column (a `timestamp`, `timestamptz` or `date` column). */
  timestampField: string;
  /**
   * The column saying when each row was written; of two rows of one key with the same event
   * time, the later written wins. Absent: no such column.
   */
  createdTimestampColumn?: string | undefined;
  /** Source column -> feature or join-key name, for columns named otherwise. @default {{}} */
  fieldMapping?: Record<string, string> | undefined;
}

const PG_NAME = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/;

const PostgresSourceInputSchema = z.strictObject({
  ...Common,
  table: z.string().regex(PG_NAME, {
    error: 'expected a table name, optionally schema-qualified ("schema.table")',
  }).optional(),
  query: z.string().trim().min(1).optional(),
  timestampField: NameSchema,
  createdTimestampColumn: NameSchema.optional(),
  fieldMapping: z.record(z.string().min(1), NameSchema).default({}),
}).refine((v) => (v.table === undefined) !== (v.query === undefined), {
  error: "pass either table or query (exactly one)",
});
type _PostgresSourceInput = Assert<
  Equals<z.input<typeof PostgresSourceInputSchema>, PostgresSourceInput>
>;

/** A built PostgreSQL source. */
export interface PostgresSource<N extends string = string> extends DataSource<N> {
  /** The normalized form the registry stores. */
  readonly spec: PostgresSourceSpec;
}

/**
 * Defines a batch source in PostgreSQL: a table or a query. Read by the `postgres` offline
 * store (`offline_store: { type: postgres }` in `larder.yaml`), which runs point-in-time joins
 * and materialization reads as SQL in the database.
 *
 * @example
 * ```ts
 * import { postgresSource } from "larder";
 * export const stats = postgresSource({
 *   name: "driver_stats_source",
 *   table: "analytics.driver_stats",
 *   timestampField: "event_timestamp",
 *   createdTimestampColumn: "created",
 * });
 * ```
 */
export function postgresSource<const N extends string>(
  input: PostgresSourceInput & { name: N },
): PostgresSource<N> {
  const parsed = parseDefinition("dataSource", PostgresSourceInputSchema, input);
  const spec: PostgresSourceSpec = {
    name: parsed.name,
    description: parsed.description,
    tags: parsed.tags,
    owner: parsed.owner,
    kind: "postgres",
    ...(parsed.table !== undefined ? { table: parsed.table } : {}),
    ...(parsed.query !== undefined ? { query: parsed.query } : {}),
    timestampField: parsed.timestampField,
    fieldMapping: parsed.fieldMapping,
  };
  if (parsed.createdTimestampColumn !== undefined) {
    spec.createdTimestampColumn = parsed.createdTimestampColumn;
  }
  return brand("dataSource", { kind: "dataSource" as const, name: input.name, spec });
}

const SourceRef = z.union([
  NameSchema,
  z.custom<FileSource | PostgresSource>(
    (v) => isDefinition(v, "dataSource") && (v.spec.kind === "file" || v.spec.kind === "postgres"),
    { message: "expected a file or Postgres source, or its name" },
  ),
], { error: refError("a batch source made with fileSource() or postgresSource(), or its name") });

/** What {@linkcode pushSource} accepts. */
export interface PushSourceInput extends CommonInput {
  /**
   * The file source (or its name) where pushed rows are stored offline, beside its files, and
   * where historical retrieval reads them.
   */
  batchSource: FileSource | PostgresSource | string;
}

const PushSourceInputSchema = z.strictObject({
  ...Common,
  /** Where pushed rows are stored offline, and where historical retrieval reads them. */
  batchSource: SourceRef,
});
type _PushSourceInput = Assert<Equals<z.input<typeof PushSourceInputSchema>, PushSourceInput>>;

/** A built push source. */
export interface PushSource<N extends string = string> extends DataSource<N> {
  /** The normalized form the registry stores. */
  readonly spec: PushSourceSpec;
  /** The batch source object, when it was given as an object. */
  readonly batchSourceRef: FileSource | PostgresSource | string;
}

/**
 * Defines a push source: rows arrive through `push`, land online and in the batch source.
 *
 * @example
 * ```ts
 * import { fileSource, pushSource } from "larder";
 * const batch = fileSource({ name: "trips", path: "data/trips/", timestampField: "ts" });
 * export const tripsPush = pushSource({ name: "trips_push", batchSource: batch });
 * ```
 */
export function pushSource<const N extends string>(
  input: PushSourceInput & { name: N },
): PushSource<N> {
  const parsed = parseDefinition("dataSource", PushSourceInputSchema, input);
  const spec: PushSourceSpec = {
    name: parsed.name,
    description: parsed.description,
    tags: parsed.tags,
    owner: parsed.owner,
    kind: "push",
    batchSource: refName(parsed.batchSource),
  };
  return brand("dataSource", {
    kind: "dataSource" as const,
    name: input.name,
    spec,
    batchSourceRef: parsed.batchSource,
  });
}

/** What {@linkcode requestSource} accepts. */
export interface RequestSourceInput extends CommonInput {
  /** Field name -> value type of the values each request carries (at least one). */
  schema: Record<string, ValueType>;
}

const RequestSourceInputSchema = z.strictObject({
  ...Common,
  schema: z.record(NameSchema, ValueTypeSchema).refine((s) => Object.keys(s).length > 0, {
    message: "expected at least one field",
  }),
});
type _RequestSourceInput = Assert<
  Equals<z.input<typeof RequestSourceInputSchema>, RequestSourceInput>
>;

/** A built request source. */
export interface RequestSource<
  N extends string = string,
  S extends Record<string, ValueType> = Record<string, ValueType>,
> extends DataSource<N> {
  /** The normalized form the registry stores. */
  readonly spec: RequestSourceSpec;
  /** Field name -> value type, as given. */
  readonly schema: S;
}

/**
 * Defines values that arrive with each request, for on-demand feature views.
 *
 * @example
 * ```ts
 * import { requestSource } from "larder";
 * export const tx = requestSource({ name: "tx", schema: { amount: "float64" } });
 * ```
 */
export function requestSource<
  const N extends string,
  const S extends Record<string, ValueType>,
>(input: RequestSourceInput & { name: N; schema: S }): RequestSource<N, S> {
  const parsed = parseDefinition("dataSource", RequestSourceInputSchema, input);
  const spec: RequestSourceSpec = {
    name: parsed.name,
    description: parsed.description,
    tags: parsed.tags,
    owner: parsed.owner,
    kind: "request",
    schema: Object.entries(parsed.schema).map(([name, type]) => ({ name, type })),
  };
  return brand("dataSource", {
    kind: "dataSource" as const,
    name: input.name,
    spec,
    schema: input.schema,
  });
}
