/**
 * Larder stays publishable as a JSR package: its entry points' documentation is complete
 * (`deno doc --lint`), `deno publish --dry-run` accepts it (no slow types), the published
 * files are the ones the package needs at run time and none of its tests, and the version is
 * written once.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { VERSION } from "../cli/version.ts";
import { openApiDocument } from "../server/mod.ts";

const CHECKOUT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const ENTRY_POINTS = [
  "mod.ts",
  "server/mod.ts",
  "server/edge.ts",
  "server/workers.ts",
  "cli/main.ts",
];

interface DenoJson {
  readonly name: string;
  readonly version: string;
  readonly license: string;
  readonly exports: Record<string, string>;
}

const denoJson = JSON.parse(
  await Deno.readTextFile(join(CHECKOUT, "deno.json")),
) as DenoJson;

async function deno(args: string[]): Promise<{ code: number; output: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: CHECKOUT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, output: decode(out.stdout) + decode(out.stderr) };
}

Deno.test("deno.json names the package, its entry points and its version", async () => {
  assert.equal(denoJson.name, "@larder/larder");
  assert.equal(denoJson.license, "MIT");
  assert.deepEqual(denoJson.exports, {
    ".": "./mod.ts",
    "./server": "./server/mod.ts",
    "./edge": "./server/edge.ts",
    "./workers": "./server/workers.ts",
    "./cli": "./cli/main.ts",
  });
  // The version is written once, in deno.json: the CLI and the OpenAPI document read it there.
  assert.equal(VERSION, denoJson.version);
  assert.equal((openApiDocument().info as { version: string }).version, denoJson.version);
  assert.match(denoJson.version, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
  const license = await Deno.readTextFile(join(CHECKOUT, "LICENSE"));
  assert.match(license, /^MIT License\n\nCopyright \(c\) 2026 Larder contributors\n/);
});

Deno.test("deno doc --lint finds nothing undocumented in the entry points", async () => {
  const { code, output } = await deno(["doc", "--lint", ...ENTRY_POINTS]);
  assert.equal(code, 0, output);
});

/** Files under `dir` (relative to the checkout), as `larder init` lists its templates. */
async function templateFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(join(CHECKOUT, dir))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory && entry.name !== "data") out.push(...await templateFiles(path));
    else if (entry.isFile) out.push(path);
  }
  return out;
}

Deno.test("deno publish --dry-run accepts the package and publishes what it needs", async () => {
  const { code, output } = await deno(["publish", "--dry-run", "--allow-dirty"]);
  if (
    code !== 0 &&
    /error sending request|dns error|failed to lookup|connection refused/i.test(output)
  ) {
    console.warn(`Skipping the publish check: it needs a network that is unreachable:\n${output}`);
    return;
  }
  assert.equal(code, 0, output);
  assert.doesNotMatch(output, /^error\[/m);
  const published = [...output.matchAll(/file:\/\/(\S+)/g)].map((m) => relative(CHECKOUT, m[1]!));
  assert.ok(published.length > 0, output);
  const needed = [
    "LICENSE",
    "README.md",
    "deno.json",
    ...ENTRY_POINTS,
    ...await templateFiles("examples/driver_repo"),
    ...await templateFiles("examples/no_data_repo"),
    // The web UI's sources, which the server bundles on first use.
    "ui/entry.tsx",
    "ui/bundle.json",
    "ui/bundle.lock",
  ];
  for (const file of needed) assert.ok(published.includes(file), `${file} is not published`);
  // JSR never publishes dotfiles, whatever `publish.include` says: no template may be one.
  for (const file of needed) assert.ok(!/(^|\/)\./.test(file), `${file} would not be published`);
  const unwanted = published.filter((f) =>
    /_test\.ts$/.test(f) || /^(tests|bench|\.demo)\//.test(f) || f.includes("/data/") ||
    f.includes("node_modules/")
  );
  assert.deepEqual(unwanted, []);
});
