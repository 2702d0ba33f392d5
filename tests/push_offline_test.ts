import assert from "node:assert/strict";
import { join } from "node:path";
import { pushOffline } from "../engine/mod.ts";
import {
  documentWith,
  entity,
  featureView,
  fileSource,
  pushSource,
  t,
} from "./online/_fixtures.ts";

function mappedPushDocument() {
  const driver = entity("driver", ["driver_id"]);
  // The batch source's event time is the file column "raw_ts", read as "ts".
  const batch = fileSource("batch", "data/pushed", {
    timestampField: "ts",
    fieldMapping: { raw_ts: "ts" },
  });
  const push = pushSource("push", batch.name);
  const view = featureView("pushed", {
    entities: ["driver"],
    source: push.name,
    features: [{ name: "trips", type: "int64" }],
  });
  return documentWith({ entities: [driver], sources: [batch, push], views: [view] });
}

async function files(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(join(dir, "data", "pushed")))).map((e) => e.name);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
}

Deno.test("pushOffline() refuses rows without an event time when fieldMapping renames it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "larder_push_" });
  const doc = mappedPushDocument();
  try {
    for (const name of ["ts", "raw_ts"]) {
      await assert.rejects(
        () =>
          pushOffline(dir, doc, {
            pushSource: "push",
            columns: { driver_id: [1, 2], [name]: [t("2024-01-01"), null], trips: [1, 2] },
          }),
        { code: "INPUT_INVALID", message: /column "raw_ts", row 1: has no event timestamp/ },
      );
    }
    assert.deepEqual(await files(dir), [], "nothing written");
    const ok = await pushOffline(dir, doc, {
      pushSource: "push",
      columns: { driver_id: [1], ts: [t("2024-01-01")], trips: [1] },
    });
    assert.equal(ok.files.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pushOffline() names a value it cannot convert, bigints included", async () => {
  const dir = await Deno.makeTempDir({ prefix: "larder_push_" });
  try {
    await assert.rejects(
      () =>
        pushOffline(dir, mappedPushDocument(), {
          pushSource: "push",
          columns: { driver_id: [1], ts: [t("2024-01-01")], trips: [2n ** 70n] },
        }),
      { code: "INPUT_INVALID", message: /column "trips", row 0: .*1180591620717411303424.* int64/ },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pushOffline() to a CSV batch source writes files the CSV reader reads back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "larder_push_" });
  const driver = entity("driver", ["driver_id"]);
  const batch = fileSource("batch", "data/pushed/*.csv", { timestampField: "ts" });
  const push = pushSource("push", batch.name);
  const view = featureView("pushed", {
    entities: ["driver"],
    source: push.name,
    features: [
      { name: "payload", type: "bytes" },
      { name: "rate", type: "float64" },
      { name: "tags", type: "string[]" },
    ],
  });
  const doc = documentWith({ entities: [driver], sources: [batch, push], views: [view] });
  const { DuckDBOfflineStore } = await import("../engine/offline/mod.ts");
  const offline = new DuckDBOfflineStore({ memoryLimit: "256MB" });
  try {
    await pushOffline(dir, doc, {
      pushSource: "push",
      columns: {
        driver_id: [1],
        ts: [t("2024-01-01T00:00:00.000")],
        payload: [new Uint8Array([0, 1, 254, 255])],
        rate: [0.5],
        tags: [["a", "b,c"]],
      },
    });
    assert.deepEqual(
      await offline.checkSource({ repoDir: dir, view, source: batch, entities: [driver] }),
      [],
    );
    const job = await offline.getHistoricalFeatures({
      repoDir: dir,
      entityTable: [{ driver_id: 1, event_timestamp: t("2024-01-02") }],
      views: [{ view, source: batch, entities: [driver], features: ["payload", "rate", "tags"] }],
    });
    const [row] = await job.toRows();
    assert.deepEqual(row!.payload, new Uint8Array([0, 1, 254, 255]));
    assert.equal(row!.rate, 0.5);
    assert.deepEqual(row!.tags, ["a", "b,c"]);
  } finally {
    await offline.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pushOffline() requires the columns of every view over the batch source, not only the pushed views", async () => {
  const dir = await Deno.makeTempDir({ prefix: "larder_push_" });
  const driver = entity("driver", ["driver_id"]);
  const batch = fileSource("batch", "data/pushed", { timestampField: "ts" });
  const push = pushSource("push", batch.name);
  const fed = featureView("fed", {
    entities: ["driver"],
    source: push.name,
    features: [{ name: "trips", type: "int64" }],
  });
  // Reads the same files, not through the push source: a new file without "rating" would
  // break its reads.
  const direct = featureView("direct", {
    entities: ["driver"],
    source: batch.name,
    features: [{ name: "rating", type: "float64" }],
  });
  const doc = documentWith({ entities: [driver], sources: [batch, push], views: [fed, direct] });
  try {
    await assert.rejects(
      () =>
        pushOffline(dir, doc, {
          pushSource: "push",
          columns: { driver_id: [1], ts: [t("2024-01-01")], trips: [1] },
        }),
      {
        code: "INPUT_INVALID",
        message:
          'Cannot push to offline: missing column "rating" for batch source "batch": feature view "direct" reads it',
      },
    );
    assert.deepEqual(await files(dir), [], "nothing written");
    const ok = await pushOffline(dir, doc, {
      pushSource: "push",
      columns: { driver_id: [1], ts: [t("2024-01-01")], trips: [1], rating: [null] },
    });
    assert.equal(ok.files.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pushOffline() refuses columns of different lengths before writing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "larder_push_" });
  try {
    await assert.rejects(
      () =>
        pushOffline(dir, mappedPushDocument(), {
          pushSource: "push",
          columns: { driver_id: [1, 2], ts: [t("2024-01-01")], trips: [1, 2] },
        }),
      {
        code: "INPUT_INVALID",
        message:
          "Cannot push to offline: columns must be arrays of one length (driver_id: 2, ts: 1, trips: 2)",
      },
    );
    assert.deepEqual(await files(dir), [], "nothing written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A push source over a `.csv` or `.parquet` folder source, with a view reading every type. */
function everyTypeDocument(format: "csv" | "parquet") {
  const driver = entity("driver", ["driver_id"]);
  const batch = fileSource("batch", `data/pushed/*.${format}`, { timestampField: "ts" });
  const push = pushSource("push", batch.name);
  const view = featureView("pushed", {
    entities: ["driver"],
    source: push.name,
    features: [
      { name: "note", type: "string" },
      { name: "tags", type: "string[]" },
      { name: "times", type: "timestamp[]" },
      { name: "rates", type: "float64[]" },
    ],
  });
  const doc = documentWith({ entities: [driver], sources: [batch, push], views: [view] });
  return { driver, batch, view, doc };
}

Deno.test("pushOffline() to CSV and to Parquet: empty strings, list items and timestamp lists read back the same", async () => {
  const { DuckDBOfflineStore } = await import("../engine/offline/mod.ts");
  const offline = new DuckDBOfflineStore({ memoryLimit: "256MB" });
  const read: Record<string, unknown>[][] = [];
  try {
    for (const format of ["csv", "parquet"] as const) {
      const dir = await Deno.makeTempDir({ prefix: "larder_push_" });
      const { driver, batch, view, doc } = everyTypeDocument(format);
      try {
        await pushOffline(dir, doc, {
          pushSource: "push",
          columns: {
            driver_id: [1, 2],
            ts: [t("2024-01-01"), t("2024-01-01")],
            // Before, CSV wrote "" unquoted (read as NULL) and timestamp lists as epoch ms.
            note: ["", null],
            tags: [["", "a,b", 'q"uote', "back\\slash", "two\nlines"], [null]],
            times: [[1704067200000, "2024-01-01T00:00:00.000001Z"], []],
            rates: [[1.5, NaN, -Infinity], null],
          },
        });
        assert.deepEqual(
          await offline.checkSource({ repoDir: dir, view, source: batch, entities: [driver] }),
          [],
        );
        const job = await offline.getHistoricalFeatures({
          repoDir: dir,
          entityTable: [1, 2].map((driver_id) => ({ driver_id, event_timestamp: t("2024-01-02") })),
          views: [{
            view,
            source: batch,
            entities: [driver],
            features: ["note", "tags", "times", "rates"],
          }],
        });
        read.push(await job.toRows());
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }
  } finally {
    await offline.close();
  }
  const [csv, parquet] = read;
  assert.deepEqual(csv!.map((r) => [r.note, r.tags, r.rates]), [
    ["", ["", "a,b", 'q"uote', "back\\slash", "two\nlines"], [1.5, NaN, -Infinity]],
    [null, [null], null],
  ]);
  assert.deepEqual(
    csv!.map((r) => (r.times as Date[]).map((d) => d.toISOString())),
    [["2024-01-01T00:00:00.000Z", "2024-01-01T00:00:00.000Z"], []],
  );
  assert.deepEqual(csv, parquet);
});

Deno.test("pushOffline() refuses a timestamp beyond the range of dates, to CSV and to Parquet", async () => {
  for (const format of ["csv", "parquet"] as const) {
    const dir = await Deno.makeTempDir({ prefix: "larder_push_" });
    try {
      await assert.rejects(
        () =>
          pushOffline(dir, everyTypeDocument(format).doc, {
            pushSource: "push",
            columns: {
              driver_id: [1],
              ts: [1e20],
              note: ["x"],
              tags: [[]],
              times: [[]],
              rates: [[]],
            },
          }),
        {
          code: "INPUT_INVALID",
          message:
            'Cannot push to offline: column "ts", row 0: 100000000000000000000 is not a timestamp: it is beyond the range of dates: epoch milliseconds must be within ±8.64e15 (years -271821 to 275760)',
        },
      );
      await assert.rejects(
        () =>
          pushOffline(dir, everyTypeDocument(format).doc, {
            pushSource: "push",
            columns: {
              driver_id: [1],
              ts: [t("2024-01-01")],
              note: ["x"],
              tags: [[]],
              times: [[-1e16]],
              rates: [[]],
            },
          }),
        { code: "INPUT_INVALID", message: /column "times", row 0: .* is not a timestamp\[\]/ },
      );
      assert.deepEqual(await files(dir), [], "nothing written");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("pushOffline() refuses a row whose join key has no value, writing nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "larder_push_" });
  try {
    await assert.rejects(
      () =>
        pushOffline(dir, mappedPushDocument(), {
          pushSource: "push",
          columns: { driver_id: [1, null], ts: [t("2024-01-01"), t("2024-01-01")], trips: [1, 2] },
        }),
      {
        code: "INPUT_INVALID",
        message:
          'Cannot push to offline: column "driver_id", row 1: has no value, and it is a join key of feature view "pushed": every row needs one',
      },
    );
    assert.deepEqual(await files(dir), [], "nothing written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
