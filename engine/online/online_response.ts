/** The answer of an online retrieval, as rows or as Feast's column-major JSON. */
import { jsonValue, rfc3339Micros } from "./value_codec.ts";

/** Feast's field statuses (`ServingService.proto`). */
export type FeatureStatus = "PRESENT" | "NULL_VALUE" | "NOT_FOUND" | "OUTSIDE_MAX_AGE";

/** One output column: an entity column or a feature, one entry per entity row. */
export interface OnlineColumn {
  /** The column's name: an entity column or a feature. */
  readonly name: string;
  /** One value per entity row (`null` where there is none). */
  readonly values: readonly unknown[];
  /** One status per entity row. */
  readonly statuses: readonly FeatureStatus[];
  /**
   * Event timestamps, epoch microseconds; `null` where there is none (entity columns,
   * NOT_FOUND).
   */
  readonly eventMicros: readonly (number | null)[];
}

/** Feast's `POST /get-online-features` response body. */
export interface OnlineFeaturesJson {
  /** The output columns' names, in order. */
  metadata: { feature_names: string[] };
  /** One entry per column, in the order of `feature_names`. */
  results: { values: unknown[]; statuses: FeatureStatus[]; event_timestamps: string[] }[];
}

const EPOCH = "1970-01-01T00:00:00Z";

/**
 * Features for a list of entity rows: entity columns first (as normalized by their declared
 * types), then the features in request order.
 *
 * @example
 * ```ts ignore
 * const res = await getOnlineFeatures(deps, request);
 * res.toRows(); // [{ driver_id: 1001, conv_rate: 0.53 }]
 * JSON.stringify(res); // Feast's column-major shape
 * ```
 */
export class OnlineFeaturesResponse<Row extends object = Record<string, unknown>> {
  /** The columns, entity columns first, then features in request order. */
  readonly columns: readonly OnlineColumn[];
  /** The number of entity rows. */
  readonly rowCount: number;

  /** Makes a response of `rowCount` rows from its columns. */
  constructor(columns: readonly OnlineColumn[], rowCount: number) {
    this.columns = columns;
    this.rowCount = rowCount;
  }

  /** Output column names: entity columns, then features. */
  get featureNames(): string[] {
    return this.columns.map((c) => c.name);
  }

  /** One object per entity row: `{ driver_id: 1001, conv_rate: 0.53, … }`. */
  toRows(): Row[] {
    const rows: Row[] = [];
    for (let r = 0; r < this.rowCount; r++) {
      const row: Record<string, unknown> = {};
      for (const column of this.columns) row[column.name] = column.values[r] ?? null;
      rows.push(row as Row);
    }
    return rows;
  }

  /**
   * Feast's column-major JSON: `metadata.feature_names` and one `results` entry per column with
   * `values`, `statuses` and `event_timestamps` (RFC 3339, `Z`, with 3 or 6 fractional digits
   * when there are milliseconds or microseconds; 1970 where there is none).
   * Bytes are base64, timestamps RFC 3339, NaN/±Infinity and 64-bit integers beyond 2^53 strings.
   */
  toJSON(): OnlineFeaturesJson {
    return {
      metadata: { feature_names: this.featureNames },
      results: this.columns.map((c) => ({
        values: c.values.map(jsonValue),
        statuses: [...c.statuses],
        event_timestamps: c.eventMicros.map((t) => (t === null ? EPOCH : rfc3339Micros(t))),
      })),
    };
  }
}
