/**
 * `FeatureStore.push()` to offline onto a batch source that is one file (Parquet or CSV): the
 * file stays byte for byte, the rows land in new files of its pushed folder, and every reader
 * sees them in the same process right after; a write that fails leaves nothing behind and
 * nothing online. Real files, the real DuckDB engine, SQLite, a real tmpfs for a full disk.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore, writeTable } from "../mod.ts";
import { freePort } from "./support/redis_server.ts";
import { tempRepo } from "./support/repo.ts";
import { mountTmpfs, noTmpfs } from "./support/tmpfs.ts";

/** A view over a push source whose batch source is the single file `path`. */
function features(path: string, extra = ""): string {
  return `
import { entity, featureView, fileSource, pushSource } from "larder";
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
export const source = fileSource({
  name: "driver_stats_source",
  path: ${JSON.stringify(path)},
  timestampField: "event_timestamp",
  createdTimestampColumn: "created",${extra}
});
export const push = pushSource({ name: "driver_stats_push", batchSource: source });
export const stats = featureView({
  name: "driver_hourly_stats",
  entities: [driver],
  schema: { trips: "int64", rate: "float64" },
  source: push,
});
`;
}

const CSV_FILE = [
  "driver_id,event_timestamp,created,trips,rate,note",
  "1001,13/05/2022 08:00,13/05/2022 08:01,108,0.5,first",
  "1002,13/05/2022 08:00,13/05/2022 08:01,208,0.25,",
  '1001,13/05/2022 09:00,13/05/2022 09:01,109,0.75,"a, b"',
  "",
].join("\n");

async function writeParquetStats(path: string): Promise<void> {
  await writeTable(path, {
    driver_id: [1001, 1002, 1001],
    event_timestamp: ["2022-05-13T08:00:00Z", "2022-05-13T08:00:00Z", "2022-05-13T09:00:00Z"],
    created: ["2022-05-13T08:01:00Z", "2022-05-13T08:01:00Z", "2022-05-13T09:01:00Z"],
    trips: [108, 208, 109],
    rate: [0.5, 0.25, 0.75],
    note: ["first", null, "a, b"],
  }, {
    driver_id: "int64",
    event_timestamp: "timestamp",
    created: "timestamp",
    trips: "int32",
    rate: "float64",
    note: "string",
  });
}

const PUSHED = {
  driver_id: [1001, 1002, 1077],
  event_timestamp: ["2022-05-13T09:00:00Z", "2022-05-13T10:00:00Z", "2022-05-13T10:30:00Z"],
  // 1001 ties with the file's 09:00 row and was created later: it wins.
  created: ["2022-05-13T09:30:00Z", null, null],
  trips: [1109, 1210, 7710],
  rate: [0.125, 1, 0],
  note: ["pushed", null, null],
};

const ENTITIES = [1001, 1002, 1077].map((driver_id) => ({
  driver_id,
  event_timestamp: new Date("2022-05-13T11:00:00Z"),
}));

const MODES = ["blocking", "worker"] as const;
for (
  const [format, mode] of MODES.flatMap((m) =>
    (["parquet", "csv"] as const).map((f) => [f, m] as const)
  )
) {
  Deno.test({
    name:
      `FeatureStore.push() to online_and_offline onto a single ${format} file: every reader sees the rows at once (DuckDB ${mode})`,
    // The worker mode's DuckDB worker outlives the test's ops by design.
    sanitizeOps: mode === "blocking",
    sanitizeResources: mode === "blocking",
  }, async () => {
    const file = `data/driver_stats.${format}`;
    const repo = await tempRepo({
      "features.ts": features(
        file,
        format === "csv" ? `\n  timestampFormat: "%d/%m/%Y %H:%M",` : "",
      ),
    });
    const store = await FeatureStore.open({ repo: repo.dir, offlineMode: mode });
    try {
      if (format === "csv") await repo.write(file, CSV_FILE);
      else await writeParquetStats(join(repo.dir, file));
      await store.apply();
      const before = await Deno.readFile(join(repo.dir, file));
      const trips = async () =>
        (await (await store.getHistoricalFeatures({
          entities: ENTITIES,
          features: ["driver_hourly_stats:trips", "driver_hourly_stats:rate"],
        })).toRows()).map((r) => [r.driver_id, r.trips, r.rate]);
      // Read once before, so that DuckDB has seen the file.
      assert.deepEqual(await trips(), [[1001, 109, 0.75], [1002, 208, 0.25], [1077, null, null]]);

      const pushed = await store.push("driver_stats_push", PUSHED, { to: "online_and_offline" });
      assert.deepEqual(pushed.views, [{ view: "driver_hourly_stats", written: 3, skipped: 0 }]);
      assert.equal(pushed.files.length, 1);
      const part = pushed.files[0]!;
      assert.ok(
        part.startsWith(join(repo.dir, `data/.driver_stats.${format}.pushed/push-`)) &&
          part.endsWith(`.${format}`),
        part,
      );
      assert.deepEqual(await Deno.readFile(join(repo.dir, file)), before, "never rewritten");
      if (format === "csv") {
        const lines = (await Deno.readTextFile(part)).split("\n");
        assert.equal(lines[0], "driver_id,event_timestamp,created,trips,rate,note", "the header");
        assert.equal(
          lines[1],
          "1001,2022-05-13T09:00:00.000Z,2022-05-13T09:30:00.000Z,1109,0.125,pushed",
        );
      }

      // Right after, in the same process: retrieval, window retrieval, materialization, apply.
      assert.deepEqual(await trips(), [[1001, 1109, 0.125], [1002, 1210, 1], [1077, 7710, 0]]);
      const window = await store.getHistoricalFeatures({
        features: ["driver_hourly_stats:trips"],
        start: "2022-05-13T00:00:00Z",
        end: "2022-05-13T09:59:00Z",
      });
      assert.deepEqual(
        (await window.toRows()).map((r) => [r.driver_id, r.trips]).sort(),
        [[1001, 1109], [1002, 208]],
      );
      const materialized = await store.materialize({
        start: new Date("2022-05-13T00:00:00Z"),
        end: new Date("2022-05-13T12:00:00Z"),
      });
      assert.equal(materialized.views[0]!.rows, 3);
      const online = await store.getOnlineFeatures({
        features: ["driver_hourly_stats:trips"],
        entities: { driver_id: [1001, 1002, 1077] },
      });
      assert.deepEqual(online.toRows().map((r) => r.trips), [1109, 1210, 7710]);
      const applied = await store.apply(); // validates every file, the part included
      assert.equal(applied.written, false);
    } finally {
      await store.close();
      await repo.remove();
    }
  });
}

Deno.test("FeatureStore.push() to online_and_offline whose part cannot be written leaves nothing behind and nothing online", async () => {
  const repo = await tempRepo({ "features.ts": features("data/driver_stats.parquet") });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await writeParquetStats(join(repo.dir, "data/driver_stats.parquet"));
    await store.apply();
    // Something that is not a folder where the pushed folder goes.
    const blocker = join(repo.dir, "data/.driver_stats.parquet.pushed");
    await Deno.writeTextFile(blocker, "in the way");
    await assert.rejects(
      store.push("driver_stats_push", PUSHED, { to: "online_and_offline" }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, "IO_FAILED", err.message);
        assert.match(
          err.message,
          /^Cannot write ".*\/data\/\.driver_stats\.parquet\.pushed\/push-.*\.parquet": a part of the path is a file, not a folder; nothing was changed$/,
        );
        return true;
      },
    );
    assert.equal(await Deno.readTextFile(blocker), "in the way");
    assert.deepEqual(
      [...Deno.readDirSync(join(repo.dir, "data"))].map((e) => e.name).filter((n) =>
        n.includes("driver_stats")
      ).sort(),
      [".driver_stats.parquet.pushed", "driver_stats.parquet"],
    );
    const online = await store.getOnlineFeatures({
      features: ["driver_hourly_stats:trips"],
      entities: { driver_id: [1001, 1002, 1077] },
    });
    assert.deepEqual(online.toRows().map((r) => r.trips), [null, null, null], "nothing online");
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test({
  name:
    "FeatureStore.push() to online_and_offline onto a single file on a full disk is IO_FAILED: no part, no folder, nothing online",
  ignore: noTmpfs,
}, async () => {
  const fs = await mountTmpfs(256);
  const repo = await tempRepo({ "features.ts": features(`${fs.dir}/driver_stats.parquet`) });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await writeParquetStats(join(fs.dir, "driver_stats.parquet"));
    const before = await Deno.readFile(join(fs.dir, "driver_stats.parquet"));
    await store.apply();
    await fs.fill();
    const rows = 4000;
    await assert.rejects(
      store.push("driver_stats_push", {
        driver_id: Array.from({ length: rows }, (_, i) => i),
        event_timestamp: Array.from({ length: rows }, () => "2022-05-13T12:00:00Z"),
        created: Array.from({ length: rows }, () => null),
        trips: Array.from({ length: rows }, (_, i) => i),
        rate: Array.from({ length: rows }, (_, i) => i / 7),
        note: Array.from({ length: rows }, (_, i) => `note ${i} `.repeat(8)),
      }, { to: "online_and_offline" }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, "IO_FAILED", err.message);
        assert.match(
          err.message,
          /^Cannot write ".*\/\.driver_stats\.parquet\.pushed\/push-.*\.parquet": no space left on device; nothing was changed$/,
        );
        return true;
      },
    );
    assert.deepEqual(
      [...Deno.readDirSync(fs.dir)].map((e) => e.name).sort(),
      [".filler", "driver_stats.parquet"],
    );
    assert.deepEqual(await Deno.readFile(join(fs.dir, "driver_stats.parquet")), before);
    const online = await store.getOnlineFeatures({
      features: ["driver_hourly_stats:trips"],
      entities: { driver_id: [0, 1, 3999] },
    });
    assert.deepEqual(online.toRows().map((r) => r.trips), [null, null, null], "nothing online");
  } finally {
    await store.close();
    await repo.remove();
    await fs.remove();
  }
});

Deno.test("FeatureStore.push() whose online write fails after the offline one names the file holding the rows", async () => {
  // An online store nobody answers: nothing listens on the port.
  const repo = await tempRepo({
    "larder.yaml": `project: test_project
online_store:
  type: redis
  url: http://127.0.0.1:${freePort()}
  token: unused
`,
    "features.ts": features("data/driver_stats.parquet"),
  });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await writeParquetStats(join(repo.dir, "data/driver_stats.parquet"));
    await store.apply();
    let files: string[] = [];
    await assert.rejects(
      store.push("driver_stats_push", PUSHED, { to: "online_and_offline" }),
      (err: Error & { code?: string; details?: Record<string, unknown> }) => {
        assert.equal(err.code, "UNAVAILABLE", err.message);
        assert.match(
          err.message,
          /^Cannot write to the online store .*; the rows were written offline before that, to ".*\/data\/\.driver_stats\.parquet\.pushed\/push-.*\.parquet": push them again with to "online" only$/,
        );
        files = err.details?.offlineFiles as string[];
        return true;
      },
    );
    assert.equal(files.length, 1);
    assert.ok((await Deno.stat(files[0]!)).isFile);
    const job = await store.getHistoricalFeatures({
      entities: ENTITIES,
      features: ["driver_hourly_stats:trips"],
    });
    assert.deepEqual((await job.toRows()).map((r) => r.trips), [1109, 1210, 7710]);
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("FeatureStore.push() refuses a row without a join key for every destination, writing nothing anywhere", async () => {
  const repo = await tempRepo({
    "features.ts": `
import { entity, featureView, fileSource, pushSource } from "larder";
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: "string" });
export const source = fileSource({ name: "trips_source", path: "data/trips", timestampField: "event_timestamp" });
export const push = pushSource({ name: "trips_push", batchSource: source });
export const byDriver = featureView({ name: "by_driver", entities: [driver], schema: { trips: "int64" }, source: push });
export const byCustomer = featureView({ name: "by_customer", entities: [customer], schema: { trips: "int64" }, source: push });
`,
  });
  await writeTable(join(repo.dir, "data", "trips", "part-0.parquet"), {
    driver_id: [1],
    customer_id: ["a"],
    event_timestamp: ["2022-05-13T08:00:00Z"],
    trips: [1],
  }, { driver_id: "int64", customer_id: "string", event_timestamp: "timestamp", trips: "int64" });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply();
    const rows = {
      driver_id: [1001, 1002],
      customer_id: ["c1", null],
      event_timestamp: ["2022-05-13T09:00:00Z", "2022-05-13T09:00:00Z"],
      trips: [5, 6],
    };
    for (const to of ["online", "offline", "online_and_offline"] as const) {
      await assert.rejects(store.push("trips_push", rows, { to }), (err: Error) => {
        assert.equal((err as { code?: string }).code, "INPUT_INVALID", `${to}: ${err.message}`);
        assert.match(err.message, /row 1 has no value for join key "customer_id"/, to);
        return true;
      });
    }
    // Nothing was written: no new file, and the row with a good key is not online either.
    const files = await Array.fromAsync(Deno.readDir(join(repo.dir, "data", "trips")));
    assert.deepEqual(files.map((f) => f.name), ["part-0.parquet"]);
    const read = await store.getOnlineFeatures({
      features: ["by_driver:trips"],
      entities: { driver_id: [1001] },
    });
    assert.deepEqual(read.toRows().map((r) => r.trips), [null]);
  } finally {
    await store.close();
    await repo.remove();
  }
});
