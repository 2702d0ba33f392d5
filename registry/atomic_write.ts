/** Writes a file so that readers see either the old content or the new, never a part. */
import { dirname } from "node:path";
import { fileSystemFailure } from "./fs_errors.ts";

/**
 * Writes `data` (text, bytes, or a stream of byte chunks) to a temporary file beside `path`,
 * syncs it, then renames it over `path`. On failure the temporary file is removed and `path`
 * is untouched. When the machine refuses (no space left, a read-only file system, a denied
 * permission, a parent that is a file) the error is `IO_FAILED`:
 * `Cannot write "x": no space left on device; nothing was changed`.
 */
export async function atomicWriteFile(
  path: string,
  data: string | Uint8Array | AsyncIterable<Uint8Array>,
): Promise<void> {
  try {
    await Deno.mkdir(dirname(path), { recursive: true });
  } catch (err) {
    throw fileSystemFailure(err, { path, action: "write", unchanged: true, mkdir: true }) ?? err;
  }
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      const chunks = typeof data === "string"
        ? [new TextEncoder().encode(data)]
        : data instanceof Uint8Array
        ? [data]
        : data;
      for await (const chunk of chunks) {
        let written = 0;
        while (written < chunk.length) written += await file.write(chunk.subarray(written));
      }
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw fileSystemFailure(err, { path, action: "write", unchanged: true }) ?? err;
  }
}
