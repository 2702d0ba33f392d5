/**
 * int64 values beyond 2^53 through the SDK: a JavaScript number there is not exact (2^53 + 1
 * is 2^53), so it would address another entity or store another value. Numbers must be safe
 * integers; bigints and decimal strings carry the whole int64 range.
 */
import assert from "node:assert/strict";
import { FeatureStore } from "../engine/mod.ts";
import { tempRepo } from "./support/repo.ts";

const FEATURES = `
import { entity, featureView, fileSource, onDemandFeatureView, pushSource, requestSource } from "larder";
export const account = entity({ name: "account", joinKeys: ["account_id"], valueType: "int64" });
export const source = fileSource({
  name: "balances_source",
  path: "data/balances",
  timestampField: "event_timestamp",
});
export const push = pushSource({ name: "balances_push", batchSource: source });
export const balances = featureView({
  name: "balances",
  entities: [account],
  schema: { cents: "int64", ratio: "float64" },
  source: push,
});
export const req = requestSource({ name: "req", schema: { nonce: "int64" } });
export const echo = onDemandFeatureView({
  name: "echo",
  sources: [balances, req],
  schema: { nonce_out: "int64" },
  transform: (c) => ({ nonce_out: c.nonce }),
});
`;

/** 2^53: what the number 9007199254740993 becomes in JavaScript (and in JSON.parse). */
const TWO_53 = 2 ** 53;
const TS = "2024-01-01T00:00:00Z";

async function withStore(fn: (store: FeatureStore) => Promise<void>): Promise<void> {
  const repo = await tempRepo({ "features.ts": FEATURES });
  try {
    const store = await FeatureStore.open({ repo: repo.dir });
    try {
      await store.apply({ skipSourceValidation: true });
      await fn(store);
    } finally {
      await store.close();
    }
  } finally {
    await repo.remove();
  }
}

const UNSAFE = /beyond ±9007199254740991 \(2\^53 - 1\).*decimal strings or bigints/;

Deno.test("FeatureStore refuses int64 numbers beyond 2^53 in keys, features and request data", async () => {
  await withStore(async (store) => {
    // Stored under the exact key 2^53, which an inexact number must not reach.
    await store.writeToOnlineStore("balances", {
      account_id: [String(TWO_53)],
      event_timestamp: [TS],
      cents: [1],
      ratio: [0.5],
    });
    await assert.rejects(
      () =>
        store.getOnlineFeatures({
          features: ["balances:cents"],
          entities: { account_id: [TWO_53] },
        }),
      {
        code: "INPUT_INVALID",
        message: new RegExp(`join key "account_id": ${TWO_53} is not an int64.*${UNSAFE.source}`),
      },
    );
    await assert.rejects(
      () =>
        store.writeToOnlineStore("balances", {
          account_id: [TWO_53],
          event_timestamp: [TS],
          cents: [1],
          ratio: [0.5],
        }),
      { code: "INPUT_INVALID", message: /join key "account_id"/ },
    );
    await assert.rejects(
      () =>
        store.writeToOnlineStore("balances", {
          account_id: [1],
          event_timestamp: [TS],
          cents: [2 ** 60],
          ratio: [0.5],
        }),
      { code: "INPUT_INVALID", message: new RegExp(`column "cents", row 0: .*${UNSAFE.source}`) },
    );
    for (const to of ["online", "offline"] as const) {
      await assert.rejects(
        () =>
          store.push("balances_push", {
            account_id: [1],
            event_timestamp: [TS],
            cents: [-(2 ** 60)],
            ratio: [0.5],
          }, { to }),
        { code: "INPUT_INVALID", message: new RegExp(`"cents".*${UNSAFE.source}`) },
        to,
      );
    }
    await assert.rejects(
      () =>
        store.getOnlineFeatures({
          features: ["echo:nonce_out"],
          entities: { account_id: [1], nonce: [TWO_53 + 2] },
        }),
      { code: "INPUT_INVALID", message: new RegExp(`Request field "nonce".*${UNSAFE.source}`) },
    );
    await assert.rejects(
      () =>
        store.getHistoricalFeatures({
          entities: [{ account_id: TWO_53, event_timestamp: new Date("2024-01-02") }],
          features: ["balances:cents"],
        }),
      {
        code: "INPUT_INVALID",
        message: new RegExp(`Entity row 0: join key "account_id".*${UNSAFE.source}`),
      },
    );
    // Nothing was written by the refused writes.
    const res = await store.getOnlineFeatures({
      features: ["balances:cents"],
      entities: { account_id: [1, String(TWO_53)] },
    });
    assert.deepEqual(res.columns[1]!.statuses, ["NOT_FOUND", "PRESENT"]);
    // float64 takes any number.
    const float = await store.writeToOnlineStore("balances", {
      account_id: [2],
      event_timestamp: [TS],
      cents: [2],
      ratio: [2 ** 60],
    });
    assert.equal(float.written, 1);
  });
});

Deno.test("FeatureStore keeps bigints and decimal strings exact across int64's range", async () => {
  await withStore(async (store) => {
    const min = -(2n ** 63n);
    const max = 2n ** 63n - 1n;
    const written = await store.push("balances_push", {
      account_id: ["9007199254740993", min, String(max), -5],
      event_timestamp: [TS, TS, TS, TS],
      cents: [9007199254740993n, String(min), "9223372036854775807", " -9007199254740993 "],
      ratio: [1e300, -1e300, 0.5, 0],
    }, { to: "online_and_offline" });
    assert.deepEqual(written.views, [{ view: "balances", written: 4, skipped: 0 }]);
    const res = await store.getOnlineFeatures({
      features: ["balances:cents", "echo:nonce_out"],
      entities: {
        account_id: [9007199254740993n, String(min), max, "-5", String(TWO_53)],
        nonce: ["9223372036854775807", min, 1, -1, "-9007199254740993"],
      },
    });
    assert.deepEqual(res.toRows(), [
      { account_id: 9007199254740993n, cents: 9007199254740993n, nonce_out: max },
      { account_id: min, cents: min, nonce_out: min },
      { account_id: max, cents: max, nonce_out: 1 },
      { account_id: -5, cents: -9007199254740993n, nonce_out: -1 },
      // 2^53 is another entity than 2^53 + 1.
      { account_id: BigInt(TWO_53), cents: null, nonce_out: -9007199254740993n },
    ]);
    assert.deepEqual(res.columns[1]!.statuses.at(-1), "NOT_FOUND");
    // Historical retrieval reads the pushed file back exactly.
    const job = await store.getHistoricalFeatures({
      entities: [{ account_id: 9007199254740993n, event_timestamp: new Date("2024-01-02") }],
      features: ["balances:cents"],
    });
    assert.deepEqual((await job.toRows()).map((r) => r.cents), [9007199254740993n]);
  });
});

Deno.test("FeatureStore refuses int64 strings outside int64's range", async () => {
  await withStore(async (store) => {
    for (const text of ["9223372036854775808", "-9223372036854775809"]) {
      await assert.rejects(
        () =>
          store.writeToOnlineStore("balances", {
            account_id: [text],
            event_timestamp: [TS],
            cents: [1],
            ratio: [0.5],
          }),
        { code: "INPUT_INVALID", message: /join key "account_id".*outside the int64 range/ },
      );
      await assert.rejects(
        () =>
          store.writeToOnlineStore("balances", {
            account_id: [1],
            event_timestamp: [TS],
            cents: [text],
            ratio: [0.5],
          }),
        { code: "INPUT_INVALID", message: /column "cents".*outside the int64 range/ },
      );
    }
  });
});
