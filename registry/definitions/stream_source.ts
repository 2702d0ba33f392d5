/** `streamSource()`: events read from a broker's stream, kept offline in a batch source. */
import { z } from "zod";
import { LarderError } from "../errors.ts";
import { NameSchema } from "../names.ts";
import type { StreamSourceSpec } from "../specs.ts";
import type { Assert, Equals } from "../_zod.ts";
import {
  brand,
  type CommonInput,
  isDefinition,
  parseDefinition,
  refError,
  refName,
} from "./_definition.ts";
import type { DataSource, FileSource } from "./data_source.ts";

/** What {@linkcode streamSource} accepts. */
export interface StreamSourceInput extends CommonInput {
  /** The broker holding the stream: Redis Streams or NATS JetStream. */
  broker: "redis" | "nats";
  /** The Redis stream key, or the NATS JetStream stream name. */
  stream: string;
  /**
   * NATS only: the subject events are published on (the stream is created over it when it does
   * not exist). @default {"<stream>.events"}
   */
  subject?: string | undefined;
  /**
   * How events are encoded: `"fields"`, one Redis Streams entry field per column (text read as
   * the declared types); `"json"`, one JSON object per event (the message body on NATS, the
   * entry's `data` field on Redis).
   * @default {"fields"} on Redis, `"json"` on NATS
   */
  format?: "fields" | "json" | undefined;
  /** The event field holding each event's event time (ISO 8601 text or epoch milliseconds). */
  timestampField: string;
  /**
   * The file source (or its name) where the processor appends events offline, and where
   * backfill (`materialize`) and historical retrieval read them.
   */
  batchSource: FileSource | string;
  /**
   * Where events that cannot be written go, with the reason and the original payload: a Redis
   * stream key, or a NATS JetStream stream over the subject of the same name (created when
   * missing).
   * @default {"<stream>:dead"} on Redis, `"<stream>_dead"` on NATS
   */
  deadLetterStream?: string | undefined;
}

const FileSourceRef = z.union([
  NameSchema,
  z.custom<FileSource>((v) => isDefinition(v, "dataSource") && v.spec.kind === "file", {
    message: "expected a file source or its name",
  }),
], { error: refError("a file source made with fileSource(), or its name") });

const StreamSourceInputSchema = z.strictObject({
  name: NameSchema,
  description: z.string().default(""),
  tags: z.record(z.string(), z.string()).default({}),
  owner: z.string().default(""),
  broker: z.enum(["redis", "nats"]),
  stream: z.string().min(1),
  subject: z.string().min(1).optional(),
  format: z.enum(["fields", "json"]).optional(),
  timestampField: NameSchema,
  batchSource: FileSourceRef,
  deadLetterStream: z.string().min(1).optional(),
});
type _StreamSourceInput = Assert<
  Equals<z.input<typeof StreamSourceInputSchema>, StreamSourceInput>
>;

/** A built stream source. */
export interface StreamSource<N extends string = string> extends DataSource<N> {
  /** The normalized form the registry stores. */
  readonly spec: StreamSourceSpec;
  /** The batch source object, when it was given as an object. */
  readonly batchSourceRef: FileSource | string;
}

/** NATS names a stream may have: no spaces, dots, `*`, `>`, slashes. */
const NATS_STREAM = /^[^\s.*>\/\\]+$/;

/**
 * Defines a stream source (like Feast's `KafkaSource`): events on a Redis stream or a NATS
 * JetStream stream, read by the stream processor (`larder stream`) for the stream feature
 * views over it, and a batch source holding the same events offline.
 *
 * @example
 * ```ts
 * import { fileSource, streamSource } from "larder";
 * const batch = fileSource({ name: "trips", path: "data/trips/", timestampField: "ts" });
 * export const trips = streamSource({
 *   name: "trips_stream",
 *   broker: "redis",
 *   stream: "events:trips",
 *   timestampField: "ts",
 *   batchSource: batch,
 * });
 * ```
 */
export function streamSource<const N extends string>(
  input: StreamSourceInput & { name: N },
): StreamSource<N> {
  const parsed = parseDefinition("dataSource", StreamSourceInputSchema, input);
  const problem = (field: string, message: string) =>
    new LarderError("DEFINITION_INVALID", `Data source "${parsed.name}": ${field}: ${message}`, {
      details: { kind: "dataSource", field },
    });
  const nats = parsed.broker === "nats";
  if (nats && !NATS_STREAM.test(parsed.stream)) {
    throw problem(
      "stream",
      `invalid NATS stream name ${
        JSON.stringify(parsed.stream)
      }: no spaces, ".", "*", ">" or slashes`,
    );
  }
  if (
    nats && parsed.deadLetterStream !== undefined && !NATS_STREAM.test(parsed.deadLetterStream)
  ) {
    throw problem(
      "deadLetterStream",
      `invalid NATS stream name ${
        JSON.stringify(parsed.deadLetterStream)
      }: no spaces, ".", "*", ">" or slashes`,
    );
  }
  if (!nats && parsed.subject !== undefined) {
    throw problem("subject", 'applies to NATS streams only (broker is "redis")');
  }
  const format = parsed.format ?? (nats ? "json" : "fields");
  if (nats && format !== "json") {
    throw problem("format", 'NATS messages are JSON objects: use "json"');
  }
  const spec: StreamSourceSpec = {
    name: parsed.name,
    description: parsed.description,
    tags: parsed.tags,
    owner: parsed.owner,
    kind: "stream",
    broker: parsed.broker,
    stream: parsed.stream,
    format,
    timestampField: parsed.timestampField,
    batchSource: refName(parsed.batchSource),
    deadLetterStream: parsed.deadLetterStream ??
      (nats ? `${parsed.stream}_dead` : `${parsed.stream}:dead`),
  };
  if (nats) spec.subject = parsed.subject ?? `${parsed.stream}.events`;
  return brand("dataSource", {
    kind: "dataSource" as const,
    name: input.name,
    spec,
    batchSourceRef: parsed.batchSource,
  });
}
