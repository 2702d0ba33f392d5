/** Turns columns of one feature view's rows into online rows: keys, timestamps and encoded values. */
import { type FieldSpec, LarderError } from "../../registry/mod.ts";
import { canonicalKeyValue, entityKey, type JoinKey } from "./entity_key.ts";
import type { OnlineRow, StoredValue } from "./online_store.ts";
import {
  coerceValue,
  describeValue,
  encodeValue,
  INVALID,
  invalidReason,
  notOfType,
  timestampMicros,
  type TimestampUnit,
} from "./value_codec.ts";

/** Column values by position (arrays, or anything indexable such as Arrow's `toArray()`). */
export type ColumnValues = { readonly length: number; readonly [index: number]: unknown };

/** The columns of a batch of rows of one view, aligned by row. */
export interface ViewColumns {
  /** One column per join key, in the order of `joinKeys`. */
  readonly keys: readonly ColumnValues[];
  /** One column per feature, in the order of `features`. */
  readonly features: readonly ColumnValues[];
  /** Event timestamps: `Date`, numbers in `timestampUnit` or ISO text (microseconds kept). */
  readonly eventTs: ColumnValues;
  /** Created timestamps, when the source has them. */
  readonly createdTs?: ColumnValues | undefined;
  /**
   * The unit of numbers in `eventTs` and `createdTs`: epoch milliseconds (what callers hand
   * in), or microseconds (Arrow columns).
   * @default {"ms"}
   */
  readonly timestampUnit?: TimestampUnit;
}

/** What {@linkcode toOnlineRows} needs to know about the view. */
export interface ViewShape {
  readonly name: string;
  readonly joinKeys: readonly JoinKey[];
  readonly features: readonly FieldSpec[];
}

/**
 * Builds online rows from columns (one row per event timestamp), normalizing join keys by their
 * declared type, event times to epoch microseconds and encoding feature values by the view's
 * schema. Throws `INPUT_INVALID` naming the column, the row and the value that does not fit.
 */
export function toOnlineRows(
  view: ViewShape,
  columns: ViewColumns,
  options: {
    /** Added to row numbers in messages (rows of earlier batches). @default 0 */
    readonly rowOffset?: number;
    /** The timestamp column's name, for messages. */
    readonly timestampColumn?: string;
  } = {},
): OnlineRow[] {
  const rowCount = columns.eventTs.length;
  const offset = options.rowOffset ?? 0;
  const unit = columns.timestampUnit ?? "ms";
  const rows: OnlineRow[] = new Array(rowCount);
  const typedKey = new Array<unknown>(view.joinKeys.length);
  for (let r = 0; r < rowCount; r++) {
    for (let k = 0; k < view.joinKeys.length; k++) {
      typedKey[k] = canonicalKeyValue(view.joinKeys[k]!, columns.keys[k]![r]);
    }
    const raw = columns.eventTs[r];
    const eventMicros = timestampMicros(raw, unit);
    if (eventMicros === null || Number.isNaN(eventMicros)) {
      const reason = invalidReason(raw, "timestamp");
      throw new LarderError(
        "INPUT_INVALID",
        `Feature view "${view.name}": row ${r + offset}: ${
          eventMicros === null
            ? "has no event timestamp"
            : `invalid event timestamp ${describeValue(raw)}`
        }${options.timestampColumn ? ` (column "${options.timestampColumn}")` : ""}${
          reason ? `: ${reason}` : ""
        }`,
      );
    }
    const created = columns.createdTs ? timestampMicros(columns.createdTs[r], unit) : null;
    if (created !== null && Number.isNaN(created)) {
      const value = columns.createdTs![r];
      const reason = invalidReason(value, "timestamp");
      throw new LarderError(
        "INPUT_INVALID",
        `Feature view "${view.name}": row ${r + offset}: invalid created timestamp ${
          describeValue(value)
        }${reason ? `: ${reason}` : ""}`,
      );
    }
    const values: Record<string, StoredValue> = {};
    for (let f = 0; f < view.features.length; f++) {
      const field = view.features[f]!;
      const value = columns.features[f]![r];
      const typed = coerceValue(value, field.type);
      if (typed === INVALID) {
        throw new LarderError(
          "INPUT_INVALID",
          `Feature view "${view.name}": column "${field.name}", row ${r + offset}: ${
            notOfType(value, field.type)
          }`,
          { details: { view: view.name, column: field.name, row: r + offset } },
        );
      }
      values[field.name] = encodeValue(typed, field.type);
    }
    rows[r] = {
      entityKey: entityKey(view.joinKeys, typedKey),
      record: {
        eventMicros,
        createdMicros: created,
        values,
      },
    };
  }
  return rows;
}

/**
 * Keeps the newest row per entity key: the latest event timestamp, then the latest created
 * timestamp, then the later row.
 */
export function newestPerKey(rows: readonly OnlineRow[]): OnlineRow[] {
  const newest = new Map<string, OnlineRow>();
  for (const row of rows) {
    const seen = newest.get(row.entityKey);
    if (!seen) {
      newest.set(row.entityKey, row);
      continue;
    }
    const a = row.record;
    const b = seen.record;
    if (
      a.eventMicros > b.eventMicros ||
      (a.eventMicros === b.eventMicros &&
        (a.createdMicros ?? -Infinity) >= (b.createdMicros ?? -Infinity))
    ) {
      newest.set(row.entityKey, row);
    }
  }
  return newest.size === rows.length ? [...rows] : [...newest.values()];
}
