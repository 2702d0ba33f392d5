/**
 * A feature repo whose offline store is a real PostgreSQL 15: apply (source validation against
 * the catalog), historical retrieval, materialize and push through FeatureStore and the CLI;
 * bad credentials, a missing table and a statement timeout each as one clear error.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore } from "../mod.ts";
import { readParquetFile } from "../engine/offline/mod.ts";
import { PostgresOfflineStore } from "../engine/offline_postgres/mod.ts";
import { OfflineStoreConfigSchema, type PostgresOfflineStoreConfig } from "../engine/config.ts";
import { entity, featureView, t } from "./support/specs.ts";
import {
  createTable,
  execSql,
  type PostgresServer,
  skipWithoutPostgres,
  startPostgres,
} from "./support/postgres.ts";
import { freePort } from "./support/redis_server.ts";
import { tempRepo } from "./support/repo.ts";
import { plainText, userEnv } from "./support/user_shell.ts";

const ignore = skipWithoutPostgres("Postgres offline store");
const PASSWORD = "larder-test-pw";
const URL_VAR = "LARDER_TEST_PG_URL";
let pg: PostgresServer | undefined;

const FEATURES = `
import { entity, featureView, postgresSource, pushSource } from "larder";
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
export const stats = postgresSource({
  name: "driver_stats_pg",
  table: "public.driver_stats",
  timestampField: "event_timestamp",
  createdTimestampColumn: "created",
  fieldMapping: { conv: "conv_rate" },
});
export const push = pushSource({ name: "driver_stats_push", batchSource: stats });
export const view = featureView({
  name: "driver_hourly_stats",
  entities: [driver],
  ttl: "2h",
  schema: { conv_rate: "float32", acc_rate: "float64" },
  source: push,
});
`;

const LARDER_YAML = `project: pg_demo
offline_store:
  type: postgres
  url: \${${URL_VAR}}
`;

const MAIN = new URL("../cli/main.ts", import.meta.url).pathname;

async function larder(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    clearEnv: true,
    env: userEnv({ [URL_VAR]: pg!.url }),
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: plainText(out.stdout), stderr: plainText(out.stderr) };
}

function pgConfig(overrides: Record<string, unknown> = {}): PostgresOfflineStoreConfig {
  return OfflineStoreConfigSchema.parse({
    type: "postgres",
    url: pg!.url,
    ...overrides,
  }) as PostgresOfflineStoreConfig;
}

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore, sanitizeOps: false, sanitizeResources: false, fn });

test("Postgres offline store: start PostgreSQL and load driver_stats", async () => {
  pg = await startPostgres({ password: PASSWORD });
  await createTable(pg.url, "driver_stats", [
    {
      driver_id: 1,
      event_timestamp: t("2024-01-01T00:00:00"),
      created: t("2024-01-01T00:00:00"),
      conv: 0.1,
      acc_rate: 0.5,
    },
    {
      driver_id: 1,
      event_timestamp: t("2024-01-01T01:00:00"),
      created: t("2024-01-01T01:00:00"),
      conv: 0.2,
      acc_rate: 0.6,
    },
    {
      driver_id: 1,
      event_timestamp: t("2024-01-01T01:00:00"),
      created: t("2024-01-01T01:30:00"),
      conv: 0.3,
      acc_rate: 0.7,
    },
    {
      driver_id: 2,
      event_timestamp: t("2024-01-01T00:30:00"),
      created: null,
      conv: 0.9,
      acc_rate: null,
    },
    {
      driver_id: null,
      event_timestamp: t("2024-01-01T00:30:00"),
      created: null,
      conv: 0.4,
      acc_rate: 0.4,
    },
  ], { types: { event_timestamp: "timestamptz", acc_rate: "real" } });
});

test("FeatureStore on Postgres: apply, historical retrieval, materialize, and push refused offline", async () => {
  Deno.env.set(URL_VAR, pg!.url);
  const repo = await tempRepo({ "larder.yaml": LARDER_YAML, "features.ts": FEATURES });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply();
    const job = await store.getHistoricalFeatures({
      entities: [
        { driver_id: 1, event_timestamp: t("2024-01-01T02:00:00"), label: "a" },
        { driver_id: 2, event_timestamp: t("2024-01-01T03:00:00"), label: "b" },
        { driver_id: 1, event_timestamp: t("2024-01-01T00:30:00"), label: "c" },
        { driver_id: 3, event_timestamp: t("2024-01-01T02:00:00"), label: "d" },
      ],
      features: ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"],
    });
    assert.deepEqual(job.columns, [
      "driver_id",
      "event_timestamp",
      "label",
      "conv_rate",
      "acc_rate",
    ]);
    assert.deepEqual((await job.toRows()).map((r) => [r.label, r.conv_rate, r.acc_rate]), [
      ["a", 0.3, 0.699999988079071], // the tie on event time goes to the later created row
      ["b", null, null], // 2.5 h old: past the ttl
      ["c", 0.1, 0.5],
      ["d", null, null], // no such driver
    ]);
    const out = join(repo.dir, "out", "train.parquet");
    assert.deepEqual(await job.write(out), { rows: 4 });
    assert.equal((await readParquetFile(out)).numRows, 4);

    const result = await store.materialize({
      start: t("2024-01-01T00:00:00"),
      end: t("2024-01-01T23:00:00"),
    });
    assert.equal(JSON.stringify(result).includes("driver_hourly_stats"), true);
    const online = await store.getOnlineFeatures({
      features: ["driver_hourly_stats:conv_rate"],
      entities: { driver_id: [1, 2, 3] },
    });
    assert.deepEqual(online.columns[1]!.values, [0.3, 0.9, null]);

    await assert.rejects(
      () =>
        store.push("driver_stats_push", {
          driver_id: [1],
          event_timestamp: [t("2024-01-02T00:00:00")],
          conv_rate: [0.5],
          acc_rate: [0.5],
        }, { to: "online_and_offline" }),
      {
        code: "INPUT_INVALID",
        message:
          /push source "driver_stats_push" stores its rows in Postgres source "driver_stats_pg", which Larder reads but never writes: push with to "online", and insert the rows into table "public.driver_stats" yourself/,
      },
    );
    const after = await store.getOnlineFeatures({
      features: ["driver_hourly_stats:conv_rate"],
      entities: { driver_id: [1] },
    });
    assert.deepEqual(after.columns[1]!.values, [0.3], "nothing was written online either");
  } finally {
    await store.close();
    Deno.env.delete(URL_VAR);
    await repo.remove();
  }
});

test("larder CLI on Postgres: apply, get-historical-features from a CSV entity file, materialize", async () => {
  const repo = await tempRepo({ "larder.yaml": LARDER_YAML, "features.ts": FEATURES });
  try {
    const apply = await larder(["apply", "--repo", repo.dir]);
    assert.equal(apply.code, 0, apply.stderr);
    await repo.write(
      "entities.csv",
      "driver_id,event_timestamp,note\n1,2024-01-01T02:00:00Z,x\n2,2024-01-01 01:00:00,\n",
    );
    const out = join(repo.dir, "train.csv");
    const hist = await larder([
      "get-historical-features",
      "--repo",
      repo.dir,
      "--entities",
      join(repo.dir, "entities.csv"),
      "--features",
      "driver_hourly_stats:conv_rate",
      "--output",
      out,
      "--json",
    ]);
    assert.equal(hist.code, 0, hist.stderr);
    assert.equal(JSON.parse(hist.stdout).rows, 2);
    assert.deepEqual((await Deno.readTextFile(out)).trim().split("\n"), [
      "driver_id,event_timestamp,note,conv_rate",
      "1,2024-01-01T02:00:00.000Z,x,0.3",
      "2,2024-01-01T01:00:00.000Z,,0.9",
    ]);
    const mat = await larder([
      "materialize",
      "2024-01-01T00:00:00Z",
      "2024-01-01T23:00:00Z",
      "--repo",
      repo.dir,
      "--json",
    ]);
    assert.equal(mat.code, 0, mat.stderr);
    const [view] = JSON.parse(mat.stdout).views;
    assert.equal(view.view, "driver_hourly_stats");
    assert.equal(view.rows, 2);
  } finally {
    await repo.remove();
  }
});

const driver = entity("driver", ["driver_id"]);
const view = featureView("driver_hourly_stats", {
  entities: ["driver"],
  source: "s",
  ttlSeconds: 7200,
  features: [{ name: "conv_rate", type: "float32" }],
});
const tableSource = (table: string) => ({
  name: "s",
  description: "",
  tags: {},
  owner: "",
  kind: "postgres" as const,
  table,
  timestampField: "event_timestamp",
  createdTimestampColumn: "created",
  fieldMapping: { conv: "conv_rate" },
});

async function noFileAfter(
  run: (path: string) => Promise<unknown>,
  expected: { code: string; message: RegExp },
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "larder_pg_out_" });
  try {
    await assert.rejects(() => run(join(dir, "out.parquet")), expected);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), [], "no file, partial or temporary");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

test("PostgresOfflineStore.pullLatest() leaves out and counts rows with a NULL key", async () => {
  const store = new PostgresOfflineStore(pgConfig());
  try {
    const latest = await store.pullLatest({
      repoDir: "/",
      view,
      source: tableSource("driver_stats"),
      entities: [driver],
      start: t("2024-01-01T00:00:00"),
      end: t("2024-01-01T23:00:00"),
    });
    assert.equal(latest.count, 2);
    assert.equal(latest.nullKeyRows, 1);
    const rows = [];
    for await (const batch of latest) rows.push(...batch.toArray().map((r) => r.toJSON()));
    assert.deepEqual(
      rows.map((r) => [Number(r.driver_id), Math.round(Number(r.conv_rate) * 10) / 10]).sort(),
      [[1, 0.3], [2, 0.9]],
    );
  } finally {
    await store.close();
  }
});

test("PostgresOfflineStore: results stream in batches of at most fetch_rows rows", async () => {
  const store = new PostgresOfflineStore(pgConfig({ fetch_rows: 2 }));
  try {
    const job = await store.getHistoricalFeatures({
      repoDir: "/",
      entityTable: [1, 2, 1, 2, 1].map((id) => ({
        driver_id: id,
        event_timestamp: t("2024-01-01T02:00:00"),
      })),
      views: [{
        view,
        source: tableSource("driver_stats"),
        entities: [driver],
        features: ["conv_rate"],
      }],
    });
    const sizes: number[] = [];
    for await (const batch of job.batches()) sizes.push(batch.numRows);
    assert.deepEqual(sizes, [2, 2, 1]);
  } finally {
    await store.close();
  }
});

test("PostgresOfflineStore: a connection lost mid-read is UNAVAILABLE", async () => {
  const store = new PostgresOfflineStore(pgConfig({ fetch_rows: 2 }));
  try {
    const job = await store.getHistoricalFeatures({
      repoDir: "/",
      entityTable: Array.from({ length: 10 }, () => ({
        driver_id: 1,
        event_timestamp: t("2024-01-01T02:00:00"),
      })),
      views: [{
        view,
        source: tableSource("driver_stats"),
        entities: [driver],
        features: ["conv_rate"],
      }],
    });
    const batches = job.batches()[Symbol.asyncIterator]();
    assert.equal((await batches.next()).value?.numRows, 2);
    // The server ends the job's connection between two fetches (as a failover would).
    await execSql(
      pg!.url,
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'larder'",
    );
    // Either the client sees the connection close first, or the next FETCH fails on it.
    await assert.rejects(() => batches.next(), {
      code: "UNAVAILABLE",
      message:
        /^Postgres offline store: cannot reach the server while streaming the (retrieval )?result: /,
    });
  } finally {
    await store.close();
  }
});

test("PostgresOfflineStore: a join-key map reads the key from another entity column", async () => {
  const store = new PostgresOfflineStore(pgConfig());
  try {
    const job = await store.getHistoricalFeatures({
      repoDir: "/",
      entityTable: [
        { origin_id: 2, driver_id: 1, event_timestamp: t("2024-01-01T01:00:00") },
        { origin_id: 1, driver_id: 2, event_timestamp: t("2024-01-01T02:00:00") },
      ],
      views: [{
        view,
        source: tableSource("driver_stats"),
        entities: [driver],
        features: ["conv_rate"],
        name: "origin",
        joinKeyMap: { driver_id: "origin_id" },
      }],
      fullFeatureNames: true,
    });
    assert.deepEqual(job.columns, [
      "origin_id",
      "driver_id",
      "event_timestamp",
      "origin__conv_rate",
    ]);
    assert.deepEqual((await job.toRows()).map((r) => r.origin__conv_rate), [0.9, 0.3]);
  } finally {
    await store.close();
  }
});

test("PostgresOfflineStore: an unreachable server is UNAVAILABLE", async () => {
  const store = new PostgresOfflineStore(
    pgConfig({ url: `postgres://postgres@127.0.0.1:${freePort()}/postgres` }),
  );
  try {
    await assert.rejects(() => store.describeSource(tableSource("driver_stats"), "/"), {
      code: "UNAVAILABLE",
      message: /^Postgres offline store: cannot reach the server while connecting: /,
    });
  } finally {
    await store.close();
  }
});

test("PostgresOfflineStore: bad credentials are CONFIG_INVALID naming the setting, before any job exists", async () => {
  const url = pg!.url.replace(PASSWORD, "wrong");
  const store = new PostgresOfflineStore(pgConfig({ url }));
  try {
    await assert.rejects(() => store.describeSource(tableSource("driver_stats"), "/"), {
      code: "CONFIG_INVALID",
      message: /refused the credentials .*check offline_store's user and password/,
    });
    await assert.rejects(
      () =>
        store.getHistoricalFeatures({
          repoDir: "/",
          entityTable: [{ driver_id: 1, event_timestamp: t("2024-01-01T02:00:00") }],
          views: [{
            view,
            source: tableSource("driver_stats"),
            entities: [driver],
            features: ["conv_rate"],
          }],
        }),
      { code: "CONFIG_INVALID", message: /password authentication failed for user "postgres"/ },
    );
  } finally {
    await store.close();
  }
});

test("PostgresOfflineStore: a missing table is SOURCE_INVALID naming the source and the table", async () => {
  const store = new PostgresOfflineStore(pgConfig());
  try {
    const missing = /Data source "s": table "public.nope" does not exist/;
    await assert.rejects(() => store.describeSource(tableSource("public.nope"), "/"), {
      code: "SOURCE_INVALID",
      message: missing,
    });
    await assert.rejects(
      () =>
        store.getHistoricalFeatures({
          repoDir: "/",
          entityTable: [{ driver_id: 1, event_timestamp: t("2024-01-01T02:00:00") }],
          views: [{
            view,
            source: tableSource("public.nope"),
            entities: [driver],
            features: ["conv_rate"],
          }],
        }),
      { code: "SOURCE_INVALID", message: missing },
    );
    // Dropped between validation and the run: the run fails, and nothing is written.
    await createTable(pg!.url, "short_lived", [
      { driver_id: 1, event_timestamp: t("2024-01-01T00:00:00"), created: null, conv: 0.1 },
    ], { types: { created: "timestamp" } });
    const job = await store.getHistoricalFeatures({
      repoDir: "/",
      entityTable: [{ driver_id: 1, event_timestamp: t("2024-01-01T02:00:00") }],
      views: [{
        view,
        source: tableSource("short_lived"),
        entities: [driver],
        features: ["conv_rate"],
      }],
    });
    await execSql(pg!.url, "DROP TABLE short_lived");
    await noFileAfter((path) => job.write(path), {
      code: "SOURCE_INVALID",
      message: /^Data source "s" \(table "short_lived"\): relation "short_lived" does not exist$/,
    });
  } finally {
    await store.close();
  }
});

test("PostgresOfflineStore: a statement timeout is UNAVAILABLE naming the setting, and write() leaves no file", async () => {
  const store = new PostgresOfflineStore(pgConfig({ statement_timeout_seconds: 0.2 }));
  const slow = {
    ...tableSource("driver_stats"),
    table: undefined,
    // Sleeps 0.2 s per row (the argument depends on the row, so it runs for each).
    query: "SELECT d.* FROM driver_stats d WHERE pg_sleep(0.2 + 0 * d.driver_id)::text = ''",
  };
  try {
    const job = await store.getHistoricalFeatures({
      repoDir: "/",
      entityTable: [{ driver_id: 1, event_timestamp: t("2024-01-01T02:00:00") }],
      views: [{ view, source: slow, entities: [driver], features: ["conv_rate"] }],
    });
    await noFileAfter((path) => job.write(path), {
      code: "UNAVAILABLE",
      message:
        /statement timed out while reading data source "s" \(query\) \(offline_store\.statement_timeout_seconds\)/,
    });
  } finally {
    await store.close();
  }
});

Deno.test("DuckDB offline store: a Postgres source is refused at apply, naming the setting", async () => {
  const repo = await tempRepo({ "features.ts": FEATURES });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await assert.rejects(() => store.apply(), {
      code: "SOURCE_INVALID",
      message:
        /Data source "driver_stats_pg" is a postgres source, which the duckdb offline store does not read: set offline_store.type to postgres/,
    });
  } finally {
    await store.close();
    await repo.remove();
  }
});

test("Postgres offline store: stop PostgreSQL", async () => {
  await pg?.stop();
});
