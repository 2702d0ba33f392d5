/**
 * @module
 * Object storage: S3, S3-compatible services (Cloudflare R2, GCS interop, MinIO) and plain
 * `https://` objects, behind one fetch-based client that sources, the `s3` registry backend
 * and writers share. Credentials come from `object_store:` in `larder.yaml` or the standard
 * `AWS_*` environment variables; requests are signed with AWS Signature V4.
 *
 * @example
 * ```ts ignore
 * import { ObjectStore, objectStoreSettings } from "./mod.ts";
 * const store = new ObjectStore(objectStoreSettings({ endpoint: "http://127.0.0.1:4568" }, Deno.env.get));
 * await store.put("s3://features/a.txt", new TextEncoder().encode("hello"));
 * console.log((await store.list("s3://features/")).map((o) => o.url));
 * ```
 */
export {
  type GetOptions,
  type ObjectBody,
  type ObjectInfo,
  ObjectStore,
  type ObjectStoreStats,
  type PutOptions,
} from "./object_store.ts";
export {
  isObjectUrl,
  type ObjectLocation,
  parseObjectUrl,
  redactUrl,
  siblingUrl,
} from "./object_url.ts";
export {
  type ObjectStoreConfig,
  ObjectStoreConfigSchema,
  type ObjectStoreSettings,
  objectStoreSettings,
} from "./settings.ts";
export { defaultObjectStore, setDefaultObjectStore } from "./default_store.ts";
export { writeObjectViaFile } from "./upload.ts";
