/**
 * `POST /push` to offline onto a batch source that is one Parquet file, as `feast init` (and
 * `larder init`) make it: the file is never rewritten, the rows go to new files in its pushed
 * folder, and every reader of the source (historical retrieval, materialization, apply's
 * source validation) sees them at once, through the real server and the SDK.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeTable } from "../../engine/mod.ts";
import { readParquetSchema } from "../../engine/offline/mod.ts";
import { startServer, type TestServer } from "./_harness.ts";

/** Feast's `feast init` template, in Larder's words: a file source, a push source over it, two views. */
const FEAST_TEMPLATE_FEATURES = `
import { entity, featureView, fileSource, pushSource } from "larder";
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
export const driverStatsSource = fileSource({
  name: "driver_hourly_stats_source",
  path: "data/driver_stats.parquet",
  timestampField: "event_timestamp",
  createdTimestampColumn: "created",
});
export const driverStatsPushSource = pushSource({
  name: "driver_stats_push_source",
  batchSource: driverStatsSource,
});
const schema = { conv_rate: "float32", acc_rate: "float32", avg_daily_trips: "int64" } as const;
export const stats = featureView({
  name: "driver_hourly_stats",
  entities: [driver],
  ttl: "2h",
  schema,
  source: driverStatsSource,
});
export const fresh = featureView({
  name: "driver_hourly_stats_fresh",
  entities: [driver],
  ttl: "2h",
  schema,
  source: driverStatsPushSource,
});
`;

const HOUR = 3_600_000;
const DAY = "2022-05-13";
const at = (time: string) => new Date(`${DAY}T${time}Z`).getTime();

/** A source row, as the oracle sees it (times in epoch ms; created null = oldest). */
interface Row {
  driver: number;
  ts: number;
  created: number | null;
  trips: number;
}

/**
 * The file: drivers 1001..1003, hourly 06:00..10:00, created a minute after, trips
 * `100 × d + hour` (unique per row). Like the Feast template's data, the file stores
 * avg_daily_trips as int32 (the views read it as int64).
 */
async function writeDriverStats(repoDir: string): Promise<Row[]> {
  const rows: Row[] = [];
  for (let d = 1; d <= 3; d++) {
    for (let h = 6; h <= 10; h++) {
      const ts = at(`${String(h).padStart(2, "0")}:00:00`);
      rows.push({ driver: 1000 + d, ts, created: ts + 60_000, trips: 100 * d + h });
    }
  }
  await writeTable(
    join(repoDir, "data/driver_stats.parquet"),
    {
      driver_id: rows.map((r) => r.driver),
      event_timestamp: rows.map((r) => new Date(r.ts)),
      created: rows.map((r) => new Date(r.created!)),
      conv_rate: rows.map((r) => r.trips / 1000),
      acc_rate: rows.map(() => 0.5),
      avg_daily_trips: rows.map((r) => r.trips),
    },
    {
      driver_id: "int64",
      event_timestamp: "timestamp",
      created: "timestamp",
      conv_rate: "float32",
      acc_rate: "float32",
      avg_daily_trips: "int32",
    },
  );
  return rows;
}

/** Point in time by brute force: the newest row of the key within ttl, ties by created. */
function expectedTrips(rows: readonly Row[], driver: number, ts: number): number | null {
  let best: Row | undefined;
  for (const r of rows) {
    if (r.driver !== driver || r.ts > ts || r.ts < ts - 2 * HOUR) continue;
    const newer = best === undefined || r.ts > best.ts ||
      (r.ts === best.ts && (r.created ?? -Infinity) > (best.created ?? -Infinity));
    if (newer) best = r;
  }
  return best?.trips ?? null;
}

async function startFeastTemplate(): Promise<{ server: TestServer; rows: Row[] }> {
  const server = await startServer({ features: FEAST_TEMPLATE_FEATURES, data: false });
  try {
    return { server, rows: await writeDriverStats(server.repo.dir) };
  } catch (err) {
    await server.close();
    throw err;
  }
}

async function onlineTrips(
  server: TestServer,
  view: string,
  drivers: number[],
): Promise<(number | null)[]> {
  const res = await server.request("POST", "/get-online-features", {
    body: { features: [`${view}:avg_daily_trips`], entities: { driver_id: drivers } },
  });
  assert.equal(res.status, 200, res.text);
  return res.json.results[1].values;
}

async function entries(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
}

Deno.test("POST /push to online_and_offline onto a single Parquet file: new parts beside it, read by every reader at once", async () => {
  const { server, rows } = await startFeastTemplate();
  try {
    const dir = server.repo.dir;
    const original = join(dir, "data/driver_stats.parquet");
    const parts = join(dir, "data/.driver_stats.parquet.pushed");
    const before = await Deno.readFile(original);

    // Feast's documented push (docs/reference/feature-servers/python-feature-server.md,
    // "Pushing features to the online and offline stores"), byte for byte.
    const feast = await server.request("POST", "/push", {
      body: `{
    "push_source_name": "driver_stats_push_source",
    "df": {
            "driver_id": [1001],
            "event_timestamp": ["2022-05-13 10:59:42+00:00"],
            "created": ["2022-05-13 10:59:42"],
            "conv_rate": [1.0],
            "acc_rate": [1.0],
            "avg_daily_trips": [1000]
    },
    "to": "online_and_offline"
  }`,
    });
    assert.equal(feast.status, 200, feast.text);
    assert.deepEqual(feast.json.online, { written: 1, skipped: 0 });
    assert.equal(feast.json.offline.files.length, 1);
    const first: string = feast.json.offline.files[0];
    assert.match(
      first,
      /\/data\/\.driver_stats\.parquet\.pushed\/push-\d{8}T\d{9}Z-[0-9a-f]{8}\.parquet$/,
    );
    rows.push({ driver: 1001, ts: at("10:59:42"), created: at("10:59:42"), trips: 1000 });

    // Ties on event time with file rows: a later created wins, an earlier one or NULL loses.
    const ties = await server.request("POST", "/push", {
      body: {
        push_source_name: "driver_stats_push_source",
        df: {
          driver_id: [1002, 1003, 1001, 1077],
          event_timestamp: [
            `${DAY}T08:00:00Z`,
            `${DAY}T08:00:00Z`,
            `${DAY}T07:00:00Z`,
            `${DAY}T09:30:00Z`,
          ],
          created: [`${DAY}T09:00:00Z`, `${DAY}T07:00:00Z`, null, `${DAY}T09:30:00Z`],
          conv_rate: [0.1, 0.2, 0.3, 0.4],
          acc_rate: [1, 1, 1, 1],
          avg_daily_trips: [2001, 2002, 2003, 2004],
        },
        to: "online_and_offline",
      },
    });
    assert.equal(ties.status, 200, ties.text);
    rows.push(
      { driver: 1002, ts: at("08:00:00"), created: at("09:00:00"), trips: 2001 },
      { driver: 1003, ts: at("08:00:00"), created: at("07:00:00"), trips: 2002 },
      { driver: 1001, ts: at("07:00:00"), created: null, trips: 2003 },
      { driver: 1077, ts: at("09:30:00"), created: at("09:30:00"), trips: 2004 },
    );

    assert.deepEqual(await Deno.readFile(original), before, "the file is never rewritten");
    assert.deepEqual((await entries(parts)).length, 2);
    const schema = (path: string) =>
      readParquetSchema(path).then((s) => s.fields.map((f) => `${f.name}: ${f.type}`));
    assert.deepEqual(
      await schema(first),
      await schema(original),
      "a part has the file's columns and types",
    );
    assert.deepEqual(
      await onlineTrips(server, "driver_hourly_stats_fresh", [1001, 1002, 1003, 1077]),
      [1000, 2001, 2002, 2004],
    );

    // Historical retrieval in the same process, right after: both views, every tie.
    const entities: { driver_id: number; event_timestamp: Date }[] = [];
    for (const driver of [1001, 1002, 1003, 1077, 1099]) {
      for (const time of ["06:30:00", "07:00:00", "08:00:00", "08:30:00", "10:59:42", "12:30:00"]) {
        entities.push({ driver_id: driver, event_timestamp: new Date(at(time)) });
      }
    }
    const job = await server.store.getHistoricalFeatures({
      entities,
      features: [
        "driver_hourly_stats:avg_daily_trips",
        "driver_hourly_stats_fresh:avg_daily_trips",
      ],
      fullFeatureNames: true,
    });
    const got = (await job.toRows()).map((r) => [
      r.driver_id,
      (r.event_timestamp as Date).toISOString().slice(11, 19),
      r.driver_hourly_stats__avg_daily_trips,
      r.driver_hourly_stats_fresh__avg_daily_trips,
    ]);
    const want = entities.map((e) => {
      const trips = expectedTrips(rows, e.driver_id, e.event_timestamp.getTime());
      return [e.driver_id, e.event_timestamp.toISOString().slice(11, 19), trips, trips];
    });
    assert.deepEqual(got, want);
    assert.deepEqual(want.filter((w) => w[1] === "08:00:00").map((w) => w[2]), [
      100 + 8,
      2001,
      308,
      null,
      null,
    ], "the oracle itself: ties by created, NULL created oldest");

    // Without an entity table: the latest per key as of the end.
    const latest = await server.store.getHistoricalFeatures({
      features: ["driver_hourly_stats:avg_daily_trips"],
      start: `${DAY}T09:00:00Z`,
      end: `${DAY}T12:00:00Z`,
    });
    assert.deepEqual(
      (await latest.toRows()).map((r) => [r.driver_id, r.avg_daily_trips]).sort(),
      [[1001, 1000], [1002, 210], [1003, 310], [1077, 2004]],
    );

    // Materialization reads the parts too (into the view on the file source itself).
    const early = await server.request("POST", "/materialize", {
      body: {
        start_ts: `${DAY}T06:00:00Z`,
        end_ts: `${DAY}T08:30:00Z`,
        feature_views: ["driver_hourly_stats"],
      },
    });
    assert.equal(early.status, 200, early.text);
    assert.deepEqual(
      await onlineTrips(server, "driver_hourly_stats", [1001, 1002, 1003, 1077]),
      [108, 2001, 308, null],
    );
    const late = await server.request("POST", "/materialize", {
      body: {
        start_ts: `${DAY}T08:30:00Z`,
        end_ts: `${DAY}T12:00:00Z`,
        feature_views: ["driver_hourly_stats"],
      },
    });
    assert.equal(late.status, 200, late.text);
    assert.deepEqual(
      await onlineTrips(server, "driver_hourly_stats", [1001, 1002, 1003, 1077]),
      [1000, 210, 310, 2004],
    );

    // apply validates the sources (parts included) and accepts them.
    const applied = await server.store.apply();
    assert.equal(applied.written, false);
  } finally {
    await server.close();
  }
});

Deno.test("POST /push to offline onto a single file refuses a value its column cannot hold: nothing written, nothing online", async () => {
  const { server } = await startFeastTemplate();
  try {
    const dir = server.repo.dir;
    const before = await Deno.readFile(join(dir, "data/driver_stats.parquet"));
    const push = (df: Record<string, unknown[]>) =>
      server.request("POST", "/push", {
        body: { push_source_name: "driver_stats_push_source", df, to: "online_and_offline" },
      });
    const row = {
      driver_id: [1001],
      event_timestamp: ["2022-05-13T11:00:00Z"],
      created: [null],
      conv_rate: [0.5],
      acc_rate: [0.5],
    };
    // Fits the views' int64, not the file's int32.
    const wide = await push({ ...row, avg_daily_trips: [2 ** 40] });
    assert.equal(wide.status, 422, wide.text);
    assert.equal(wide.json.error.code, "INPUT_INVALID");
    assert.match(
      wide.json.error.message,
      /^Cannot push to offline: column "avg_daily_trips", row 0: 1099511627776 is not an int32.* \(file ".*\/data\/driver_stats\.parquet" stores the column as int32\)$/,
    );
    // Missing a column the views read.
    const short = await push(row);
    assert.equal(short.status, 422, short.text);
    assert.match(
      short.json.error.message,
      /^Cannot push to offline: missing column "avg_daily_trips" for batch source "driver_hourly_stats_source": feature views "driver_hourly_stats", "driver_hourly_stats_fresh" read it$/,
    );
    assert.deepEqual(await entries(join(dir, "data/.driver_stats.parquet.pushed")), []);
    assert.deepEqual(
      (await entries(join(dir, "data"))).filter((f) => f.startsWith(".") || f.includes(".tmp-")),
      [],
      "no pushed folder, no temporary file",
    );
    assert.deepEqual(await Deno.readFile(join(dir, "data/driver_stats.parquet")), before);
    assert.deepEqual(await onlineTrips(server, "driver_hourly_stats_fresh", [1001]), [null]);
  } finally {
    await server.close();
  }
});
