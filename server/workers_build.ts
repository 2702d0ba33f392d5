/**
 * Builds a feature repo into a Cloudflare Worker: one ES module (`worker.js`, bundled by
 * `deno bundle` from {@linkcode createWorkersHandler}'s entry and the repo's definition modules)
 * and a `config.capnp` that `workerd serve` runs, with the repo's `larder.yaml` as the
 * `LARDER_CONFIG` binding and every `${VAR}` it names read from workerd's environment.
 *
 * ```sh
 * deno task build-workers --repo my_repo --out dist
 * workerd serve dist/config.capnp
 * ```
 *
 * @module
 */
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import {
  definitionModules,
  isLarderError,
  type LarderConfig,
  LarderError,
  loadDefinitions,
} from "../engine/mod.ts";
import { type BundledTransforms, workersConfig } from "./workers.ts";

/** The compatibility date of the workerd this repository pins (`npm:workerd`). */
export const COMPATIBILITY_DATE = "2026-11-17";

/**
 * Modules the Worker never loads (the offline engine, materialization), left out of the bundle:
 * `--external` patterns match the specifiers as the engine writes its dynamic imports.
 */
const LEFT_OUT = [
  "*/offline/mod.ts",
  "*/offline_factory.ts",
  "*/historical_retrieval.ts",
  "*/materialize/mod.ts",
  "*/_arrow_columns.ts",
  "*/_log_encode.ts",
  // Redis over TCP: Workers reach Redis over HTTP only.
  "*/node_redis_transport.ts",
];

/** Bindings every Worker gets from workerd's environment when set there (default credentials). */
const DEFAULT_VARIABLES = ["UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN"];

/** Options for {@linkcode buildWorker}. */
export interface BuildWorkerOptions {
  /** The feature repo folder (holding `larder.yaml` and the definition modules). */
  readonly repo: string;
  /** Where `worker.js`, `larder.yaml` and `config.capnp` are written (created if missing). */
  readonly out: string;
  /** The address `config.capnp` listens on. @default "127.0.0.1:8080" */
  readonly address?: string;
  /** The `deno.json` whose import map resolves the definitions' imports. @default Larder's */
  readonly denoConfig?: string;
  /** Minify the bundle. @default true */
  readonly minify?: boolean;
}

/** What {@linkcode buildWorker} wrote. */
export interface BuiltWorker {
  readonly worker: string;
  readonly capnp: string;
  /** The environment variables the Worker reads (to set for `workerd serve`). */
  readonly variables: readonly string[];
}

/** The names of `${VAR}` references in `text`. */
function variablesOf(text: string): string[] {
  return [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}/g)].map((m) => m[1]!);
}

function capnpString(value: string): string {
  return JSON.stringify(value);
}

/** The text of `config.capnp` for a bundle `worker.js` beside it. */
export function workerdConfig(options: {
  readonly address: string;
  readonly variables: readonly string[];
}): string {
  const bindings = [
    `    (name = "LARDER_CONFIG", text = embed "larder.yaml"),`,
    `    (name = "LARDER_TRANSFORMS", text = embed "transforms.json"),`,
    ...options.variables.map((v) =>
      `    (name = ${capnpString(v)}, fromEnvironment = ${capnpString(v)}),`
    ),
  ];
  return `# Written by Larder's build-workers: run with \`workerd serve config.capnp\`.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "larder", worker = .larder),
    # The Worker's fetch() (to Redis over HTTP) may reach any address, loopback included.
    (name = "outbound", network = (allow = ["public", "private", "local"],
                                   tlsOptions = (trustBrowserCas = true))),
  ],
  sockets = [(name = "http", address = ${
    capnpString(options.address)
  }, http = (), service = "larder")],
);

const larder :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "worker.js")],
  # From this date on, node:crypto, node:path and node:url (which the bundle imports) are built in.
  compatibilityDate = "${COMPATIBILITY_DATE}",
  globalOutbound = "outbound",
  bindings = [
${bindings.join("\n")}
  ],
);
`;
}

/** The entry module: the repo's definitions imported statically, passed to the handler. */
function entrySource(repoDir: string, files: readonly string[]): string {
  const handler = new URL("./workers.ts", import.meta.url).href;
  const lines = [`import { createWorkersHandler } from ${JSON.stringify(handler)};`];
  const entries: string[] = [];
  files.forEach((file, i) => {
    lines.push(
      `import * as m${i} from ${JSON.stringify(pathToFileURL(resolve(repoDir, file)).href)};`,
    );
    entries.push(`${JSON.stringify(file)}: m${i}`);
  });
  lines.push(`export const definitions = { ${entries.join(", ")} };`);
  lines.push(`export default createWorkersHandler({ definitions });`);
  return lines.join("\n") + "\n";
}

/**
 * Checks `larder.yaml` as the Worker will. A `${VAR}` not set here is read from workerd's
 * environment when the Worker starts: here it stands for a URL, which fits any field.
 */
function checkConfig(text: string): LarderConfig {
  const env: Record<string, string> = { LARDER_CONFIG: text };
  for (const name of variablesOf(text)) env[name] = Deno.env.get(name) ?? "https://unset.invalid";
  return workersConfig(env, { file: "larder.yaml" });
}

interface TransformSpec {
  readonly kind?: unknown;
  readonly name?: unknown;
  readonly spec?: { readonly transformHash?: unknown; readonly transformSource?: unknown };
}

/**
 * The on-demand transforms whose hash the bundle changed (it reprints their text): each one's
 * hash as Deno loads the repo's modules (what apply records), and in the bundle.
 */
async function transformsOf(
  repoDir: string,
  files: readonly string[],
  worker: string,
): Promise<BundledTransforms> {
  const loaded = await loadDefinitions(repoDir, files);
  const bundle = await import(pathToFileURL(worker).href) as {
    definitions: Record<string, Record<string, TransformSpec>>;
  };
  const bundled = new Map<string, string>();
  for (const mod of Object.values(bundle.definitions)) {
    for (const value of Object.values(mod)) {
      if (value?.kind !== "onDemandFeatureView" || typeof value.name !== "string") continue;
      if (typeof value.spec?.transformHash === "string") {
        bundled.set(value.name, value.spec.transformHash);
      }
    }
  }
  const out: BundledTransforms = {};
  for (const { value } of loaded.found) {
    const def = value as TransformSpec;
    if (def.kind !== "onDemandFeatureView" || typeof def.name !== "string") continue;
    const hash = def.spec?.transformHash;
    const source = def.spec?.transformSource;
    const inBundle = bundled.get(def.name);
    if (typeof hash !== "string" || typeof source !== "string" || inBundle === undefined) continue;
    if (inBundle !== hash) out[def.name] = { hash, source, bundled: inBundle };
  }
  return out;
}

/**
 * Bundles the repo's Worker into `out/worker.js` and writes `out/config.capnp` (and
 * `out/larder.yaml` and `out/transforms.json`, which it embeds). Throws `CONFIG_INVALID` when `larder.yaml` is not one a
 * Worker can serve.
 */
export async function buildWorker(options: BuildWorkerOptions): Promise<BuiltWorker> {
  const repoDir = resolve(options.repo);
  const out = resolve(options.out);
  let text: string;
  try {
    text = await Deno.readTextFile(join(repoDir, "larder.yaml"));
  } catch (err) {
    throw new LarderError("CONFIG_INVALID", `Cannot read larder.yaml in "${repoDir}"`, {
      cause: err,
    });
  }
  const files = await definitionModules(repoDir, checkConfig(text).definitions);
  await Deno.mkdir(out, { recursive: true });
  const entry = join(out, "entry.ts");
  await Deno.writeTextFile(entry, entrySource(repoDir, files));
  const worker = join(out, "worker.js");
  const denoConfig = options.denoConfig ?? new URL("../deno.json", import.meta.url).pathname;
  const bundled = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--config",
      denoConfig,
      "--platform",
      "browser",
      "--format",
      "esm",
      ...(options.minify ?? true ? ["--minify"] : []),
      ...LEFT_OUT.flatMap((pattern) => ["--external", pattern]),
      "-o",
      worker,
      entry,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!bundled.success) {
    throw new LarderError(
      "UNAVAILABLE",
      `Cannot bundle the Worker: ${new TextDecoder().decode(bundled.stderr).trim()}`,
    );
  }
  await Deno.writeTextFile(
    join(out, "transforms.json"),
    JSON.stringify(await transformsOf(repoDir, files, worker), null, 2) + "\n",
  );
  const variables = [...new Set([...variablesOf(text), ...DEFAULT_VARIABLES])].sort();
  await Deno.writeTextFile(join(out, "larder.yaml"), text);
  const capnp = join(out, "config.capnp");
  await Deno.writeTextFile(
    capnp,
    workerdConfig({ address: options.address ?? "127.0.0.1:8080", variables }),
  );
  return { worker, capnp, variables };
}

/** The path of the `workerd` binary from the npm package (`npm:workerd`), installed on first use. */
export async function workerdBinary(): Promise<string> {
  const mod = await import("workerd") as { default: unknown };
  // A CommonJS module: its exports are the default export, and the path is their `default`.
  const exports = mod.default as { default?: unknown } | string;
  const path = typeof exports === "string" ? exports : exports.default;
  if (typeof path !== "string") throw new Error("npm:workerd did not give a binary path");
  return path;
}

if (import.meta.main) {
  const args = Deno.args;
  const flag = (name: string) => {
    const at = args.indexOf(`--${name}`);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const repo = flag("repo") ?? ".";
  const out = flag("out") ?? "dist";
  const address = flag("address");
  try {
    const built = await buildWorker({ repo, out, ...(address ? { address } : {}) });
    console.log(`Built ${built.worker} and ${built.capnp}`);
    console.log(`Run: workerd serve ${built.capnp} (reads ${built.variables.join(", ")})`);
  } catch (err) {
    console.error(isLarderError(err) ? `error: ${err.message}` : err);
    Deno.exit(1);
  }
}
