/**
 * Type-level tests of the typed SDK: these assertions are checked by `deno check` (and by
 * `deno test`, which type-checks first), so a wrong row type fails the build. The same calls
 * also run against a real store.
 */
import assert from "node:assert/strict";
import { featureService, FeatureStore } from "../mod.ts";
import * as driverFeatures from "../examples/driver_repo/features.ts";
import {
  driverActivity,
  driverRanking,
  driverScoring,
  driverStats,
  tripScore,
} from "../examples/driver_repo/features.ts";
import { generateDriverData } from "../examples/driver_repo/scripts/generate_data.ts";
import { tempRepo } from "./support/repo.ts";

/** `true` only when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
function assertType<_T extends true>(): void {}

Deno.test("getOnlineFeatures() rows are typed from handles and services", async () => {
  const repo = await tempRepo({
    "features.ts": await Deno.readTextFile(
      new URL("../examples/driver_repo/features.ts", import.meta.url),
    ),
  });
  // Data up to the current hour: the views' ttl is 2h, and an on-demand view gets null for an
  // input older than that.
  const end = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
  await generateDriverData(repo.dir, { end, drivers: 3, days: 1 });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply();
    await store.materialize({ start: new Date(end.getTime() - 30 * 86_400_000), end });

    const byHandles = await store.getOnlineFeatures({
      features: [driverStats.features.conv_rate, driverStats.features.avg_daily_trips],
      entities: { driver_id: [1001, 1002] },
    });
    const row = byHandles.toRows()[0]!;
    assertType<Equal<typeof row.conv_rate, number | null>>();
    assertType<Equal<typeof row.avg_daily_trips, number | null>>();
    assertType<Equal<typeof row.driver_id, unknown>>();
    // @ts-expect-error: acc_rate was not requested
    row.acc_rate;
    // @ts-expect-error: a misspelled feature is a compile error
    row.conv_rte;
    assert.equal(typeof row.conv_rate, "number");
    assert.equal(row.driver_id, 1001);

    const byService = await store.getOnlineFeatures({
      featureService: driverRanking,
      entities: [{ driver_id: 1003 }],
    });
    const ranked = byService.toRows()[0]!;
    assertType<Equal<typeof ranked.acc_rate, number | null>>();
    // @ts-expect-error: driver_ranking does not include avg_daily_trips
    ranked.avg_daily_trips;
    assert.deepEqual(Object.keys(ranked), ["driver_id", "conv_rate", "acc_rate"]);

    const scored = await store.getOnlineFeatures({
      featureService: driverScoring,
      entities: { driver_id: [1001], trip_value: [10] },
    });
    const s = scored.toRows()[0]!;
    assertType<Equal<typeof s.expected_value, number | null>>();
    assertType<Equal<typeof s.reliable, boolean | null>>();
    assert.equal(typeof s.expected_value, "number");

    const full = await store.getOnlineFeatures({
      featureService: driverActivity,
      entities: { driver_id: [1001] },
      fullFeatureNames: true,
    });
    const f = full.toRows()[0]!;
    assertType<Equal<typeof f.driver_hourly_stats__avg_daily_trips, number | null>>();
    // @ts-expect-error: with full feature names the bare name is not a column
    f.avg_daily_trips;
    assert.equal(typeof f.driver_hourly_stats__avg_daily_trips, "number");

    // Untyped (string) requests still work and give loose rows.
    const loose = await store.getOnlineFeatures({
      features: ["driver_hourly_stats:conv_rate"],
      entities: { driver_id: [1001] },
    });
    assertType<Equal<ReturnType<typeof loose.toRows>, Record<string, unknown>[]>>();
  } finally {
    await store.close();
    await repo.remove();
  }
});

/** A service listing on-demand outputs by their typed handles, beside a view's handle. */
const scoringByHandles = featureService({
  name: "scoring_by_handles",
  features: [driverStats.features.conv_rate, tripScore.features.expected_value],
});

Deno.test("onDemandFeatureView() handles are typed in services and requests", () => {
  const handle = tripScore.features.expected_value;
  assertType<Equal<typeof handle.ref, "trip_score:expected_value">>();
  assertType<Equal<typeof handle.type, "float64">>();
  assert.equal(handle.ref, "trip_score:expected_value");
  assert.equal(String(tripScore.features.reliable), "trip_score:reliable");
  assert.deepEqual(Object.keys(tripScore.features), ["expected_value", "reliable"]);
  // @ts-expect-error: trip_score has no feature "expected"
  tripScore.features.expected;
  assert.deepEqual(scoringByHandles.spec.projections, [
    { view: "driver_hourly_stats", features: ["conv_rate"] },
    { view: "trip_score", features: ["expected_value"] },
  ]);
});

Deno.test("getOnlineFeatures() and getHistoricalFeatures() rows are typed from on-demand handles", async () => {
  const repo = await tempRepo({});
  // Data up to the current hour, as above: inputs older than the 2h ttl reach on-demand views
  // as null.
  const end = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
  await generateDriverData(repo.dir, { end, drivers: 3, days: 1 });
  const store = await FeatureStore.open({
    repo: repo.dir,
    definitions: { "features.ts": { ...driverFeatures, scoringByHandles } },
  });
  try {
    await store.apply();
    await store.materialize({ start: new Date(end.getTime() - 30 * 86_400_000), end });

    const byHandles = await store.getOnlineFeatures({
      features: [tripScore.features.expected_value, tripScore.features.reliable],
      entities: { driver_id: [1001], trip_value: [10] },
    });
    const row = byHandles.toRows()[0]!;
    assertType<Equal<typeof row.expected_value, number | null>>();
    assertType<Equal<typeof row.reliable, boolean | null>>();
    // @ts-expect-error: conv_rate was not requested
    row.conv_rate;
    assert.deepEqual(Object.keys(row), ["driver_id", "expected_value", "reliable"]);
    assert.equal(typeof row.expected_value, "number");
    assert.equal(typeof row.reliable, "boolean");

    // Never called: only compiled. A features list takes handles or strings, not whole views.
    const _wholeView = () =>
      // @ts-expect-error: an on-demand view is not a feature reference
      store.getOnlineFeatures({ features: [tripScore], entities: { driver_id: [1001] } });

    // A string reference beside handles: the handles keep their types, the string's column is
    // loose.
    const mixed = await store.getOnlineFeatures({
      features: [
        driverStats.features.avg_daily_trips,
        "driver_hourly_stats:acc_rate",
        tripScore.features.reliable,
      ],
      entities: { driver_id: [1001], trip_value: [10] },
    });
    const m = mixed.toRows()[0]!;
    assertType<Equal<typeof m.avg_daily_trips, number | null>>();
    assertType<Equal<typeof m.reliable, boolean | null>>();
    assertType<Equal<typeof m.acc_rate, unknown>>();
    // @ts-expect-error: a typed column keeps its type: a number is not a string
    const _wrong: string = m.avg_daily_trips;
    assert.deepEqual(Object.keys(m), ["driver_id", "avg_daily_trips", "acc_rate", "reliable"]);
    assert.equal(typeof m.acc_rate, "number");

    const byService = await store.getOnlineFeatures({
      featureService: scoringByHandles,
      entities: { driver_id: [1001], trip_value: [10] },
    });
    const s = byService.toRows()[0]!;
    assertType<Equal<typeof s.conv_rate, number | null>>();
    assertType<Equal<typeof s.expected_value, number | null>>();
    // @ts-expect-error: the service lists expected_value only
    s.reliable;
    assert.deepEqual(Object.keys(s), ["driver_id", "conv_rate", "expected_value"]);
    assert.ok(Math.abs(s.expected_value! - s.conv_rate! * 10) < 1e-9);

    const entities = [{ driver_id: 1001, event_timestamp: end, trip_value: 10 }];
    const job = await store.getHistoricalFeatures({
      entities,
      features: [driverStats.features.conv_rate, tripScore.features.expected_value],
    });
    const h = (await job.toRows())[0]!;
    assertType<Equal<typeof h.conv_rate, number | null>>();
    assertType<Equal<typeof h.expected_value, number | null>>();
    assert.deepEqual(job.columns, [
      "driver_id",
      "event_timestamp",
      "trip_value",
      "conv_rate",
      "expected_value",
    ]);
    assert.equal(typeof h.expected_value, "number");

    const served = await store.getHistoricalFeatures({
      entities,
      featureService: scoringByHandles,
      fullFeatureNames: true,
    });
    const f = (await served.toRows())[0]!;
    assertType<Equal<typeof f.trip_score__expected_value, number | null>>();
    assert.deepEqual((await served.toRows()).map((r) => r.trip_score__expected_value), [
      h.expected_value,
    ]);
  } finally {
    await store.close();
    await repo.remove();
  }
});
