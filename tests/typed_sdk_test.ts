/**
 * Type-level tests of the typed SDK: these assertions are checked by `deno check` (and by
 * `deno test`, which type-checks first), so a wrong row type fails the build. The same calls
 * also run against a real store.
 */
import assert from "node:assert/strict";
import { FeatureStore } from "../mod.ts";
import {
  driverActivity,
  driverRanking,
  driverScoring,
  driverStats,
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
