/**
 * Larder as a user outside the checkout gets it: `deno install` of the CLI into a folder of
 * its own, then the installed `larder` run from another folder: --version, init, plan, apply,
 * materialize, serve; and `deno task larder` inside the scaffolded repo.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { VERSION } from "../cli/version.ts";
import { freePort } from "./support/redis_server.ts";
import { runAsUser, userEnv } from "./support/user_shell.ts";

const CHECKOUT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

const run = runAsUser;

Deno.test({
  name:
    "larder installed with deno install: --version, then init, plan, apply, materialize, serve from another folder",
  sanitizeResources: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "larder-install-" });
    const work = await Deno.makeTempDir({ prefix: "larder-user-" });
    try {
      const install = await run(Deno.execPath(), [
        "install",
        "-g",
        "-A",
        "-n",
        "larder",
        "--root",
        root,
        "--config",
        join(CHECKOUT, "deno.json"),
        join(CHECKOUT, "cli", "main.ts"),
      ], work);
      assert.equal(install.code, 0, install.stderr);
      const bin = join(root, "bin", Deno.build.os === "windows" ? "larder.cmd" : "larder");
      const larder = (args: string[], cwd = work) => run(bin, args, cwd);

      const version = await larder(["--version"]);
      assert.equal(version.code, 0, version.stderr);
      assert.equal(version.stdout.trim(), `larder ${VERSION}`);

      const init = await larder(["init", "shop"]);
      assert.equal(init.code, 0, init.stderr);
      const repo = join(work, "shop");
      const denoJson = JSON.parse(await Deno.readTextFile(join(repo, "deno.json")));
      assert.match(denoJson.imports.larder, /^file:\/\/\/.*\/mod\.ts$/);

      const plan = await larder(["plan", "--repo", "shop", "--json"]);
      assert.equal(plan.code, 0, plan.stderr);
      const names = JSON.parse(plan.stdout).changes.map((c: { name: string }) => c.name);
      for (const name of ["driver_stats_push_source", "driver_hourly_stats_fresh"]) {
        assert.ok(names.includes(name), `${name} in ${names}`);
      }
      const apply = await larder(["apply", "--repo", "shop"]);
      assert.equal(apply.code, 0, apply.stderr);
      const end = new Date();
      const start = new Date(end.getTime() - 24 * 3600_000);
      const materialize = await larder([
        "materialize",
        start.toISOString(),
        end.toISOString(),
        "--repo",
        "shop",
        "--json",
      ]);
      assert.equal(materialize.code, 0, materialize.stderr);
      const views = JSON.parse(materialize.stdout).views as { view: string; written: number }[];
      assert.deepEqual(views.map((v) => [v.view, v.written]), [
        ["driver_hourly_stats", 50],
        ["driver_hourly_stats_fresh", 50],
      ]);

      // The installed command serves too.
      const port = freePort();
      const server = new Deno.Command(bin, {
        args: ["serve", "--repo", "shop", "--port", String(port), "--no-ui"],
        cwd: work,
        clearEnv: true,
        env: userEnv(),
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        let statuses: string[] | undefined;
        for (let i = 0; i < 400 && statuses === undefined; i++) {
          const res = await fetch(`http://127.0.0.1:${port}/get-online-features`, {
            method: "POST",
            body: JSON.stringify({
              features: ["driver_hourly_stats:conv_rate"],
              entities: { driver_id: [1001] },
            }),
          }).catch(() => undefined);
          if (res === undefined) await new Promise((r) => setTimeout(r, 50));
          else statuses = (await res.json()).results[1].statuses;
        }
        assert.deepEqual(statuses, ["PRESENT"]);
      } finally {
        server.kill("SIGTERM");
        assert.equal((await server.status).code, 0);
      }

      // Inside the repo, its own task runs the same Larder under the repo's import map.
      const task = await run(Deno.execPath(), ["task", "larder", "plan", "--json"], repo);
      assert.equal(task.code, 0, task.stderr);
      assert.equal(JSON.parse(task.stdout).changes[0].action, "unchanged");

      // The scaffolded .gitignore keeps generated files out, and the user's own data in.
      await Deno.writeTextFile(join(repo, "data", "orders.csv"), "order_id\n1\n");
      const git = (args: string[]) => run("git", args, repo);
      const hasGit = await git(["--version"]).then(() => true, () => false);
      if (!hasGit) {
        console.warn("git is not installed: the .gitignore check is skipped");
        return;
      }
      assert.equal((await git(["init", "-q"])).code, 0);
      const ignored = await git([
        "check-ignore",
        "data/registry.json",
        "data/online.sqlite",
        "data/online.sqlite-wal",
        "data/online.sqlite-shm",
        "data/online.kv",
        "data/driver_stats.parquet",
        "data/orders.csv",
        "features.ts",
      ]);
      assert.deepEqual(ignored.stdout.trim().split("\n"), [
        "data/registry.json",
        "data/online.sqlite",
        "data/online.sqlite-wal",
        "data/online.sqlite-shm",
        "data/online.kv",
        "data/driver_stats.parquet",
      ]);
    } finally {
      await Deno.remove(root, { recursive: true });
      await Deno.remove(work, { recursive: true });
    }
  },
});
