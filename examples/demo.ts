/**
 * `deno task demo`: the whole Larder story on embedded defaults (file registry, DuckDB-WASM
 * offline, SQLite online), in a scratch repo under `.demo/`. Each step runs the real CLI
 * command a user would type, or the SDK call a program would make.
 */
import { join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import { FeatureStore } from "../mod.ts";

const ROOT = fromFileUrl(new URL("..", import.meta.url)).replace(/\/$/, "");
const REPO = join(ROOT, ".demo", "driver_repo");
const CLI = join(ROOT, "cli", "main.ts");

let step = 0;
function heading(text: string): void {
  console.log(`\n${++step}. ${text}`);
}

function indent(text: string): string {
  return text.trimEnd().split("\n").map((l) => `   ${l}`).join("\n");
}

/** Runs a CLI command as a user would, shows its output, and fails the demo if it fails. */
async function larder(...args: string[]): Promise<string> {
  console.log(`   $ larder ${args.join(" ").replaceAll(ROOT + "/", "")}`);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) {
    console.error(new TextDecoder().decode(out.stderr));
    throw new Error(`"larder ${args[0]}" failed with exit code ${out.code}`);
  }
  console.log(indent(stdout));
  return stdout;
}

console.log("Larder demo: a feature store for TypeScript and the edge.");
console.log(`Working in ${REPO.replace(ROOT + "/", "")} (deleted and recreated on every run).`);
await Deno.remove(REPO, { recursive: true }).catch(() => {});

heading("Scaffold a feature repo: definitions, larder.yaml and 4 weeks of hourly driver data.");
await larder("init", REPO, "--project", "driver_demo");

heading("Plan: compare the definitions with the (empty) registry. Nothing is written.");
await larder("plan", "--repo", REPO);

heading("Apply: validate definitions and source files, then write the registry.");
await larder("apply", "--repo", REPO);

heading("Apply again: nothing changes the second time.");
await larder("apply", "--repo", REPO);

heading("List what the registry holds.");
await larder("feature-views", "list", "--repo", REPO);

heading("Build a training set: point-in-time-correct features for 1000 labelled driver events.");
await larder(
  "get-historical-features",
  "--repo",
  REPO,
  "--entities",
  join(REPO, "data", "driver_entities.parquet"),
  "--feature-service",
  "driver_activity",
  "--output",
  join(REPO, "data", "training.parquet"),
);

heading("Materialize the last day into the online store (SQLite, embedded).");
const end = new Date();
const start = new Date(end.getTime() - 24 * 3600 * 1000);
await larder("materialize", start.toISOString(), end.toISOString(), "--repo", REPO);

heading("Serve: read online features for three drivers (one unknown) from the CLI.");
await larder(
  "get-online-features",
  "--repo",
  REPO,
  "--feature-service",
  "driver_ranking",
  "--entities",
  '{"driver_id": [1001, 1002, 9999]}',
);

heading("The same from the SDK, with an on-demand view computed from the request (trip_value).");
const store = await FeatureStore.open({ repo: REPO });
try {
  const online = await store.getOnlineFeatures({
    featureService: "driver_scoring",
    entities: { driver_id: [1001, 1002], trip_value: [30, 12.5] },
  });
  console.log(
    '   SDK: store.getOnlineFeatures({ featureService: "driver_scoring", ... }).toRows() ->',
  );
  for (const row of online.toRows()) console.log(`     ${JSON.stringify(row)}`);
  const training = await store.getHistoricalFeatures({
    entities: [{
      driver_id: 1001,
      event_timestamp: new Date(end.getTime() - 3600_000),
      trip_value: 30,
    }],
    featureService: "driver_scoring",
  });
  console.log("   SDK: the same transform offline, one hour ago ->");
  for (const row of await training.toRows()) console.log(`     ${JSON.stringify(row)}`);

  heading("Push a fresh row through the push source, online and offline, from the SDK.");
  const now = new Date();
  const pushed = await store.push("driver_stats_push_source", {
    driver_id: [1001],
    event_timestamp: [now],
    conv_rate: [0.99],
    acc_rate: [0.97],
    avg_daily_trips: [42],
  }, { to: "online_and_offline" });
  console.log(
    '   SDK: store.push("driver_stats_push_source", ..., { to: "online_and_offline" }) ->',
  );
  console.log(`     views: ${JSON.stringify(pushed.views)}`);
  console.log(`     files: ${pushed.files.map((f) => f.replace(ROOT + "/", "")).join(", ")}`);
  const fresh = await store.getOnlineFeatures({
    features: ["driver_hourly_stats_fresh:conv_rate"],
    entities: { driver_id: [1001] },
  });
  console.log(`   Online at once: ${JSON.stringify(fresh.toRows()[0])}`);
  const later = await store.getHistoricalFeatures({
    entities: [{ driver_id: 1001, event_timestamp: new Date(now.getTime() + 1000) }],
    features: ["driver_hourly_stats_fresh:conv_rate", "driver_hourly_stats_fresh:avg_daily_trips"],
  });
  const [seen] = await later.toRows();
  console.log(`   A historical retrieval just after sees the pushed row: ${JSON.stringify(seen)}`);
  if (seen?.conv_rate === undefined || Math.abs(Number(seen.conv_rate) - 0.99) > 1e-6) {
    throw new Error("the historical retrieval did not see the pushed row");
  }
} finally {
  await store.close();
}

console.log("\nDone. Explore the repo with: larder --help (see the README to install the command)");
