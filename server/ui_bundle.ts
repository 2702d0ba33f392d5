/**
 * Builds the web UI (Feast's UI, `@feast-dev/feast-ui` from npm, with the entry in `ui/`) with
 * Deno's own bundler, `deno bundle`, and keeps the result in a cache folder: built once per
 * version of the sources, the lock file and Deno, then served from disk.
 *
 * The build runs in a scratch folder of the cache with a `node_modules` folder (`deno bundle`
 * reads some of the UI's packages wrongly from Deno's global cache), pinned by `ui/bundle.lock`
 * (`--frozen-lockfile`), and needs the npm registry the first time. Concurrent builders (two
 * servers, parallel tests) take an OS lock on a lock file; the finished folder appears with one
 * rename.
 */
import { join } from "node:path";
import { LarderError } from "../engine/mod.ts";
import { withFileLock } from "./_file_lock.ts";
import { sha256Bytes } from "./_sha256.ts";

/** The sources of the bundle, beside this repository's `server/`. */
const SOURCES = new URL("../ui/", import.meta.url);

/** Files of the entry copied into the build folder (`deno.json`/`deno.lock` are renamed). */
const ENTRY_FILES = ["entry.tsx", "config.ts", "process_env.ts", "sign_in.ts"];

/** A built UI: the folder holding `ui.js`, `feast-ui.css` and `assets/`. */
export interface UiBundle {
  /** The folder. */
  readonly dir: string;
  /** Names the build (its sources' hash): part of the assets' URLs, so they cache forever. */
  readonly key: string;
}

/** Options for {@linkcode buildUiBundle}. */
export interface UiBundleOptions {
  /**
   * Where built bundles are kept.
   * @default `$LARDER_CACHE_DIR`, else `$XDG_CACHE_HOME/larder`, else `~/.cache/larder`
   */
  readonly cacheDir?: string;
  /** Progress lines (the first build takes a while). @default none */
  readonly log?: (line: string) => void;
  /** How long one build may take. @default 600_000 */
  readonly timeoutMs?: number;
  /** Stops the build (its `deno bundle` process), or the wait for another builder, when aborted. */
  readonly signal?: AbortSignal;
  /**
   * After a failed build, how long callers get that failure before one of them builds again.
   * @default 60_000
   */
  readonly retryMs?: number;
}

/** The default cache folder. */
export function defaultCacheDir(env: (name: string) => string | undefined): string {
  const explicit = env("LARDER_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "larder");
  return join(env("HOME") ?? env("USERPROFILE") ?? ".", ".cache", "larder");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** The sources, read once per process (a build in progress keeps the key it started with). */
let sources: Promise<{ files: ReadonlyMap<string, string>; key: string }> | undefined;

function readSources(): Promise<{ files: ReadonlyMap<string, string>; key: string }> {
  sources ??= (async () => {
    const files = new Map<string, string>();
    for (const name of [...ENTRY_FILES, "bundle.json", "bundle.lock"]) {
      // By URL: a checkout's file or a published package's file over HTTPS alike.
      const res = await fetch(new URL(name, SOURCES));
      if (!res.ok) {
        await res.body?.cancel();
        throw new Error(`cannot read the web UI's ${name}: HTTP ${res.status}`);
      }
      files.set(name, await res.text());
    }
    return { files, key: keyOf(files) };
  })();
  sources.catch(() => sources = undefined);
  return sources;
}

/** The key of a build: the sources, the lock and the Deno that bundles them. */
function keyOf(files: ReadonlyMap<string, string>): string {
  const text = [...files].map(([name, body]) => `${name}\n${body}`).join("\n\0\n");
  const digest = sha256Bytes(`${Deno.version.deno}\n${text}`);
  return Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

function failure(message: string, cause?: unknown): LarderError {
  return new LarderError("UNAVAILABLE", `Cannot build the web UI: ${message}`, {
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Removes build folders of `key` a dead builder left (the caller holds the key's lock). */
async function removeLeftovers(cacheDir: string, key: string): Promise<void> {
  for await (const entry of Deno.readDir(cacheDir)) {
    if (entry.isDirectory && entry.name.startsWith(`ui-${key}.build-`)) {
      await Deno.remove(join(cacheDir, entry.name), { recursive: true }).catch(() => {});
    }
  }
}

async function bundle(work: string, signal: AbortSignal): Promise<void> {
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--frozen-lockfile",
      "--platform",
      "browser",
      "--minify",
      "--output",
      join(work, "out", "ui.js"),
      "entry.tsx",
    ],
    cwd: work,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  });
  let out: Deno.CommandOutput;
  try {
    out = await command.output();
  } catch (err) {
    throw failure(`"deno bundle" did not run: ${(err as Error).message}`, err);
  }
  if (out.success) return;
  const text = new TextDecoder().decode(out.stderr).trim().split("\n")
    .filter((line) => !/^\s+at /.test(line)).slice(-6).join("; ");
  throw failure(`"deno bundle" failed (exit ${out.code}): ${text || "no output"}`);
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isFile) await Deno.copyFile(join(from, entry.name), join(to, entry.name));
  }
}

async function build(
  files: ReadonlyMap<string, string>,
  cacheDir: string,
  key: string,
  options: UiBundleOptions,
): Promise<void> {
  const work = await Deno.makeTempDir({ dir: cacheDir, prefix: `ui-${key}.build-` });
  try {
    for (const [name, body] of files) {
      const target = name === "bundle.json"
        ? "deno.json"
        : name === "bundle.lock"
        ? "deno.lock"
        : name;
      await Deno.writeTextFile(join(work, target), body);
    }
    options.log?.(
      "Building the web UI with deno bundle (the first time installs its npm packages)",
    );
    const timeout = AbortSignal.timeout(options.timeoutMs ?? 600_000);
    await bundle(work, options.signal ? AbortSignal.any([timeout, options.signal]) : timeout);
    const dist = join(work, "node_modules", "@feast-dev", "feast-ui", "dist");
    await Deno.copyFile(join(dist, "feast-ui.css"), join(work, "out", "feast-ui.css"));
    await copyDir(join(dist, "assets"), join(work, "out", "assets"));
    await Deno.writeTextFile(
      join(work, "out", "manifest.json"),
      JSON.stringify({ key, builtAt: new Date().toISOString(), deno: Deno.version.deno }),
    );
    await Deno.rename(join(work, "out"), join(cacheDir, `ui-${key}`));
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/** The key the current sources build under (the name of their folder in the cache). */
export async function uiBundleKey(): Promise<string> {
  return (await readSources()).key;
}

/** One bundle's build in this process: under way or done, or failed and when to try again. */
interface Build {
  readonly answer: Promise<UiBundle>;
  retryAt?: number;
}

/** The builds of this process, by cache folder and key: the one place a build is remembered. */
const builds = new Map<string, Build>();

/**
 * The web UI's bundle, built when the cache has none for these sources. Callers share one build,
 * then its bundle; after a failure they get that failure for `retryMs`, then the next caller
 * builds again (every caller of one attempt gets the same bundle object, or the same error).
 * Throws `UNAVAILABLE` when it cannot be built (no npm registry, a failed bundle).
 *
 * @example
 * ```ts ignore
 * const ui = await buildUiBundle({ log: console.log });
 * console.log(await Deno.stat(`${ui.dir}/ui.js`));
 * ```
 */
export async function buildUiBundle(options: UiBundleOptions = {}): Promise<UiBundle> {
  const cacheDir = options.cacheDir ?? defaultCacheDir((name) => Deno.env.get(name));
  const { files, key } = await readSources();
  const id = `${cacheDir}\0${key}`;
  const known = builds.get(id);
  if (known && (known.retryAt === undefined || performance.now() < known.retryAt)) {
    return await known.answer;
  }
  const attempt: Build = {
    answer: (async () => {
      const dir = join(cacheDir, `ui-${key}`);
      if (await exists(join(dir, "manifest.json"))) return { dir, key };
      await Deno.mkdir(cacheDir, { recursive: true });
      await withFileLock(join(cacheDir, `ui-${key}.lock`), async () => {
        // Another process may have finished it while this one waited.
        if (await exists(join(dir, "manifest.json"))) return;
        await removeLeftovers(cacheDir, key);
        await build(files, cacheDir, key, options);
      }, options.signal ? { signal: options.signal } : {});
      return { dir, key };
    })(),
  };
  builds.set(id, attempt);
  attempt.answer.catch(() => {
    attempt.retryAt = performance.now() + (options.retryMs ?? 60_000);
  });
  return await attempt.answer;
}

// `deno task build-ui`: build (or find) the bundle now, e.g. while building an image.
if (import.meta.main) {
  try {
    const ui = await buildUiBundle({ log: (line) => console.error(line) });
    console.log(ui.dir);
  } catch (err) {
    console.error((err as Error).message);
    Deno.exit(1);
  }
}
