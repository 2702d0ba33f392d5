/** The OpenAPI 3.1 document of the feature server, generated from the same zod schemas. */
import { z } from "zod";
import denoJson from "../deno.json" with { type: "json" };
import {
  BODY_SCHEMAS,
  type BodySchemas,
  ErrorResponseSchema,
  GetOnlineFeaturesBodySchema,
  HealthResponseSchema,
  MaterializeBodySchema,
  MaterializeIncrementalBodySchema,
  MaterializeResponseSchema,
  OnlineFeaturesResponseSchema,
  PushBodySchema,
  RegistryObjectSchema,
  STRICT_BODY_SCHEMAS,
  WriteResponseSchema,
  WriteToOnlineStoreBodySchema,
} from "./schemas.ts";

/** One documented operation. */
export interface Operation {
  readonly method: "get" | "post";
  readonly path: string;
  readonly summary: string;
  readonly description: string;
  readonly tag: "serving" | "writing" | "registry" | "operations";
  readonly body?: z.ZodType;
  /** The success answer: a schema, or a media type with an example. */
  readonly response: z.ZodType | { readonly mediaType: string; readonly description: string };
  readonly errors: readonly number[];
  /** Whether credentials are needed (when auth is configured). */
  readonly auth: boolean;
}

const REGISTRY_KINDS = [
  ["entities", "entities"],
  ["feature-views", "feature views"],
  ["feature-services", "feature services"],
  ["data-sources", "data sources"],
] as const;

/** Every operation the server has, in the order the docs list them. */
export const OPERATIONS: readonly Operation[] = [
  {
    method: "post",
    path: "/get-online-features",
    summary: "Read the latest feature values",
    description:
      "Features as `view:feature` references or a feature service, for entity rows given as columns. " +
      "The answer is column-major (entity columns first), with a status and an RFC 3339 event timestamp per value. " +
      "Needs READ_ONLINE on the feature service, or on every feature view named.",
    tag: "serving",
    body: GetOnlineFeaturesBodySchema,
    response: OnlineFeaturesResponseSchema,
    errors: [400, 401, 403, 404, 408, 413, 422, 503],
    auth: true,
  },
  {
    method: "post",
    path: "/push",
    summary: "Push rows through a push source",
    description:
      "Writes rows to every feature view fed by the push source: online (skip-if-not-newer), offline " +
      "(as new files of the push source's batch source, in its format; a single-file source keeps " +
      "them beside the file and is never rewritten), or both. " +
      "Needs WRITE_ONLINE and/or WRITE_OFFLINE on those feature views.",
    tag: "writing",
    body: PushBodySchema,
    response: WriteResponseSchema,
    errors: [400, 401, 403, 404, 408, 413, 422, 503],
    auth: true,
  },
  {
    method: "post",
    path: "/write-to-online-store",
    summary: "Write rows of one feature view online",
    description: "Skip-if-not-newer writes. Needs WRITE_ONLINE on the feature view.",
    tag: "writing",
    body: WriteToOnlineStoreBodySchema,
    response: WriteResponseSchema,
    errors: [400, 401, 403, 404, 408, 413, 422, 503],
    auth: true,
  },
  {
    method: "post",
    path: "/materialize",
    summary: "Materialize a time window",
    description:
      "Loads the newest row per entity in `[start_ts, end_ts]` into the online store. A view that is " +
      "already being materialized (by any server process) answers 409. Needs WRITE_ONLINE on each view.",
    tag: "writing",
    body: MaterializeBodySchema,
    response: MaterializeResponseSchema,
    errors: [400, 401, 403, 404, 408, 409, 413, 422, 503],
    auth: true,
  },
  {
    method: "post",
    path: "/materialize-incremental",
    summary: "Materialize up to a time",
    description:
      "From each view's last materialized interval (or its ttl before now) up to `end_ts`. " +
      "409 when a view is already being materialized. Needs WRITE_ONLINE on each view.",
    tag: "writing",
    body: MaterializeIncrementalBodySchema,
    response: MaterializeResponseSchema,
    errors: [400, 401, 403, 404, 408, 409, 413, 422, 503],
    auth: true,
  },
  ...REGISTRY_KINDS.flatMap(([segment, label]): Operation[] => [
    {
      method: "get",
      path: `/registry/${segment}`,
      summary: `List ${label}`,
      description: `The ${label} the caller may DESCRIBE, sorted by name.`,
      tag: "registry",
      response: z.record(z.string(), z.array(RegistryObjectSchema)),
      errors: [401, 503],
      auth: true,
    },
    {
      method: "get",
      path: `/registry/${segment}/{name}`,
      summary: `Get one of the ${label}`,
      description: "Needs DESCRIBE on the object.",
      tag: "registry",
      response: RegistryObjectSchema,
      errors: [401, 403, 404, 503],
      auth: true,
    },
  ]),
  {
    method: "get",
    path: "/health",
    summary: "Health",
    description:
      "200 `ok` when the registry and the online store answer, 200 `degraded` while the registry holds an older document than the one served (still serving it); 503 otherwise. Why a component fails (`error`) only for callers with valid credentials.",
    tag: "operations",
    response: HealthResponseSchema,
    errors: [503],
    auth: false,
  },
  {
    method: "get",
    path: "/metrics",
    summary: "Prometheus metrics",
    description:
      "Requests by route and status, latency histograms by route, errors by code. Needs valid credentials with `feature_server.metrics: authenticated`.",
    tag: "operations",
    response: { mediaType: "text/plain; version=0.0.4", description: "Prometheus text format" },
    errors: [],
    auth: false,
  },
  {
    method: "get",
    path: "/openapi.json",
    summary: "This document",
    description: "OpenAPI 3.1.",
    tag: "operations",
    response: { mediaType: "application/json", description: "OpenAPI 3.1 document" },
    errors: [],
    auth: false,
  },
  {
    method: "get",
    path: "/docs",
    summary: "API documentation page",
    description: "A self-contained HTML page listing every operation.",
    tag: "operations",
    response: { mediaType: "text/html", description: "HTML page" },
    errors: [],
    auth: false,
  },
];

const STATUS_TEXT: Record<number, string> = {
  400: "The body is not JSON (or not UTF-8)",
  401: "No or invalid credentials",
  403: "Valid credentials without the permission",
  404: "Unknown object, or not served by this deployment",
  408: "The body did not arrive in time",
  409: "A feature view is already being materialized",
  413: "Body or input over its size limit",
  422: "The body is JSON but not a valid request",
  503: "The registry or the online store cannot be reached",
};

/** A JSON Schema of `schema`, without its `$schema` key. */
export function jsonSchema(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
  return rest;
}

/** Options for {@linkcode openApiDocument}. */
export interface OpenApiOptions {
  /** The document's `info.title`. @default {"Larder feature server"} */
  readonly title?: string;
  /** The document's `info.version`. @default Larder's version (`version` in its `deno.json`) */
  readonly version?: string;
  /** Whether operations that need credentials declare bearer auth. */
  readonly bearerAuth?: boolean;
  /** Whether bodies refuse unknown keys (`additionalProperties: false`). @default false */
  readonly strictBodies?: boolean;
}

/** Each body schema's twin that refuses unknown keys. */
const STRICT_TWIN = new Map<z.ZodType, z.ZodType>(
  (Object.keys(BODY_SCHEMAS) as (keyof BodySchemas)[]).map((k) => [
    BODY_SCHEMAS[k],
    STRICT_BODY_SCHEMAS[k],
  ]),
);

/** Builds the OpenAPI 3.1 document. */
export function openApiDocument(options: OpenApiOptions = {}): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const responses: Record<string, unknown> = {
      "200": "mediaType" in op.response
        ? {
          description: op.response.description,
          content: { [op.response.mediaType]: { schema: {} } },
        }
        : {
          description: "OK",
          content: { "application/json": { schema: jsonSchema(op.response, "output") } },
        },
    };
    for (const status of op.errors) {
      responses[String(status)] = {
        description: STATUS_TEXT[status] ?? "Error",
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      };
    }
    const parameters = op.path.includes("{name}")
      ? [{ name: "name", in: "path", required: true, schema: { type: "string" } }]
      : undefined;
    paths[op.path] ??= {};
    paths[op.path]![op.method] = {
      operationId: `${op.method}${
        op.path.replace(/[^A-Za-z0-9]+(.)?/g, (_, c) => (c ?? "").toUpperCase())
      }`,
      summary: op.summary,
      description: op.description,
      tags: [op.tag],
      ...(parameters ? { parameters } : {}),
      ...(op.body
        ? {
          requestBody: {
            required: true,
            content: {
              "application/json": {
                schema: jsonSchema(
                  options.strictBodies ? STRICT_TWIN.get(op.body) ?? op.body : op.body,
                  "input",
                ),
              },
            },
          },
        }
        : {}),
      responses,
      ...(op.auth && options.bearerAuth ? { security: [{ bearer: [] }] } : { security: [] }),
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: options.title ?? "Larder feature server",
      version: options.version ?? denoJson.version,
      description:
        'Feast-compatible feature serving. Errors are `{"error": {"code", "message", "details"}}`.',
    },
    paths,
    components: {
      schemas: { Error: jsonSchema(ErrorResponseSchema, "output") },
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "API token or OIDC JWT" },
      },
    },
  };
}
