/** Path helpers shared by the engine. */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** A `file://` URL for a path (absolute or relative to the working folder). */
export function toFileUrl(path: string): string {
  return pathToFileURL(resolve(path)).href;
}

/** `path` resolved against the repo folder unless already absolute. */
export function inRepo(repoDir: string, path: string): string {
  return resolve(repoDir, path);
}
