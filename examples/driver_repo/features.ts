/** Feature definitions of the driver demo: what Larder knows about drivers. */
import { entity, featureService, featureView, fileSource } from "larder";

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

export const driverActivity = featureService({
  name: "driver_activity",
  features: [driverStats],
});

export const driverRanking = featureService({
  name: "driver_ranking",
  features: [driverStats.select(["conv_rate", "acc_rate"])],
});
