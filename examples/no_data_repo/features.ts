/**
 * Feature definitions: what Larder knows about your data. This repo has no data yet, so only
 * the entity is defined. To add features:
 *
 * 1. Put a Parquet or CSV file under data/, e.g. data/driver_stats.parquet with the columns
 *    driver_id (int64), event_timestamp (timestamp), conv_rate and acc_rate (float32).
 * 2. Uncomment the source and the view below (and add fileSource, featureView and
 *    featureService to the import).
 * 3. Run `deno task larder plan`, then `deno task larder apply`.
 *
 * Paths in definitions (a source's path) are relative to this repo's folder.
 */
import { entity } from "larder";

export const driver = entity({
  name: "driver",
  joinKeys: ["driver_id"],
  valueType: "int64",
  description: "A driver of the ride-hailing fleet",
});

// export const driverStatsSource = fileSource({
//   name: "driver_stats_source",
//   path: "data/driver_stats.parquet",
//   timestampField: "event_timestamp",
// });
//
// export const driverStats = featureView({
//   name: "driver_hourly_stats",
//   entities: [driver],
//   ttl: "2h",
//   schema: { conv_rate: "float32", acc_rate: "float32" },
//   source: driverStatsSource,
// });
//
// export const driverActivity = featureService({
//   name: "driver_activity",
//   features: [driverStats],
// });
