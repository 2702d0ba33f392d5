/** Feature definitions of the driver demo: what Larder knows about drivers. */
import {
  entity,
  featureService,
  featureView,
  fileSource,
  onDemandFeatureView,
  pushSource,
  requestSource,
} from "larder";

export const driver = entity({
  name: "driver",
  joinKeys: ["driver_id"],
  valueType: "int64",
  description: "A driver of the ride-hailing fleet",
});

export const driverStatsSource = fileSource({
  name: "driver_stats_source",
  path: "data/driver_stats.parquet",
  timestampField: "event_timestamp",
  createdTimestampColumn: "created",
  fieldMapping: { trips_today: "avg_daily_trips" },
});

export const driverStats = featureView({
  name: "driver_hourly_stats",
  entities: [driver],
  ttl: "2h",
  schema: { conv_rate: "float32", acc_rate: "float32", avg_daily_trips: "int64" },
  source: driverStatsSource,
  online: true,
  tags: { team: "drivers" },
  owner: "ml@example.com",
  description: "Hourly driver statistics",
});

/**
 * Rows pushed as they happen (by a stream job, `FeatureStore.push` or the server's
 * `POST /push`): online, offline (beside the batch source's file, which is never rewritten)
 * or both.
 */
export const driverStatsPushSource = pushSource({
  name: "driver_stats_push_source",
  batchSource: driverStatsSource,
});

/** The same statistics fed by the push source: pushed rows are served at once. */
export const driverStatsFresh = featureView({
  name: "driver_hourly_stats_fresh",
  entities: [driver],
  ttl: "2h",
  schema: { conv_rate: "float32", acc_rate: "float32", avg_daily_trips: "int64" },
  source: driverStatsPushSource,
  online: true,
  tags: { team: "drivers" },
  description: "Hourly driver statistics, with the rows pushed since the last batch",
});

export const driverActivity = featureService({
  name: "driver_activity",
  features: [driverStats],
});

export const driverRanking = featureService({
  name: "driver_ranking",
  features: [driverStats.select(["conv_rate", "acc_rate"])],
});

/** Values that arrive with each request: the value of the trip being scored. */
export const tripRequest = requestSource({
  name: "trip_request",
  schema: { trip_value: "float64" },
});

/** Computed at request time, online and offline alike, from stored features and the request. */
export const tripScore = onDemandFeatureView({
  name: "trip_score",
  sources: [driverStats.select(["conv_rate", "acc_rate"]), tripRequest],
  schema: { expected_value: "float64", reliable: "bool" },
  transform: (c) => ({
    expected_value: c.conv_rate.map((conv, i) => {
      const value = c.trip_value[i];
      return conv === null || value == null ? null : conv * value;
    }),
    reliable: c.acc_rate.map((acc) => acc === null ? null : acc >= 0.8),
  }),
});

export const driverScoring = featureService({
  name: "driver_scoring",
  features: [driverStats.select(["conv_rate"]), tripScore],
});
