/** `fileSource()`, `pushSource()` and `requestSource()`: where feature values come from. */
import { z } from "zod";
import { LarderError } from "../errors.ts";
import { NameSchema } from "../names.ts";
import type {
  DataSourceSpec,
  FileSourceSpec,
  PushSourceSpec,
  RequestSourceSpec,
} from "../specs.ts";
import { type ValueType, ValueTypeSchema } from "../value_type.ts";
import {
  brand,
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

/** What `fileSource()` accepts. */
export const FileSourceInputSchema = z.strictObject({
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
export type FileSourceInput = z.input<typeof FileSourceInputSchema>;

/** A data source of any kind. */
export interface DataSource<N extends string = string> extends Definition<"dataSource"> {
  readonly name: N;
  readonly spec: DataSourceSpec;
}

/** A built file source. */
export interface FileSource<N extends string = string> extends DataSource<N> {
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

const SourceRef = z.union([
  NameSchema,
  z.custom<FileSource>((v) => isDefinition(v, "dataSource") && v.spec.kind === "file", {
    message: "expected a file source or its name",
  }),
], { error: refError("a file source made with fileSource(), or its name") });

/** What `pushSource()` accepts. */
export const PushSourceInputSchema = z.strictObject({
  ...Common,
  /** Where pushed rows are stored offline, and where historical retrieval reads them. */
  batchSource: SourceRef,
});
export type PushSourceInput = z.input<typeof PushSourceInputSchema>;

/** A built push source. */
export interface PushSource<N extends string = string> extends DataSource<N> {
  readonly spec: PushSourceSpec;
  /** The batch source object, when it was given as an object. */
  readonly batchSourceRef: FileSource | string;
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

/** What `requestSource()` accepts. */
export const RequestSourceInputSchema = z.strictObject({
  ...Common,
  schema: z.record(NameSchema, ValueTypeSchema).refine((s) => Object.keys(s).length > 0, {
    message: "expected at least one field",
  }),
});
export type RequestSourceInput = z.input<typeof RequestSourceInputSchema>;

/** A built request source. */
export interface RequestSource<
  N extends string = string,
  S extends Record<string, ValueType> = Record<string, ValueType>,
> extends DataSource<N> {
  readonly spec: RequestSourceSpec;
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
