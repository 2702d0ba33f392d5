import assert from "node:assert/strict";
import {
  DenoKvOnlineStore,
  getOnlineFeatures,
  type OnlineStore,
  writeOnline,
} from "../../engine/online/mod.ts";
import { LarderError, type RegistryDocument } from "../../registry/mod.ts";
import {
  documentWith,
  entity,
  featureService,
  featureView,
  fileSource,
  pushSource,
  t,
} from "./_fixtures.ts";

const NOW = t("2024-01-01T12:00:00");

function document(): RegistryDocument {
  return documentWith({
    entities: [entity("driver", ["driver_id"]), entity("customer", ["customer_id"], "string")],
    sources: [
      fileSource("driver_src", "data/drivers.parquet", { createdTimestampColumn: "created" }),
      fileSource("customer_src", "data/customers.parquet", {
        timestampField: "ts",
        fieldMapping: { years: "age" },
      }),
      pushSource("pair_push", "customer_src"),
    ],
    views: [
      featureView("driver_stats", {
        entities: ["driver"],
        ttlSeconds: 7200,
        source: "driver_src",
        features: [
          { name: "conv_rate", type: "float32" },
          { name: "acc_rate", type: "float32" },
          { name: "trips", type: "int64" },
          { name: "label", type: "string" },
          { name: "blob", type: "bytes" },
          { name: "seen", type: "timestamp" },
          { name: "rates", type: "float64[]" },
        ],
      }),
      featureView("customer_profile", {
        entities: ["customer"],
        source: "customer_src",
        features: [{ name: "age", type: "int32" }, { name: "conv_rate", type: "float64" }],
      }),
      featureView("driver_customer", {
        entities: ["driver", "customer"],
        source: "pair_push",
        features: [{ name: "score", type: "float64" }],
      }),
      featureView("global_stats", {
        entities: [],
        source: "driver_src",
        features: [{ name: "total", type: "int64" }],
      }),
      featureView("offline_only", {
        entities: ["driver"],
        source: "driver_src",
        online: false,
        features: [{ name: "x", type: "int64" }],
      }),
    ],
    services: [
      featureService("ranking", [{ view: "driver_stats", features: ["acc_rate", "conv_rate"] }]),
    ],
  });
}

async function withStore(
  fn: (deps: { registry: RegistryDocument; online: OnlineStore; now: () => Date }) => Promise<void>,
) {
  const online = await DenoKvOnlineStore.open({ project: "test_project", path: ":memory:" });
  const deps = { registry: document(), online, now: () => NOW };
  try {
    await writeOnline(deps, "driver_stats", {
      driver_id: [1001, 1002],
      event_timestamp: [t("2024-01-01T11:00:00"), t("2024-01-01T09:00:00")],
      created: [null, null],
      conv_rate: [0.5, 0.25],
      acc_rate: [null, 0.75],
      trips: [12, 9007199254740993n],
      label: ["fast", "slow"],
      blob: [new Uint8Array([1, 2, 255]), null],
      seen: [t("2023-12-31T23:00:00"), null],
      rates: [[1.5, null], []],
    });
    await writeOnline(deps, "customer_profile", [
      { customer_id: "c1", ts: t("2024-01-01T00:00:00"), years: 42, conv_rate: 0.9 },
    ]);
    await writeOnline(deps, "driver_customer", {
      driver_id: ["1001"],
      customer_id: ["c1"],
      ts: ["2024-01-01T10:00:00Z"],
      score: [7.5],
    });
    await writeOnline(deps, "global_stats", {
      event_timestamp: [t("2024-01-01T11:59:00")],
      total: [3],
    });
    await fn(deps);
  } finally {
    await online.close();
  }
}

Deno.test("getOnlineFeatures() reports PRESENT, NULL_VALUE, NOT_FOUND and OUTSIDE_MAX_AGE", async () => {
  await withStore(async (deps) => {
    const res = await getOnlineFeatures(deps, {
      features: ["driver_stats:conv_rate", "driver_stats:acc_rate"],
      entities: { driver_id: [1001, 1002, 1003] },
    });
    assert.deepEqual(res.toRows(), [
      { driver_id: 1001, conv_rate: 0.5, acc_rate: null },
      { driver_id: 1002, conv_rate: 0.25, acc_rate: 0.75 },
      { driver_id: 1003, conv_rate: null, acc_rate: null },
    ]);
    assert.deepEqual(res.toJSON(), {
      metadata: { feature_names: ["driver_id", "conv_rate", "acc_rate"] },
      results: [
        {
          values: [1001, 1002, 1003],
          statuses: ["PRESENT", "PRESENT", "PRESENT"],
          event_timestamps: [
            "1970-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
          ],
        },
        {
          values: [0.5, 0.25, null],
          statuses: ["PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND"],
          event_timestamps: [
            "2024-01-01T11:00:00Z",
            "2024-01-01T09:00:00Z",
            "1970-01-01T00:00:00Z",
          ],
        },
        {
          values: [null, 0.75, null],
          statuses: ["NULL_VALUE", "OUTSIDE_MAX_AGE", "NOT_FOUND"],
          event_timestamps: [
            "2024-01-01T11:00:00Z",
            "2024-01-01T09:00:00Z",
            "1970-01-01T00:00:00Z",
          ],
        },
      ],
    });
    // JSON.stringify uses toJSON().
    assert.equal(JSON.parse(JSON.stringify(res)).metadata.feature_names.length, 3);
  });
});

Deno.test("getOnlineFeatures() returns every value type; JSON has base64 bytes and RFC 3339 times", async () => {
  await withStore(async (deps) => {
    const res = await getOnlineFeatures(deps, {
      features: [
        "driver_stats:trips",
        "driver_stats:label",
        "driver_stats:blob",
        "driver_stats:seen",
        "driver_stats:rates",
      ],
      entities: [{ driver_id: 1001 }, { driver_id: 1002 }],
      fullFeatureNames: true,
    });
    assert.deepEqual(res.toRows(), [
      {
        driver_id: 1001,
        driver_stats__trips: 12,
        driver_stats__label: "fast",
        driver_stats__blob: new Uint8Array([1, 2, 255]),
        driver_stats__seen: t("2023-12-31T23:00:00"),
        driver_stats__rates: [1.5, null],
      },
      {
        driver_id: 1002,
        driver_stats__trips: 9007199254740993n,
        driver_stats__label: "slow",
        driver_stats__blob: null,
        driver_stats__seen: null,
        driver_stats__rates: [],
      },
    ]);
    const json = res.toJSON();
    assert.deepEqual(json.results.map((r) => r.values[0]), [
      1001,
      12,
      "fast",
      "AQL/",
      "2023-12-31T23:00:00Z",
      [1.5, null],
    ]);
    assert.deepEqual(json.results[1]!.values, [12, "9007199254740993"]);
    assert.deepEqual(json.results[3]!.statuses, ["PRESENT", "NULL_VALUE"]);
  });
});

Deno.test("getOnlineFeatures() reads a feature service's projection, compound keys and entityless views", async () => {
  await withStore(async (deps) => {
    const svc = await getOnlineFeatures(deps, {
      featureService: "ranking",
      entities: { driver_id: ["1001"] },
    });
    assert.deepEqual(svc.toRows(), [{ driver_id: 1001, acc_rate: null, conv_rate: 0.5 }]);

    const mixed = await getOnlineFeatures(deps, {
      features: ["driver_customer:score", "customer_profile:age", "global_stats:total"],
      entities: { customer_id: ["c1", "c2"], driver_id: [1001, 1001], request_value: [1, 2] },
    });
    assert.deepEqual(mixed.featureNames, ["customer_id", "driver_id", "score", "age", "total"]);
    assert.deepEqual(mixed.toRows(), [
      { customer_id: "c1", driver_id: 1001, score: 7.5, age: 42, total: 3 },
      { customer_id: "c2", driver_id: 1001, score: null, age: null, total: 3 },
    ]);
    // ttl 0: never OUTSIDE_MAX_AGE.
    assert.deepEqual(mixed.toJSON().results[3]!.statuses, ["PRESENT", "NOT_FOUND"]);

    const only = await getOnlineFeatures(deps, { features: ["global_stats:total"], entities: {} });
    assert.deepEqual(only.toRows(), [{ total: 3 }]);
    const none = await getOnlineFeatures(deps, {
      features: ["driver_stats:trips"],
      entities: { driver_id: [] },
    });
    assert.deepEqual(none.toRows(), []);
  });
});

Deno.test("getOnlineFeatures() keeps duplicated entity rows and their order", async () => {
  await withStore(async (deps) => {
    const res = await getOnlineFeatures(deps, {
      features: ["driver_stats:label"],
      entities: { driver_id: [1002, 1001, 1002, "1001"] },
    });
    assert.deepEqual(res.toRows().map((r) => r.label), ["slow", "fast", "slow", "fast"]);
  });
});

async function rejects(promise: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof LarderError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

Deno.test("getOnlineFeatures() names what exists when a view, feature or service is unknown", async () => {
  await withStore(async (deps) => {
    const entities = { driver_id: [1001] };
    await rejects(
      getOnlineFeatures(deps, { features: ["nope:conv_rate"], entities }),
      "NOT_FOUND",
      /^Cannot find feature view "nope": the registry has "customer_profile", "driver_customer", "driver_stats", "global_stats", "offline_only"$/,
    );
    await rejects(
      getOnlineFeatures(deps, { features: ["driver_stats:nope"], entities }),
      "NOT_FOUND",
      /^Cannot find feature "nope" in feature view "driver_stats": it has "acc_rate", "blob", /,
    );
    await rejects(
      getOnlineFeatures(deps, { featureService: "nope", entities }),
      "NOT_FOUND",
      /^Cannot find feature service "nope": the registry has "ranking"$/,
    );
    await rejects(
      getOnlineFeatures(deps, { features: ["conv_rate"], entities }),
      "INPUT_INVALID",
      /expected "view:feature"/,
    );
    await rejects(
      getOnlineFeatures(deps, { features: ["offline_only:x"], entities }),
      "INPUT_INVALID",
      /not served online/,
    );
  });
});

Deno.test("getOnlineFeatures() rejects missing join keys, bad key values and name collisions", async () => {
  await withStore(async (deps) => {
    await rejects(
      getOnlineFeatures(deps, {
        features: ["driver_customer:score"],
        entities: { driver_id: [1001] },
      }),
      "INPUT_INVALID",
      /^Entity column "customer_id" is missing: feature view "driver_customer" needs join keys "customer_id", "driver_id"; the request has "driver_id"$/,
    );
    await rejects(
      getOnlineFeatures(deps, {
        features: ["driver_stats:trips"],
        entities: { driver_id: [1001, "x1"] },
      }),
      "INPUT_INVALID",
      /^Invalid value for join key "driver_id": "x1" is not an int64/,
    );
    await rejects(
      getOnlineFeatures(deps, {
        features: ["driver_stats:conv_rate", "customer_profile:conv_rate"],
        entities: { driver_id: [1001], customer_id: ["c1"] },
      }),
      "INPUT_INVALID",
      /^Feature "conv_rate" is in both feature views "driver_stats" and "customer_profile"/,
    );
    await rejects(
      getOnlineFeatures(deps, {
        features: ["driver_stats:trips"],
        entities: { driver_id: [1001], other: [1, 2] },
      }),
      "INPUT_INVALID",
      /different lengths \(driver_id: 1, other: 2\)/,
    );
    const full = await getOnlineFeatures(deps, {
      features: ["driver_stats:conv_rate", "customer_profile:conv_rate"],
      entities: { driver_id: [1001], customer_id: ["c1"] },
      fullFeatureNames: true,
    });
    assert.deepEqual(full.toRows(), [
      {
        driver_id: 1001,
        customer_id: "c1",
        driver_stats__conv_rate: 0.5,
        customer_profile__conv_rate: 0.9,
      },
    ]);
  });
});

Deno.test("writeOnline() validates columns and values against the view", async () => {
  await withStore(async (deps) => {
    await rejects(
      writeOnline(deps, "driver_stats", { driver_id: [1], conv_rate: [0.1] }),
      "INPUT_INVALID",
      /^Cannot write to feature view "driver_stats": missing columns "acc_rate", "trips", "label", "blob", "seen", "rates", "event_timestamp"; the data has "driver_id", "conv_rate"$/,
    );
    await rejects(
      writeOnline(deps, "customer_profile", {
        customer_id: ["c9"],
        ts: [NOW],
        age: ["old"],
        conv_rate: [1],
      }),
      "INPUT_INVALID",
      /column "age", row 0: "old" is not an int32/,
    );
    await rejects(
      writeOnline(deps, "customer_profile", {
        customer_id: ["c9"],
        ts: [null],
        age: [1],
        conv_rate: [1],
      }),
      "INPUT_INVALID",
      /row 0: has no event timestamp \(column "ts"\)/,
    );
    await rejects(writeOnline(deps, "nope", {}), "NOT_FOUND", /Cannot find feature view "nope"/);
    await rejects(
      writeOnline(deps, "customer_profile", [null as never]),
      "INPUT_INVALID",
      /^Row 0 is null: rows must be objects/,
    );
    // Several rows of one key: the newest (then the latest created) is written; older is skipped later.
    const result = await writeOnline(deps, "customer_profile", {
      customer_id: ["c2", "c2", "c2"],
      ts: [t("2024-01-01T01:00:00"), t("2024-01-01T02:00:00"), t("2024-01-01T00:30:00")],
      age: [1, 2, 3],
      conv_rate: [0, 0, 0],
    });
    assert.deepEqual(result, { rows: 1, written: 1, skipped: 0 });
    const older = await writeOnline(deps, "customer_profile", [
      { customer_id: "c2", ts: t("2024-01-01T01:30:00"), age: 9, conv_rate: 0 },
    ]);
    assert.deepEqual(older, { rows: 1, written: 0, skipped: 1 });
    const res = await getOnlineFeatures(deps, {
      features: ["customer_profile:age"],
      entities: { customer_id: ["c2"] },
    });
    assert.deepEqual(res.toRows(), [{ customer_id: "c2", age: 2 }]);
  });
});

Deno.test("getOnlineFeatures() echoes every given join key of the project, in request order", async () => {
  await withStore(async (deps) => {
    // customer_profile reads customer_id only; driver_id is the join key of another entity of
    // the project, so it is echoed (Feast's join_keys_set); "note" is nobody's.
    const res = await getOnlineFeatures(deps, {
      features: ["customer_profile:age"],
      entities: [{ driver_id: "1001", note: "x", customer_id: "c1" }],
    });
    assert.deepEqual(res.featureNames, ["driver_id", "customer_id", "age"]);
    assert.deepEqual(res.toRows(), [{ driver_id: 1001, customer_id: "c1", age: 42 }]);

    // A projection's mapped column is echoed under its own name; the view's key too when given.
    const res2 = await getOnlineFeatures(deps, {
      features: [{
        view: "buyer",
        feature: "age",
        projection: {
          view: "customer_profile",
          nameAlias: "buyer",
          joinKeyMap: { customer_id: "buyer_id" },
        },
      }],
      entities: { buyer_id: ["c1", "c2"], customer_id: ["c2", "c1"] },
    });
    assert.deepEqual(res2.featureNames, ["buyer_id", "customer_id", "age"]);
    assert.deepEqual(res2.columns[2]!.values, [42, null]);
  });
});
