/**
 * Over HTTP: a feature service joining one view twice through projections (Feast's
 * `with_name` / `with_join_key_map`), and which entity columns a response echoes (Feast's rule:
 * every given column that is a join key of a requested view or of any entity of the project).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeTable } from "../../engine/mod.ts";
import { startServer } from "./_harness.ts";
import { latestWeather, T0, tripData, writeTripData } from "../support/trip_data.ts";

const TRIP_FEATURES = await Deno.readTextFile(
  new URL("../support/trip_features.ts", import.meta.url),
);

Deno.test("POST /get-online-features reads a service that joins one view twice", async () => {
  const server = await startServer({ features: TRIP_FEATURES, data: false });
  try {
    const { weather } = tripData(41);
    await writeTripData(server.repo.dir, weather);
    const materialized = await server.request("POST", "/materialize", {
      body: {
        start_ts: new Date(T0 - 86_400_000).toISOString(),
        end_ts: new Date(T0 + 3 * 86_400_000).toISOString(),
        feature_views: ["weather"],
      },
    });
    assert.equal(materialized.status, 200, materialized.text);

    const origins = [0, 3, 13, 5];
    const destinations = [7, 3, 1, 12];
    // Feast's body for a feature service (docs/reference/feature-servers/python-feature-server.md)
    // with the entity columns of the projections' join-key maps.
    const res = await server.request("POST", "/get-online-features", {
      body: {
        feature_service: "trip_weather",
        entities: { origin_id: origins, destination_id: destinations },
        full_feature_names: true,
      },
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.metadata.feature_names, [
      "origin_id",
      "destination_id",
      "origin__temperature",
      "origin__humidity",
      "destination__temperature",
    ]);
    assert.deepEqual(res.json.results[0].values, origins);
    assert.deepEqual(res.json.results[1].values, destinations);
    assert.deepEqual(
      res.json.results[2].values,
      origins.map((o) => latestWeather(weather, o)?.temperature ?? null),
    );
    assert.deepEqual(
      res.json.results[3].values,
      origins.map((o) => latestWeather(weather, o)?.humidity ?? null),
    );
    assert.deepEqual(
      res.json.results[4].values,
      destinations.map((d) => latestWeather(weather, d)?.temperature ?? null),
    );
    // Location 13 has no weather at all.
    assert.equal(res.json.results[2].statuses[2], "NOT_FOUND");

    const bare = await server.request("POST", "/get-online-features", {
      body: { feature_service: "trip_weather", entities: { origin_id: [1], destination_id: [2] } },
    });
    assert.equal(bare.status, 422, bare.text);
    assert.equal(
      bare.json.error.message,
      'Feature "temperature" is in both feature views "origin" and "destination": use full feature names to get "origin__temperature" and "destination__temperature"',
    );
    const missing = await server.request("POST", "/get-online-features", {
      body: {
        feature_service: "trip_weather",
        entities: { origin_id: [1], location_id: [2] },
        full_feature_names: true,
      },
    });
    assert.equal(missing.status, 422, missing.text);
    assert.equal(missing.json.error.code, "INPUT_INVALID");
    assert.match(missing.json.error.message, /^Entity column "destination_id" is missing: /);
  } finally {
    await server.close();
  }
});

const ECHO_FEATURES = `
import { entity, featureView, fileSource, onDemandFeatureView, requestSource } from "larder";
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: "string" });
export const customerSource = fileSource({
  name: "customer_source",
  path: "data/customers.parquet",
  timestampField: "event_timestamp",
});
export const profile = featureView({
  name: "customer_profile",
  entities: [customer],
  schema: { balance: "float64" },
  source: customerSource,
});
export const order = requestSource({ name: "order", schema: { amount: "float64" } });
export const affordability = onDemandFeatureView({
  name: "affordability",
  sources: [profile, order],
  schema: { can_afford: "bool" },
  transform: (c) => ({
    can_afford: c.balance.map((b, i) => (b === null || c.amount[i] == null ? null : b >= c.amount[i]!)),
  }),
});
`;

Deno.test("POST /get-online-features echoes every join key of the project, as Feast does", async () => {
  const server = await startServer({ features: ECHO_FEATURES, data: false });
  try {
    await writeTable(join(server.repo.dir, "data/customers.parquet"), {
      customer_id: ["c1", "c2"],
      event_timestamp: ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"],
      balance: [100, 20],
    }, { customer_id: "string", event_timestamp: "timestamp", balance: "float64" });
    await server.store.materialize({
      start: new Date("2023-12-31T00:00:00Z"),
      end: new Date("2024-01-02T00:00:00Z"),
    });
    // The request of the report: an on-demand view of customers only, asked with a driver too.
    // Feast (utils.py, _prepare_entities_to_read_from_online_store) echoes driver_id, a join key
    // of the project's entity "driver", and drops the request data "amount".
    const res = await server.request("POST", "/get-online-features", {
      body: {
        features: ["affordability:can_afford"],
        entities: { driver_id: [1001, 1002], customer_id: ["c1", "c2"], amount: [50, 50] },
      },
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.metadata.feature_names, ["driver_id", "customer_id", "can_afford"]);
    assert.deepEqual(res.json.results[0].values, [1001, 1002]);
    assert.deepEqual(res.json.results[0].statuses, ["PRESENT", "PRESENT"]);
    assert.deepEqual(res.json.results[2].values, [true, false]);

    // In request order; a column that is no entity's join key is not echoed; an unread join
    // key is typed by its entity where it can be ("1001" is the int64 1001), never refused.
    const ordered = await server.request("POST", "/get-online-features", {
      body: {
        features: ["customer_profile:balance"],
        entities: { customer_id: ["c2", "nobody"], note: ["a", "b"], driver_id: ["1001", "x"] },
      },
    });
    assert.equal(ordered.status, 200, ordered.text);
    assert.deepEqual(ordered.json.metadata.feature_names, ["customer_id", "driver_id", "balance"]);
    assert.deepEqual(ordered.json.results[1].values, [1001, "x"]);
    assert.deepEqual(ordered.json.results[2].values, [20, null]);
  } finally {
    await server.close();
  }
});
