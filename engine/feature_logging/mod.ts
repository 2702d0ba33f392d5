/**
 * @module
 * Feature logging: what the feature server served for feature services with `logging`,
 * written as Parquet parts partitioned by date, to be read back as a source for training.
 *
 * @example
 * ```ts ignore
 * import { FeatureLogger } from "./mod.ts";
 * const logger = new FeatureLogger({ repoDir: ".", flushIntervalMs: 10_000 });
 * logger.log(doc, { service: "driver_activity", entities, response, fullFeatureNames: false });
 * await logger.close();
 * ```
 */
export {
  FeatureLogger,
  type FeatureLoggerOptions,
  type FeatureLogStats,
  type ServedRead,
} from "./feature_logger.ts";
export {
  type FeatureLogSchema,
  featureLogSchema,
  LOG_DATE_COLUMN,
  LOG_TIMESTAMP_COLUMN,
  type LogColumn,
  type LoggedFeature,
  REQUEST_ID_COLUMN,
  STATUS_CODES,
} from "./log_schema.ts";
export {
  defaultLogSinks,
  LocalLogSink,
  type LogSink,
  type LogSinkFactory,
  ObjectLogSink,
} from "./log_sink.ts";
