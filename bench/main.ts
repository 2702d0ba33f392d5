/**
 * `deno task bench NAME [args]`: runs one benchmark (a file `bench/NAME.ts`) in its own
 * process. Benchmarks print Larder's figures beside their baseline's, measured in the same
 * run, and the ratio; results are recorded in docs/benchmarks.md.
 */
import { fileURLToPath as fromFileUrl } from "node:url";

const dir = fromFileUrl(new URL(".", import.meta.url));
const available: string[] = [];
for await (const entry of Deno.readDir(dir)) {
  if (entry.isFile && /^[a-z][a-z0-9_]*\.ts$/.test(entry.name) && entry.name !== "main.ts") {
    available.push(entry.name.replace(/\.ts$/, ""));
  }
}
available.sort();

const [name, ...rest] = Deno.args;
if (name === undefined || name === "--help" || !available.includes(name)) {
  if (name !== undefined && name !== "--help") console.error(`error: Unknown benchmark "${name}"`);
  console.log(`Usage: deno task bench <${available.join("|")}> [options]`);
  Deno.exit(name === undefined || name === "--help" ? 0 : 1);
}
const child = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", "--v8-flags=--max-old-space-size=16384", `${dir}/${name}.ts`, ...rest],
  stdin: "inherit",
  stdout: "inherit",
  stderr: "inherit",
}).spawn();
Deno.exit((await child.status).code);
