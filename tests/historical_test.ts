import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore, LarderError, writeTable } from "../mod.ts";
import { tempRepo } from "./support/repo.ts";

const FEATURES = `
import { entity, featureService, featureView, fileSource, onDemandFeatureView, requestSource } from "larder";
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
export const source = fileSource({
  name: "stats_source",
  path: "data/stats.parquet",
  timestampField: "event_timestamp",
  createdTimestampColumn: "created",
});
export const stats = featureView({
  name: "stats",
  entities: [driver],
  ttl: "2h",
  schema: { conv_rate: "float64", trips: "int64" },
  source,
});
export const tx = requestSource({ name: "tx", schema: { amount: "float64" } });
export const adjusted = onDemandFeatureView({
  name: "adjusted",
  sources: [stats.select(["conv_rate"]), tx],
  schema: { conv_x_amount: "float64", big: "bool" },
  transform: (c) => ({
    conv_x_amount: c.conv_rate.map((r, i) => {
      const a = c.amount[i];
      return r === null || a == null ? null : r * a;
    }),
    big: c.amount.map((a) => a === null ? null : a > 100),
  }),
});
export const model = featureService({ name: "model", features: [stats.select(["trips"]), adjusted] });
`;

const t = (s: string) => new Date(`2026-01-01T${s}:00Z`);

async function setup() {
  const repo = await tempRepo({ "features.ts": FEATURES });
  await writeTable(join(repo.dir, "data", "stats.parquet"), {
    driver_id: [1, 1, 1, 2],
    event_timestamp: [t("00:00"), t("01:00"), t("01:00"), t("00:30")],
    created: [t("00:00"), t("01:00"), t("01:30"), t("00:30")],
    conv_rate: [0.1, 0.2, 0.25, null],
    trips: [1, 2, 3, 4],
  }, {
    driver_id: "int64",
    event_timestamp: "timestamp",
    created: "timestamp",
    conv_rate: "float64",
    trips: "int64",
  });
  const store = await FeatureStore.open({ repo: repo.dir });
  await store.apply();
  return { repo, store };
}

Deno.test("FeatureStore.getHistoricalFeatures() joins a feature service with an on-demand view", async () => {
  const { repo, store } = await setup();
  try {
    const job = await store.getHistoricalFeatures({
      entities: [
        { driver_id: 1, event_timestamp: t("01:10"), amount: 10 },
        { driver_id: 2, event_timestamp: t("01:00"), amount: 200 },
        { driver_id: 1, event_timestamp: t("05:00"), amount: null },
        { driver_id: 3, event_timestamp: t("01:00"), amount: 1 },
      ],
      featureService: "model",
    });
    assert.deepEqual(job.columns, [
      "driver_id",
      "event_timestamp",
      "amount",
      "trips",
      "conv_x_amount",
      "big",
    ]);
    const rows = await job.toRows();
    assert.deepEqual(rows.map((r) => [r.driver_id, r.trips, r.conv_x_amount, r.big]), [
      [1, 3, 2.5, false], // the 01:00 row corrected at 01:30 wins the tie on event time
      [2, 4, null, true], // conv_rate is null
      [1, null, null, null], // outside the 2h ttl, and no amount
      [3, null, null, false], // no such driver: nulls, the row is kept
    ]);
    const path = join(repo.dir, "out", "train.parquet");
    assert.deepEqual(await job.write(path), { rows: 4 });
    const csv = join(repo.dir, "out", "train.csv");
    await job.write(csv);
    const lines = (await Deno.readTextFile(csv)).trim().split("\n");
    assert.equal(lines[0], "driver_id,event_timestamp,amount,trips,conv_x_amount,big");
    assert.equal(lines.length, 5);
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("FeatureStore.getHistoricalFeatures() names a missing request column", async () => {
  const { repo, store } = await setup();
  try {
    await assert.rejects(
      () =>
        store.getHistoricalFeatures({
          entities: [{ driver_id: 1, event_timestamp: t("01:10") }],
          features: ["adjusted:conv_x_amount"],
        }),
      {
        code: "INPUT_INVALID",
        message:
          'The entity table has no column "amount", which on-demand feature view "adjusted" reads as request data',
      },
    );
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("FeatureStore.getHistoricalFeatures() rejects bad requests clearly", async () => {
  const { repo, store } = await setup();
  const entities = [{ driver_id: 1, event_timestamp: t("01:10") }];
  try {
    await assert.rejects(
      () => store.getHistoricalFeatures({ entities, features: ["stats:speed"] }),
      {
        code: "NOT_FOUND",
        message: 'Cannot find feature "speed" in feature view "stats": it has "conv_rate", "trips"',
      },
    );
    await assert.rejects(() => store.getHistoricalFeatures({ entities, features: ["nope:x"] }), {
      code: "NOT_FOUND",
      message: 'Cannot find feature view "nope": the registry has "adjusted", "stats"',
    });
    await assert.rejects(() => store.getHistoricalFeatures({ entities, featureService: "nope" }), {
      code: "NOT_FOUND",
    });
    await assert.rejects(
      () => store.getHistoricalFeatures({ entities, features: ["stats.trips"] }),
      {
        code: "INPUT_INVALID",
        message: 'Invalid feature reference "stats.trips": expected "view:feature"',
      },
    );
    await assert.rejects(() => store.getHistoricalFeatures({ features: ["stats:trips"] }), {
      code: "INPUT_INVALID",
      message:
        'Pass "entities" (an entity table), or "start" and "end" for the latest values per key',
    });
    await assert.rejects(
      () =>
        store.getHistoricalFeatures({
          features: ["stats:trips"],
          start: "2026-02-01",
          end: "2026-01-01",
        }),
      {
        code: "INPUT_INVALID",
        message: /^The window start \(2026-02-01T00:00:00.000Z\) is after its end/,
      },
    );
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("FeatureStore refuses an on-demand view whose transform drifted from the registry", async () => {
  const { repo, store } = await setup();
  await store.close();
  await repo.write("features.ts", FEATURES.replace("a > 100", "a > 50"));
  const drifted = await FeatureStore.open({ repo: repo.dir });
  try {
    const err = await drifted.getHistoricalFeatures({
      entities: [{ driver_id: 1, event_timestamp: t("01:10"), amount: 60 }],
      features: ["adjusted:big"],
    }).then(() => undefined, (e) => e);
    assert.ok(err instanceof LarderError);
    assert.equal(err.code, "DRIFT");
    assert.match(
      err.message,
      /^On-demand feature view "adjusted": the loaded transform \(sha256 [0-9a-f]{12}\) differs from the registry's/,
    );
    const { plan } = await drifted.plan();
    const change = plan.changes.find((c) => c.name === "adjusted");
    assert.equal(change?.action, "update");
    assert.deepEqual(change?.fields, ["transformHash", "transformSource"]);
  } finally {
    await drifted.close();
    await repo.remove();
  }
});

Deno.test("larder get-historical-features writes a file, and nothing on failure", async () => {
  const { repo, store } = await setup();
  await store.close();
  const main = new URL("../cli/main.ts", import.meta.url).pathname;
  const run = (...args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
  try {
    await writeTable(join(repo.dir, "entities.csv"), {
      driver_id: [1, 2],
      event_timestamp: [t("01:10"), t("01:00")],
    }, { driver_id: "int64", event_timestamp: "timestamp" });
    const out = join(repo.dir, "train.parquet");
    const ok = await run(
      "get-historical-features",
      "--repo",
      repo.dir,
      "--entities",
      join(repo.dir, "entities.csv"),
      "--features",
      "stats:trips,stats:conv_rate",
      "--output",
      out,
      "--json",
    );
    assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
    assert.equal(JSON.parse(new TextDecoder().decode(ok.stdout)).rows, 2);
    const bad = join(repo.dir, "bad.parquet");
    const failed = await run(
      "get-historical-features",
      "--repo",
      repo.dir,
      "--entities",
      join(repo.dir, "entities.csv"),
      "--features",
      "stats:nope",
      "--output",
      bad,
    );
    assert.equal(failed.code, 1);
    assert.match(
      new TextDecoder().decode(failed.stderr),
      /^error: Cannot find feature "nope" in feature view "stats"/m,
    );
    const names = [...Deno.readDirSync(repo.dir)].map((e) => e.name);
    assert.ok(!names.some((n) => n.startsWith("bad.parquet")), names.join(","));
  } finally {
    await repo.remove();
  }
});

Deno.test("int64 beyond 2^53 keeps every digit: bigint in rows, decimal text in JSON output", async () => {
  const { repo, store } = await setup();
  const bigTrips = 2n ** 60n + 1n;
  const bigDriver = 2n ** 62n + 3n;
  try {
    await writeTable(join(repo.dir, "data", "stats.parquet"), {
      driver_id: [1n, bigDriver],
      event_timestamp: [t("00:00"), t("00:00")],
      created: [t("00:00"), t("00:00")],
      conv_rate: [0.5, 0.25],
      trips: [bigTrips, 7],
    }, {
      driver_id: "int64",
      event_timestamp: "timestamp",
      created: "timestamp",
      conv_rate: "float64",
      trips: "int64",
    });
    const entities = [
      { driver_id: 1, event_timestamp: t("01:00") },
      { driver_id: bigDriver, event_timestamp: t("01:00") },
    ];
    const job = await store.getHistoricalFeatures({ entities, features: ["stats:trips"] });
    const rows = await job.toRows();
    assert.deepEqual(rows.map((r) => [r.driver_id, r.trips]), [[1, bigTrips], [bigDriver, 7]]);

    const out = join(repo.dir, "training.json");
    await job.write(out);
    const text = await Deno.readTextFile(out);
    assert.match(text, new RegExp(`"trips":\\s*"${bigTrips}"`));
    assert.match(text, new RegExp(`"driver_id":\\s*"${bigDriver}"`));
    assert.match(text, /"trips":\s*7\b/);
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("getHistoricalFeatures() reports each run's stages: load, join per view, then output", async () => {
  const { repo, store } = await setup();
  try {
    const stages: string[] = [];
    const job = await store.getHistoricalFeatures({
      entities: [{ driver_id: 1, event_timestamp: t("02:00") }],
      features: ["stats:trips", "stats:conv_rate"],
      onStage: (s) => stages.push(`${s.phase} ${s.view ?? "-"} ${s.index}/${s.views}`),
    });
    assert.deepEqual(stages, [], "nothing runs before the result is asked for");
    assert.equal((await job.toRows()).length, 1);
    const one = ["load stats 0/1", "join stats 0/1", "output - 1/1"];
    assert.deepEqual(stages, one);
    await job.toArrow();
    assert.deepEqual(stages, [...one, ...one]);
    await assert.rejects(
      () =>
        store.getHistoricalFeatures({
          entities: [{ driver_id: 1, event_timestamp: t("02:00") }],
          features: ["stats:trips"],
          onStage: "loud" as never,
        }),
      /onStage: expected a function/,
    );
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("getHistoricalFeatures() window bounds keep microseconds: an inclusive end of .000500 keeps a row at .000500", async () => {
  const { repo, store } = await setup();
  try {
    await writeTable(join(repo.dir, "data", "stats.parquet"), {
      driver_id: [1, 2],
      event_timestamp: ["2026-01-01T00:00:00.000500Z", "2026-01-01T00:00:00.000499Z"],
      created: [null, null],
      conv_rate: [0.5, 0.25],
      trips: [5, 4],
    }, {
      driver_id: "int64",
      event_timestamp: "timestamp",
      created: "timestamp",
      conv_rate: "float64",
      trips: "int64",
    });
    const window = async (start: string, end: string) => {
      const job = await store.getHistoricalFeatures({ start, end, features: ["stats:trips"] });
      return (await job.toRows()).map((r) => [r.driver_id, r.trips]);
    };
    // Before, both bounds became Dates at .000: the first window lost driver 1's row.
    assert.deepEqual(await window("2026-01-01T00:00:00Z", "2026-01-01T00:00:00.000500Z"), [
      [1, 5],
      [2, 4],
    ]);
    assert.deepEqual(await window("2026-01-01T00:00:00Z", "2026-01-01T00:00:00.000499Z"), [
      [2, 4],
    ]);
    assert.deepEqual(await window("2026-01-01T00:00:00.0005Z", "2026-01-01T00:00:01Z"), [[1, 5]]);
    await assert.rejects(
      store.getHistoricalFeatures({
        start: "2026-01-01T00:00:00.000501Z",
        end: "2026-01-01T00:00:00.0005Z",
        features: ["stats:trips"],
      }),
      {
        code: "INPUT_INVALID",
        message:
          "The window start (2026-01-01T00:00:00.000501Z) is after its end (2026-01-01T00:00:00.000500Z)",
      },
    );
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("FeatureStore.getHistoricalFeatures() over a window skips source rows whose join key is NULL", async () => {
  const { repo, store } = await setup();
  try {
    await writeTable(join(repo.dir, "data", "stats.parquet"), {
      driver_id: [1, null, 2, null],
      event_timestamp: [t("00:00"), t("00:10"), t("00:20"), t("00:30")],
      created: [null, null, null, null],
      conv_rate: [0.1, 0.9, 0.2, 0.8],
      trips: [1, 9, 2, 8],
    }, {
      driver_id: "int64",
      event_timestamp: "timestamp",
      created: "timestamp",
      conv_rate: "float64",
      trips: "int64",
    });
    const latest = await store.getHistoricalFeatures({
      start: t("00:00"),
      end: t("01:00"),
      features: ["stats:trips"],
    });
    assert.deepEqual((await latest.toRows()).map((r) => [r.driver_id, r.trips]), [[1, 1], [2, 2]]);
    // The entity-table path agrees: a NULL key matches nothing.
    const joined = await store.getHistoricalFeatures({
      entities: [{ driver_id: 1, event_timestamp: t("01:00") }, {
        driver_id: null,
        event_timestamp: t("01:00"),
      }],
      features: ["stats:trips"],
    });
    assert.deepEqual((await joined.toRows()).map((r) => [r.driver_id, r.trips]), [[1, 1], [
      null,
      null,
    ]]);
  } finally {
    await store.close();
    await repo.remove();
  }
});
