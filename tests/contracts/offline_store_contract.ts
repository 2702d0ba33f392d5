/**
 * The contract every {@linkcode OfflineStore} passes, on real files in a temporary folder (or,
 * for a store that reads a database, the same rows loaded there through `sources`).
 * Run it with `offlineStoreContract("name", () => new MyStore())` from a `_test.ts` file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { OfflineStore, ViewRequest } from "../../engine/offline/mod.ts";
import { readParquetFile } from "../../engine/offline/mod.ts";
import type {
  BatchSourceSpec,
  EntitySpec,
  FeatureViewSpec,
  FileSourceSpec,
} from "../../registry/mod.ts";
import { tableFromRows } from "../../engine/offline/_values.ts";
import {
  entity,
  featureView,
  fileSource,
  t,
  tempDir,
  writeRowsParquet,
  writeText,
} from "../offline/_fixtures.ts";

/**
 * How a store's sources are made from the contract's fixtures. The default reads the files
 * themselves; a store over a database loads each fixture's rows into it instead.
 */
export interface SourceFixtures {
  /** The source the store reads for file source `spec`, whose files hold `rows`. */
  source(spec: FileSourceSpec, rows: readonly Record<string, unknown>[]): Promise<BatchSourceSpec>;
  /** A source (named `name`) whose data does not exist. */
  missing(name: string): BatchSourceSpec;
  /** Whether the store reads CSV files (text columns whose values are checked when read). */
  readonly textFiles: boolean;
}

/** The fixtures of a store that reads files: the file sources as they are. */
export const FILE_FIXTURES: SourceFixtures = {
  source: (spec) => Promise.resolve(spec),
  missing: (name) => fileSource(name, "nope/*.parquet"),
  textFiles: true,
};

/** Options for {@linkcode offlineStoreContract}. */
export interface OfflineStoreContractOptions {
  /**
   * Turn Deno's op and resource sanitizers off, for a store that keeps a worker alive between
   * tests (the worker's message port stays open by design until `close()`).
   * @default {true}
   */
  readonly sanitize?: boolean;
  /** How sources are made from the fixture files. @default {FILE_FIXTURES} */
  readonly sources?: SourceFixtures;
}

/** Registers the contract's tests for one implementation; the store is shared by the tests. */
export function offlineStoreContract(
  name: string,
  newStore: () => OfflineStore,
  options: OfflineStoreContractOptions = {},
): void {
  const sanitize = options.sanitize ?? true;
  const fixtures = options.sources ?? FILE_FIXTURES;
  let store: OfflineStore | undefined;
  let dir = "";
  const driver: EntitySpec = entity("driver", ["driver_id"]);
  let source: BatchSourceSpec;
  let view: FeatureViewSpec;
  let request: ViewRequest;

  const test = (title: string, fn: () => Promise<void>, ignore = false) =>
    Deno.test({
      name: `${name}: ${title}`,
      ignore,
      sanitizeOps: sanitize,
      sanitizeResources: sanitize,
      fn,
    });

  test("setup: open the store and write the fixture files", async () => {
    store = newStore();
    dir = await tempDir();
    const a = [
      {
        driver_id: 1,
        event_timestamp: t("2024-01-01T00:00:00"),
        created: t("2024-01-01T00:00:00"),
        conv_rate: 0.1,
      },
      {
        driver_id: 1,
        event_timestamp: t("2024-01-01T01:00:00"),
        created: t("2024-01-01T01:00:00"),
        conv_rate: 0.2,
      },
    ];
    const b = [
      {
        driver_id: 1,
        event_timestamp: t("2024-01-01T01:00:00"),
        created: t("2024-01-01T01:30:00"),
        conv_rate: 0.3,
      },
      { driver_id: 2, event_timestamp: t("2024-01-01T00:00:00"), created: null, conv_rate: 0.9 },
    ];
    await writeRowsParquet(dir, "stats/a.parquet", a);
    await writeRowsParquet(dir, "stats/b.parquet", b);
    await writeText(
      dir,
      "stats.csv",
      "driver_id,event_timestamp,conv_rate\n1,2024-01-01 00:00:00,0.5\n",
    );
    source = await fixtures.source(
      fileSource("stats_source", "stats/*.parquet", { createdTimestampColumn: "created" }),
      [...a, ...b],
    );
    view = featureView("driver_stats", {
      entities: ["driver"],
      source: source.name,
      ttlSeconds: 7200,
      features: [{ name: "conv_rate", type: "float32" }],
    });
    request = { view, source, entities: [driver], features: ["conv_rate"] };
  });

  test("describeSource() lists typed columns with Larder types and CSV columns as text", async () => {
    const parquet = await store!.describeSource(source, dir);
    assert.deepEqual(parquet.map((c) => [c.name, c.valueType]), [
      ["driver_id", "int64"],
      ["event_timestamp", "timestamp"],
      ["created", "timestamp"],
      ["conv_rate", "float64"],
    ]);
    if (!fixtures.textFiles) return;
    // CSV holds text: its header's columns, each read as the type a view declares.
    const csv = await store!.describeSource(fileSource("csv_source", "stats.csv"), dir);
    assert.deepEqual(csv.map((c) => [c.name, c.valueType, c.textual]), [
      ["driver_id", undefined, true],
      ["event_timestamp", undefined, true],
      ["conv_rate", undefined, true],
    ]);
  });

  test("describeSource() throws SOURCE_INVALID for missing files", async () => {
    await assert.rejects(
      store!.describeSource(fixtures.missing("missing_source"), dir),
      (err: Error & { code?: string }) =>
        err.code === "SOURCE_INVALID" && err.message.includes('"missing_source"'),
    );
  });

  test("getHistoricalFeatures() joins point in time, in entity order", async () => {
    const job = await store!.getHistoricalFeatures({
      repoDir: dir,
      entityTable: [
        { driver_id: 1, event_timestamp: t("2024-01-01T02:00:00"), label: "a" },
        { driver_id: 2, event_timestamp: t("2024-01-01T03:00:00"), label: "b" },
        { driver_id: 3, event_timestamp: t("2024-01-01T02:00:00"), label: "c" },
        { driver_id: 1, event_timestamp: t("2024-01-01T00:30:00"), label: "d" },
      ],
      views: [request],
    });
    assert.deepEqual(job.columns, ["driver_id", "event_timestamp", "label", "conv_rate"]);
    const rows = await job.toRows();
    // 1 @02:00 → tie at 01:00 broken by created (0.3); 2 @03:00 → 3 h old, past the 2 h ttl;
    // 3 → unknown key; 1 @00:30 → 0.1.
    assert.deepEqual(rows.map((r) => [r.label, r.conv_rate]), [
      ["a", 0.3],
      ["b", null],
      ["c", null],
      ["d", 0.1],
    ]);
  });

  test("getHistoricalFeatures() reads a { sql } entity input over a registered table", async () => {
    await store!.registerTable(
      "contract_entities",
      tableFromRows([{ driver_id: 2, event_timestamp: t("2024-01-01T01:00:00") }]),
    );
    const job = await store!.getHistoricalFeatures({
      repoDir: dir,
      entityTable: { sql: "SELECT * FROM contract_entities" },
      views: [request],
    });
    assert.deepEqual((await job.toRows()).map((r) => r.conv_rate), [0.9]);
  });

  test("getHistoricalFeatures() with start/end returns the latest value per key", async () => {
    const job = await store!.getHistoricalFeatures({
      repoDir: dir,
      start: t("2024-01-01T00:00:00"),
      end: t("2024-01-01T00:59:59"),
      views: [request],
    });
    assert.deepEqual((await job.toRows()).map((r) => [r.driver_id, r.conv_rate]), [[1, 0.1], [
      2,
      0.9,
    ]]);
  });

  test("RetrievalJob.write() writes a Parquet file", async () => {
    const job = await store!.getHistoricalFeatures({
      repoDir: dir,
      entityTable: [{ driver_id: 1, event_timestamp: t("2024-01-01T02:00:00") }],
      views: [request],
    });
    const path = join(dir, "out", "train.parquet");
    assert.deepEqual(await job.write(path), { rows: 1 });
    const table = await readParquetFile(path);
    assert.deepEqual(table.schema.fields.map((f) => f.name), [
      "driver_id",
      "event_timestamp",
      "conv_rate",
    ]);
  });

  test("pullLatest() counts and streams the newest row per key", async () => {
    const latest = await store!.pullLatest({
      repoDir: dir,
      view,
      source,
      entities: [driver],
      start: t("2024-01-01T00:00:00"),
      end: t("2024-01-01T23:00:00"),
      batchRows: 1,
    });
    assert.equal(latest.count, 2);
    const seen = new Map<number, number>();
    for await (const batch of latest) {
      for (const row of batch.toArray()) {
        const r = row.toJSON();
        seen.set(Number(r.driver_id), Math.round(Number(r.conv_rate) * 10) / 10);
      }
    }
    assert.deepEqual([...seen.entries()].sort(), [[1, 0.3], [2, 0.9]]);
  });

  test(
    "CSV sources: checkSource() and retrieval parse values as declared, rewritten files as they are now",
    async () => {
      const csv = fileSource("csv_checked", "checked.csv");
      const csvView = featureView("csv_checked", {
        entities: ["driver"],
        source: csv.name,
        features: [{ name: "conv_rate", type: "float32" }],
      });
      const write = (value: string) =>
        writeText(
          dir,
          "checked.csv",
          `driver_id,event_timestamp,conv_rate\n1,2024-01-01,${value}\n`,
        );
      const path = await write("high");
      const check = () =>
        store!.checkSource({ repoDir: dir, view: csvView, source: csv, entities: [driver] });
      assert.deepEqual(await check(), [
        `Data source "csv_checked": file "${path}", line 2: column "conv_rate": "high" is not a valid float32`,
      ]);
      await write("0.5");
      assert.deepEqual(await check(), []);
      const job = await store!.getHistoricalFeatures({
        repoDir: dir,
        entityTable: [{ driver_id: 1, event_timestamp: t("2024-01-02") }],
        views: [{ view: csvView, source: csv, entities: [driver], features: ["conv_rate"] }],
      });
      assert.deepEqual((await job.toRows()).map((r) => r.conv_rate), [0.5]);
    },
    !fixtures.textFiles,
  );

  test("teardown: close() releases the store and can be called twice", async () => {
    await store!.close();
    await store!.close();
    await Deno.remove(dir, { recursive: true });
  });
}
