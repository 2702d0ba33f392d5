/**
 * Larder run from somewhere that is not a folder on disk, as a published package runs
 * (modules fetched by URL): `init` reads its templates by URL, the scaffolded repo imports
 * Larder by that URL (or by its package specifier from JSR), and the repo's `larder` task
 * then applies, materializes and serves. Here the checkout is served over HTTP on loopback,
 * which is how any Deno program reaches a package's files.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { larderSource } from "../cli/_larder_source.ts";
import { NO_DATA_FILES, TEMPLATE_FILES } from "../cli/commands/init.ts";
import { freePort } from "./support/redis_server.ts";
import { runAsUser, userEnv } from "./support/user_shell.ts";

const CHECKOUT = new URL("../", import.meta.url);

async function filesUnder(dir: URL, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(new URL(prefix, dir))) {
    const rel = `${prefix}${e.name}`;
    if (e.isDirectory && e.name !== "data") out.push(...await filesUnder(dir, `${rel}/`));
    else if (e.isFile) out.push(rel);
  }
  return out.sort();
}

Deno.test("init's template lists name exactly the files of the template folders", async () => {
  assert.deepEqual(
    [...TEMPLATE_FILES].sort(),
    await filesUnder(new URL("examples/driver_repo/", CHECKOUT)),
  );
  assert.deepEqual(
    [...NO_DATA_FILES].sort(),
    await filesUnder(new URL("examples/no_data_repo/", CHECKOUT)),
  );
});

Deno.test("larderSource: JSR by package specifier, a checkout or a URL by address", () => {
  const jsr = larderSource(new URL("https://jsr.io/@larder/larder/0.3.1/"));
  assert.deepEqual(jsr, {
    module: "jsr:@larder/larder@0.3.1",
    task: "deno run -A --unstable-kv jsr:@larder/larder@0.3.1/cli",
    packageSpecifier: "jsr:@larder/larder@0.3.1",
  });
  const file = larderSource(new URL("file:///home/me/larder/"));
  assert.deepEqual(file, {
    module: "file:///home/me/larder/mod.ts",
    task: "deno run -A file:///home/me/larder/cli/main.ts",
  });
  const http = larderSource(new URL("https://example.com/larder/v1/"));
  assert.equal(http.module, "https://example.com/larder/v1/mod.ts");
  assert.equal(
    http.task,
    "deno run -A --unstable-kv --import-map https://example.com/larder/v1/deno.json " +
      "https://example.com/larder/v1/cli/main.ts",
  );
  assert.equal(http.packageSpecifier, undefined);
  // A jsr.io address that is not a package version's root is only a URL.
  assert.equal(larderSource(new URL("https://jsr.io/docs/")).packageSpecifier, undefined);
});

const run = (cmd: string[], cwd: string) => runAsUser(cmd[0]!, cmd.slice(1), cwd);

Deno.test({
  name:
    "Larder fetched by URL: init reads its templates over HTTP, the repo's task applies, materializes and serves",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const files = new AbortController();
    const filesPort = freePort();
    const served = Deno.serve(
      { port: filesPort, hostname: "127.0.0.1", signal: files.signal, onListen() {} },
      async (req) => {
        const path = decodeURIComponent(new URL(req.url).pathname).replace(/^\/+/, "");
        if (path.split("/").includes("..")) return new Response("no", { status: 400 });
        try {
          return new Response(await Deno.readFile(new URL(path, CHECKOUT)));
        } catch {
          return new Response("not found", { status: 404 });
        }
      },
    );
    const root = `http://127.0.0.1:${filesPort}/`;
    const work = await Deno.makeTempDir({ prefix: "larder-by-url-" });
    let server: Deno.ChildProcess | undefined;
    let serverLog: Promise<string> | undefined;
    try {
      const init = await run([
        Deno.execPath(),
        "run",
        "-A",
        `--reload=${root}`,
        "--import-map",
        `${root}deno.json`,
        `${root}cli/main.ts`,
        "init",
        "shop",
      ], work);
      assert.equal(init.code, 0, init.stderr);
      const repo = join(work, "shop");
      const denoJson = JSON.parse(await Deno.readTextFile(join(repo, "deno.json")));
      assert.equal(denoJson.imports.larder, `${root}mod.ts`);
      assert.equal(denoJson.imports.zod, "npm:zod@4.6.7");
      // What the native engine and Redis over TCP load is mapped; test-only servers are not.
      assert.equal(denoJson.imports["@duckdb/node-api"], "npm:@duckdb/node-api@1.4.4-r.3");
      assert.equal(denoJson.imports.redis, "npm:redis@6.3.1");
      assert.equal(denoJson.imports.s3rver, undefined);
      assert.equal(
        denoJson.tasks.larder,
        `deno run -A --unstable-kv --import-map ${root}deno.json ${root}cli/main.ts`,
      );
      assert.match(
        await Deno.readTextFile(join(repo, "features.ts")),
        /from "larder"/,
      );
      assert.ok((await Deno.stat(join(repo, "data", "driver_stats.parquet"))).size > 0);

      const task = (args: string[]) => run([Deno.execPath(), "task", "larder", ...args], repo);
      const apply = await task(["apply"]);
      assert.equal(apply.code, 0, apply.stderr);
      const end = new Date();
      const start = new Date(end.getTime() - 24 * 3600_000);
      const materialize = await task([
        "materialize",
        start.toISOString(),
        end.toISOString(),
        "--json",
      ]);
      assert.equal(materialize.code, 0, materialize.stderr);
      assert.deepEqual(
        JSON.parse(materialize.stdout).views.map((v: { view: string; written: number }) => [
          v.view,
          v.written,
        ]),
        [["driver_hourly_stats", 50], ["driver_hourly_stats_fresh", 50]],
      );

      const port = freePort();
      const [cmd, ...args] = denoJson.tasks.larder.split(" ");
      assert.equal(cmd, "deno");
      server = new Deno.Command(Deno.execPath(), {
        args: [...args, "serve", "--port", String(port), "--no-ui"],
        cwd: repo,
        clearEnv: true,
        env: userEnv(),
        stdout: "null",
        stderr: "piped",
      }).spawn();
      serverLog = new Response(server.stderr).text();
      const body = JSON.stringify({
        features: ["driver_hourly_stats:conv_rate"],
        entities: { driver_id: [1001] },
      });
      let answer: { results: { statuses: string[] }[] } | undefined;
      for (let i = 0; i < 600 && answer === undefined; i++) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/get-online-features`, {
            method: "POST",
            body,
          });
          assert.equal(res.status, 200);
          answer = await res.json();
        } catch (err) {
          if (err instanceof assert.AssertionError) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      assert.ok(answer, "the server answered");
      assert.deepEqual(answer.results[1]!.statuses, ["PRESENT"]);
    } finally {
      if (server) {
        server.kill("SIGTERM");
        const status = await server.status;
        assert.equal(status.code, 0, `the server stops cleanly on SIGTERM: ${await serverLog}`);
      }
      files.abort();
      await served.finished;
      await Deno.remove(work, { recursive: true });
    }
  },
});
