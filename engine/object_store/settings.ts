/**
 * `object_store:` in `larder.yaml` and the standard AWS environment variables: how Larder
 * reaches S3 and S3-compatible storage (R2, GCS interop, MinIO).
 */
import { z } from "zod";
import type { Assert, Equals } from "../../registry/mod.ts";

/** `object_store:` — credentials and endpoint for `s3://` URLs. Every field is optional. */
export interface ObjectStoreConfig {
  /**
   * The S3 endpoint of an S3-compatible service (`https://<account>.r2.cloudflarestorage.com`,
   * `http://127.0.0.1:9000`). @default `$AWS_ENDPOINT_URL_S3`, `$AWS_ENDPOINT_URL`, else AWS S3
   */
  endpoint?: string | undefined;
  /** The region requests are signed for. @default `$AWS_REGION`, `$AWS_DEFAULT_REGION`, else `us-east-1` */
  region?: string | undefined;
  /**
   * Address buckets in the path (`<endpoint>/<bucket>/<key>`) rather than the host name
   * (`<bucket>.<endpoint>/<key>`). @default `true` with an `endpoint`, `false` for AWS S3
   */
  path_style?: boolean | undefined;
  /** The access key id requests are signed with. @default `$AWS_ACCESS_KEY_ID` */
  access_key_id?: string | undefined;
  /** Its secret (write `${VAR}` to read it from the environment). @default `$AWS_SECRET_ACCESS_KEY` */
  secret_access_key?: string | undefined;
  /** A session token of temporary credentials. @default `$AWS_SESSION_TOKEN` */
  session_token?: string | undefined;
  /** Seconds one request may take, body included, before it fails. @default {60} */
  timeout_seconds: number;
}
const objectStoreConfig = z.strictObject({
  endpoint: z.url({ protocol: /^https?$/ }).optional(),
  region: z.string().min(1).optional(),
  path_style: z.boolean().optional(),
  access_key_id: z.string().min(1).optional(),
  secret_access_key: z.string().min(1).optional(),
  session_token: z.string().min(1).optional(),
  timeout_seconds: z.number().positive().default(60),
});
/** Schema of `object_store:`. */
export const ObjectStoreConfigSchema: z.ZodType<ObjectStoreConfig> = objectStoreConfig;
type _ObjectStoreConfig = Assert<Equals<z.output<typeof objectStoreConfig>, ObjectStoreConfig>>;

/** Resolved settings of an {@linkcode ObjectStore} client. */
export interface ObjectStoreSettings {
  /** The endpoint without a trailing `/`; `undefined`: AWS S3 in `region`. */
  readonly endpoint?: string | undefined;
  readonly region: string;
  readonly pathStyle: boolean;
  readonly accessKeyId?: string | undefined;
  readonly secretAccessKey?: string | undefined;
  readonly sessionToken?: string | undefined;
  /** Milliseconds one request may take, body included. */
  readonly timeoutMs: number;
  /** Retries of a request that failed on the network or with a 5xx answer. @default {2} */
  readonly retries?: number;
}

/** The environment variables {@linkcode objectStoreSettings} reads, parsed once by a schema. */
const AwsEnvSchema = z.object({
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  AWS_SESSION_TOKEN: z.string().min(1).optional(),
  AWS_REGION: z.string().min(1).optional(),
  AWS_DEFAULT_REGION: z.string().min(1).optional(),
  AWS_ENDPOINT_URL: z.string().min(1).optional(),
  AWS_ENDPOINT_URL_S3: z.string().min(1).optional(),
});

/** Settings from `object_store:` (when given), each missing field from the environment. */
export function objectStoreSettings(
  config: Partial<ObjectStoreConfig> | undefined,
  env: (name: string) => string | undefined,
): ObjectStoreSettings {
  const names = Object.keys(AwsEnvSchema.shape) as (keyof z.infer<typeof AwsEnvSchema>)[];
  const raw = Object.fromEntries(names.map((n) => [n, env(n) || undefined]));
  const vars = AwsEnvSchema.parse(raw);
  const endpoint = (config?.endpoint ?? vars.AWS_ENDPOINT_URL_S3 ?? vars.AWS_ENDPOINT_URL)
    ?.replace(/\/+$/, "");
  return {
    endpoint,
    region: config?.region ?? vars.AWS_REGION ?? vars.AWS_DEFAULT_REGION ?? "us-east-1",
    pathStyle: config?.path_style ?? endpoint !== undefined,
    accessKeyId: config?.access_key_id ?? vars.AWS_ACCESS_KEY_ID,
    secretAccessKey: config?.secret_access_key ?? vars.AWS_SECRET_ACCESS_KEY,
    sessionToken: config?.session_token ?? vars.AWS_SESSION_TOKEN,
    timeoutMs: (config?.timeout_seconds ?? 60) * 1000,
  };
}
