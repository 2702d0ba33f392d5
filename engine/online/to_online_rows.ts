/** Turns columns of one feature view's rows into online rows: keys, timestamps and encoded values. */
import { type FieldSpec, LarderError } from "../../registry/mod.ts";
import { canonicalKeyValue, entityKey, type JoinKey } from "./entity_key.ts";
import type { OnlineRow, StoredValue } from "./online_store.ts";
import {
  coerceValue,
  describeValue,
  encodeValue,
  INVALID,
  notOfType,
  timestampMillis,
} from "./value_codec.ts";

/** Column values by position (arrays, or anything indexable such as Arrow's `toArray()`). */
export type ColumnValues = { readonly length: number; readonly [index: number]: unknown };

/** The columns of a batch of rows of one view, aligned by row. */
export interface ViewColumns {
  /** One column per join key, in the order of `joinKeys`. */
  readonly keys: readonly ColumnValues[];
  /** One column per feature, in the order of `features`. */
  readonly features: readonly ColumnValues[];
  /** Event timestamps: `Date`, epoch milliseconds or ISO text. */
  readonly eventTs: ColumnValues;
  /** Created timestamps, when the source has them. */
  readonly createdTs?: ColumnValues | undefined;
}

/** What {@linkcode toOnlineRows} needs to know about the view. */
export interface ViewShape {
  readonly name: string;
  readonly joinKeys: readonly JoinKey[];
  readonly features: readonly FieldSpec[];
}

/**
 * Builds online rows from columns (one row per event timestamp), normalizing join keys by their declared type and encoding
 * feature values by the view's schema. Throws `INPUT_INVALID` naming the column, the row and
 * the value that does not fit.
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
  const rows: OnlineRow[] = new Array(rowCount);
  const typedKey = new Array<unknown>(view.joinKeys.length);
  for (let r = 0; r < rowCount; r++) {
    for (let k = 0; k < view.joinKeys.length; k++) {
      typedKey[k] = canonicalKeyValue(view.joinKeys[k]!, columns.keys[k]![r]);
    }
    const eventTs = timestampMillis(columns.eventTs[r]);
    if (eventTs === null || Number.isNaN(eventTs)) {
      throw new LarderError(
        "INPUT_INVALID",
        `Feature view "${view.name}": row ${r + offset}: ${
          eventTs === null
            ? "has no event timestamp"
            : `invalid event timestamp ${describeValue(columns.eventTs[r])}`
        }${options.timestampColumn ? ` (column "${options.timestampColumn}")` : ""}`,
      );
    }
    const created = columns.createdTs ? timestampMillis(columns.createdTs[r]) : null;
    const values: Record<string, StoredValue> = {};
    for (let f = 0; f < view.features.length; f++) {
      const field = view.features[f]!;
      const raw = columns.features[f]![r];
      const typed = coerceValue(raw, field.type);
      if (typed === INVALID) {
        throw new LarderError(
          "INPUT_INVALID",
          `Feature view "${view.name}": column "${field.name}", row ${r + offset}: ${
            notOfType(raw, field.type)
          }`,
          { details: { view: view.name, column: field.name, row: r + offset } },
        );
      }
      values[field.name] = encodeValue(typed, field.type);
    }
    rows[r] = {
      entityKey: entityKey(view.joinKeys, typedKey),
      record: {
        eventTs,
        createdTs: created === null || Number.isNaN(created) ? null : created,
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
      a.eventTs > b.eventTs ||
      (a.eventTs === b.eventTs && (a.createdTs ?? -Infinity) >= (b.createdTs ?? -Infinity))
    ) {
      newest.set(row.entityKey, row);
    }
  }
  return newest.size === rows.length ? [...rows] : [...newest.values()];
}
