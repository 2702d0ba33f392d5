/**
 * One feature view joined twice through projections with another name and a join-key map
 * (Feast's `with_name` / `with_join_key_map`): a trip's origin and destination weather, offline
 * against a brute-force oracle on seeded random data, online after materialize, through a
 * feature service and through typed handles of the projections.
 */
import assert from "node:assert/strict";
import { FeatureStore, isLarderError } from "../mod.ts";
import { destination, origin, tripWeather, weather } from "./support/trip_features.ts";
import {
  latestWeather,
  T0,
  type Trip,
  tripData,
  weatherAt,
  type WeatherRow,
  writeTripData,
} from "./support/trip_data.ts";
import { type TempRepo, tempRepo } from "./support/repo.ts";

/** `true` only when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
function assertType<_T extends true>(): void {}

const FEATURES = await Deno.readTextFile(new URL("./support/trip_features.ts", import.meta.url));

async function withTripRepo(
  seed: number,
  fn: (
    store: FeatureStore,
    data: { weather: WeatherRow[]; trips: Trip[] },
    repo: TempRepo,
  ) => Promise<void>,
): Promise<void> {
  const repo = await tempRepo({ "features.ts": FEATURES });
  const data = tripData(seed);
  await writeTripData(repo.dir, data.weather);
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply();
    await fn(store, data, repo);
  } finally {
    await store.close();
    await repo.remove();
  }
}

/** What the oracle expects of one trip: the origin's weather and the destination's. */
function expectedRow(weatherRows: readonly WeatherRow[], trip: Trip): Record<string, unknown> {
  const o = weatherAt(weatherRows, trip.origin_id, trip.event_timestamp);
  const d = weatherAt(weatherRows, trip.destination_id, trip.event_timestamp);
  return {
    ...trip,
    origin__temperature: o?.temperature ?? null,
    origin__humidity: o?.humidity ?? null,
    destination__temperature: d?.temperature ?? null,
  };
}

Deno.test("getHistoricalFeatures() joins one view on two entity columns like the oracle", async () => {
  for (const seed of [11, 12]) {
    await withTripRepo(seed, async (store, { weather: rows, trips }) => {
      const expected = trips.map((trip) => expectedRow(rows, trip));
      // The oracle's data must exercise both ends: matches, misses, and differing ends.
      assert.ok(expected.some((r) => r.origin__temperature !== null));
      assert.ok(expected.some((r) => r.destination__temperature === null));
      assert.ok(
        expected.some((r) =>
          r.origin__temperature !== null && r.destination__temperature !== null &&
          r.origin__temperature !== r.destination__temperature
        ),
      );

      const byService = await store.getHistoricalFeatures({
        entities: trips,
        featureService: tripWeather,
        fullFeatureNames: true,
      });
      assert.deepEqual(byService.columns, [
        "trip_id",
        "origin_id",
        "destination_id",
        "event_timestamp",
        "origin__temperature",
        "origin__humidity",
        "destination__temperature",
      ]);
      assert.deepEqual(await byService.toRows(), expected, `seed ${seed}`);

      // Typed handles of the projections ask for the same join.
      const byHandles = await store.getHistoricalFeatures({
        entities: trips,
        features: [
          destination.features.temperature,
          origin.features.temperature,
          origin.features.humidity,
        ],
        fullFeatureNames: true,
      });
      const reordered = expected.map((r) => ({
        trip_id: r.trip_id,
        origin_id: r.origin_id,
        destination_id: r.destination_id,
        event_timestamp: r.event_timestamp,
        destination__temperature: r.destination__temperature,
        origin__temperature: r.origin__temperature,
        origin__humidity: r.origin__humidity,
      }));
      assert.deepEqual(await byHandles.toRows(), reordered, `seed ${seed}`);
    });
  }
});

Deno.test("getHistoricalFeatures() explains a missing mapped column and colliding names", async () => {
  await withTripRepo(13, async (store, { trips }) => {
    const noDestination = trips.map(({ destination_id: _, ...rest }) => rest);
    await assert.rejects(
      () =>
        store.getHistoricalFeatures({
          entities: noDestination,
          featureService: "trip_weather",
          fullFeatureNames: true,
        }),
      (err) =>
        isLarderError(err) && err.code === "INPUT_INVALID" &&
        err.message.startsWith(
          'The entity table has no column "destination_id" (join key of entity "location", needed by projection "destination" of feature view "weather"; columns: ',
        ),
    );
    await assert.rejects(
      () => store.getHistoricalFeatures({ entities: trips, featureService: "trip_weather" }),
      {
        message:
          'Feature "temperature" is in both feature views "origin" and "destination": use full feature names to get "origin__temperature" and "destination__temperature"',
      },
    );
  });
});

Deno.test("getOnlineFeatures() reads each projection's key from its mapped column", async () => {
  await withTripRepo(21, async (store, { weather: rows, trips }) => {
    await store.materialize({
      start: new Date(T0 - 86_400_000),
      end: new Date(T0 + 3 * 86_400_000),
    });
    const some = trips.slice(0, 40);
    const entities = {
      origin_id: some.map((t) => t.origin_id),
      destination_id: some.map((t) => t.destination_id),
    };
    const res = await store.getOnlineFeatures({
      featureService: tripWeather,
      entities,
      fullFeatureNames: true,
    });
    assert.deepEqual(res.featureNames, [
      "origin_id",
      "destination_id",
      "origin__temperature",
      "origin__humidity",
      "destination__temperature",
    ]);
    const expected = some.map((t) => {
      const o = latestWeather(rows, t.origin_id);
      const d = latestWeather(rows, t.destination_id);
      return {
        origin_id: t.origin_id,
        destination_id: t.destination_id,
        origin__temperature: o?.temperature ?? null,
        origin__humidity: o?.humidity ?? null,
        destination__temperature: d?.temperature ?? null,
      };
    });
    assert.deepEqual(res.toRows(), expected);
    const statuses = res.columns[4]!.statuses;
    some.forEach((t, r) => {
      if (latestWeather(rows, t.destination_id) === undefined) {
        assert.equal(statuses[r], "NOT_FOUND");
      }
    });
    assert.ok(statuses.includes("NOT_FOUND"));

    // Typed handles of the projections read the same.
    const byHandles = await store.getOnlineFeatures({
      features: [origin.features.temperature, destination.features.temperature],
      entities,
      fullFeatureNames: true,
    });
    assert.deepEqual(
      byHandles.toRows(),
      expected.map(({ origin__humidity: _, ...rest }) => rest),
    );

    // Request plans are cached per shape: one name with another map is another shape.
    for (const column of ["a_id", "b_id"]) {
      const p = weather.withName("here").withJoinKeyMap({ location_id: column });
      const res = await store.getOnlineFeatures({
        features: [p.features.temperature],
        entities: { [column]: [4] },
      });
      assert.deepEqual(res.toRows(), [
        { [column]: 4, temperature: latestWeather(rows, 4)?.temperature ?? null },
      ]);
    }
  });
});

Deno.test("getOnlineFeatures() rows of projections are typed with their names", async () => {
  await withTripRepo(22, async (store, { weather: rows }) => {
    await store.materialize({
      start: new Date(T0 - 86_400_000),
      end: new Date(T0 + 3 * 86_400_000),
    });
    const full = await store.getOnlineFeatures({
      featureService: tripWeather,
      entities: { origin_id: [1], destination_id: [2], rider_id: [7] },
      fullFeatureNames: true,
    });
    const row = full.toRows()[0]!;
    assertType<Equal<typeof row.origin__temperature, number | null>>();
    assertType<Equal<typeof row.origin__humidity, number | null>>();
    assertType<Equal<typeof row.destination__temperature, number | null>>();
    // Entity columns are the request's, echoed as normalized (so `unknown`).
    assertType<Equal<typeof row.origin_id, unknown>>();
    assertType<Equal<typeof row.rider_id, unknown>>();
    // @ts-expect-error: the destination projection selects temperature only
    row.destination__humidity;
    // @ts-expect-error: the view's own name is not a column of its projections
    row.weather__temperature;
    assert.equal(row.origin__temperature, latestWeather(rows, 1)?.temperature ?? null);
    // rider_id is a join key of the project's entity "rider": echoed, as Feast does.
    assert.deepEqual(full.featureNames.slice(0, 3), ["origin_id", "destination_id", "rider_id"]);

    const handles = await store.getOnlineFeatures({
      features: [origin.features.humidity, weather.features.temperature],
      entities: [{ origin_id: 3, location_id: 4 }],
      fullFeatureNames: true,
    });
    const h = handles.toRows()[0]!;
    assertType<Equal<typeof h.origin__humidity, number | null>>();
    assertType<Equal<typeof h.weather__temperature, number | null>>();
    // @ts-expect-error: not requested
    h.origin__temperature;
    assert.deepEqual(Object.keys(h), [
      "origin_id",
      "location_id",
      "origin__humidity",
      "weather__temperature",
    ]);
    assert.equal(h.weather__temperature, latestWeather(rows, 4)?.temperature ?? null);
    assert.equal(h.origin__humidity, latestWeather(rows, 3)?.humidity ?? null);

    const bare = await store.getOnlineFeatures({
      features: [destination.features.temperature],
      entities: { destination_id: [5] },
    });
    const b = bare.toRows()[0]!;
    assertType<Equal<typeof b.temperature, number | null>>();
    assert.deepEqual(Object.keys(b), ["destination_id", "temperature"]);
  });
});

Deno.test("getOnlineFeatures() explains projections it cannot read", async () => {
  await withTripRepo(23, async (store) => {
    await assert.rejects(
      () =>
        store.getOnlineFeatures({
          featureService: tripWeather,
          entities: { origin_id: [1] },
          fullFeatureNames: true,
        }),
      {
        message:
          'Entity column "destination_id" is missing: projection "destination" of feature view "weather" reads its join key "location_id" from it; the request has "origin_id"',
      },
    );
    const typo = weather.withName("somewhere").withJoinKeyMap({ locaton_id: "x_id" });
    await assert.rejects(
      () =>
        store.getOnlineFeatures({
          features: [typo.features.temperature],
          entities: { x_id: [1] },
        }),
      {
        message:
          'Projection "somewhere" of feature view "weather": join-key map names "locaton_id", which is not a join key of feature view "weather" (its join keys: "location_id")',
      },
    );
    const named = weather.withName("rider_stats");
    await assert.rejects(
      () => store.getOnlineFeatures({ features: [named.features.temperature], entities: {} }),
      {
        message:
          'Projection "rider_stats" of feature view "weather": it has the name of another feature view: choose another name for withName()',
      },
    );
    const other = weather.withName("origin").withJoinKeyMap({ location_id: "elsewhere_id" });
    await assert.rejects(
      () =>
        store.getOnlineFeatures({
          features: [origin.features.temperature, other.features.humidity],
          entities: { origin_id: [1], elsewhere_id: [2] },
        }),
      {
        message:
          'Two projections are named "origin" (both of feature view "weather", with different join-key maps): give each a distinct name with withName()',
      },
    );
    // Like Feast, a string reference names a view as it is: an alias is not a view.
    await assert.rejects(
      () =>
        store.getOnlineFeatures({ features: ["origin:temperature"], entities: { origin_id: [1] } }),
      (err) => isLarderError(err) && err.code === "NOT_FOUND",
    );
  });
});

Deno.test("apply stores a service's projections and plan shows when they change", async () => {
  await withTripRepo(31, async (store, _data, repo) => {
    const stored = (await store.registry.read({ fresh: true })).objects.featureService
      .trip_weather!.spec;
    assert.deepEqual(stored.projections, [
      {
        view: "weather",
        features: ["temperature", "humidity"],
        nameAlias: "origin",
        joinKeyMap: { location_id: "origin_id" },
      },
      {
        view: "weather",
        features: ["temperature"],
        nameAlias: "destination",
        joinKeyMap: { location_id: "destination_id" },
      },
    ]);
    await repo.write(
      "features.ts",
      FEATURES.replace('{ location_id: "destination_id" }', '{ location_id: "dropoff_id" }'),
    );
    const { plan } = await store.plan();
    const changed = plan.changes.filter((c) => c.action !== "unchanged");
    assert.deepEqual(changed.map((c) => [c.kind, c.name, c.action, c.fields]), [
      ["featureService", "trip_weather", "update", ["projections"]],
    ]);
  });
});
