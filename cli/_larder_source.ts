/**
 * Where this Larder was loaded from, and so how a repo scaffolded by `larder init` should
 * import it: from a JSR package (`https://jsr.io/@scope/name/version/...`) by its package
 * specifier, which brings its own dependencies; from anywhere else (a checkout, an installed
 * command, a copy served over HTTP) by the absolute URL of its `mod.ts`, with Larder's own
 * import map copied into the repo so that Larder's modules resolve their packages there
 * (and, over HTTP, given to the `larder` task too).
 */

/** How a scaffolded repo reaches Larder. */
export interface LarderSource {
  /** What `"larder"` maps to in the repo's `deno.json`. */
  readonly module: string;
  /** The repo's `larder` task: `deno run` of this Larder's CLI with the flags it needs. */
  readonly task: string;
  /**
   * The package specifier (`jsr:@larder/larder@0.1.0`) when loaded from JSR; absent when
   * loaded by URL, where the repo needs Larder's import map too.
   */
  readonly packageSpecifier?: string;
}

const JSR_PATH = /^\/(@[a-z0-9-]+\/[a-z0-9-]+)\/([^/]+)\/$/;

/**
 * The source for a Larder whose root folder is at `root` (a URL ending in `/`: the folder
 * holding `mod.ts`, `cli/` and `deno.json`).
 */
export function larderSource(root: URL): LarderSource {
  if (root.protocol === "https:" && root.hostname === "jsr.io") {
    const m = JSR_PATH.exec(root.pathname);
    if (m) {
      const specifier = `jsr:${m[1]}@${m[2]}`;
      return {
        module: specifier,
        task: `deno run -A --unstable-kv ${specifier}/cli`,
        packageSpecifier: specifier,
      };
    }
  }
  const cli = new URL("cli/main.ts", root).href;
  return {
    module: new URL("mod.ts", root).href,
    // A local checkout's modules resolve their packages through the repo's import map;
    // Deno applies a config's import map to local modules only, so Larder served over HTTP
    // brings its own.
    task: root.protocol === "file:"
      ? `deno run -A ${cli}`
      : `deno run -A --unstable-kv --import-map ${new URL("deno.json", root).href} ${cli}`,
  };
}

/** Reads one text file of this Larder by URL (`file:`, `http:` or `https:` alike). */
export async function readLarderFile(url: URL): Promise<string> {
  const res = await fetch(url);
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`cannot read ${url.href}: HTTP ${res.status}`);
  }
  return await res.text();
}
