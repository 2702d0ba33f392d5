/**
 * A feature repo joining one view twice: `weather` (per location) as the trip's origin and as
 * its destination, through projections with another name and a join-key map. Tests import it
 * for its types and copy it into temporary repos.
 */
import { entity, featureService, featureView, fileSource } from "larder";

export const location = entity({ name: "location", joinKeys: ["location_id"], valueType: "int64" });
export const rider = entity({ name: "rider", joinKeys: ["rider_id"], valueType: "int64" });
export const weatherSource = fileSource({
  name: "weather_source",
  path: "data/weather.parquet",
  timestampField: "event_timestamp",
});
export const weather = featureView({
  name: "weather",
  entities: [location],
  ttl: "6h",
  schema: { temperature: "float64", humidity: "int64" },
  source: weatherSource,
});
export const riderSource = fileSource({
  name: "rider_source",
  path: "data/riders.parquet",
  timestampField: "event_timestamp",
});
export const riderStats = featureView({
  name: "rider_stats",
  entities: [rider],
  schema: { rating: "float64" },
  source: riderSource,
});
/** The origin's weather: every feature, keyed by the entity column `origin_id`. */
export const origin = weather.withName("origin").withJoinKeyMap({ location_id: "origin_id" });
/** The destination's temperature, keyed by `destination_id`. */
export const destination = weather.select(["temperature"]).withName("destination")
  .withJoinKeyMap({ location_id: "destination_id" });
export const tripWeather = featureService({
  name: "trip_weather",
  features: [origin, destination],
});
