/** Writing an object from a local temporary file, so that a failed write leaves nothing. */
import { join } from "node:path";
import { defaultObjectStore } from "./default_store.ts";
import type { ObjectStore } from "./object_store.ts";
import { parseObjectUrl } from "./object_url.ts";

/**
 * Runs `produce` on a temporary local file named like the object (same extension), then
 * stores the file's bytes at `url` in one PUT. When `produce` or the PUT fails, nothing is
 * stored (S3 writes an object whole or not at all) and the temporary file is removed.
 */
export async function writeObjectViaFile<T>(
  url: string,
  produce: (path: string) => Promise<T>,
  store: ObjectStore = defaultObjectStore(),
): Promise<T> {
  const location = parseObjectUrl(url);
  const name = location.key.split("/").pop() || "object";
  const dir = await Deno.makeTempDir({ prefix: "larder_upload_" });
  try {
    const path = join(dir, name);
    const result = await produce(path);
    await store.put(url, await Deno.readFile(path));
    return result;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
