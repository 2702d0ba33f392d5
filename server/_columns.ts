/**
 * Column-major data of bodies: the row count of `entities`, and the `df` of writes with single
 * values broadcast to every row, as `pandas.DataFrame(df)` does in Feast's server.
 */
import { LarderError } from "../engine/mod.ts";
import type { ColumnData } from "./deps.ts";
import { ApiError } from "./errors.ts";
import type { DataFrameBody } from "./schemas.ts";

function lengthsOf(columns: Readonly<Record<string, readonly unknown[]>>): Record<string, number> {
  return Object.fromEntries(Object.entries(columns).map(([n, v]) => [n, v.length]));
}

/** The number of rows of column-major data; throws when columns differ in length or are too many. */
export function rowCount(columns: ColumnData, limit: number, what: string): number {
  let rows: number | undefined;
  for (const [name, values] of Object.entries(columns)) {
    if (values.length > limit) {
      throw new ApiError(
        "TOO_LARGE",
        `Too many ${what}: column "${name}" has ${values.length} values, the limit is ${limit}`,
        { details: { column: name, rows: values.length, limit } },
      );
    }
    if (rows !== undefined && values.length !== rows) {
      const lengths = lengthsOf(columns);
      const text = Object.entries(lengths).map(([n, l]) => `${n}: ${l}`).join(", ");
      throw new LarderError("INPUT_INVALID", `Columns have different lengths (${text})`, {
        details: { lengths },
      });
    }
    rows = values.length;
  }
  return rows ?? 0;
}

/**
 * How many single-value columns a `df` of as many rows as the write limit may have: what
 * single values expand to counts against `64 × limit` values, so that a small body cannot
 * make the server build billions of cells.
 */
export const BROADCAST_COLUMNS = 64;

/** A checked `df`: its row count, and its columns (single values expanded on demand). */
export interface DataFrame {
  readonly rows: number;
  /** The columns as lists of `rows` values; builds the repeated ones (call it once). */
  columns(): ColumnData;
}

/**
 * The `df` of a push or write as lists of one length: a column given as a single value holds it
 * in every row (`{"id": [1, 2], "source": "job"}` is two rows). `INPUT_INVALID` for a `df`
 * without columns, or whose every column is a single value (no row count to take; pandas refuses
 * it too); `TOO_LARGE` over `limit` rows, or when the single values would expand to more than
 * {@linkcode BROADCAST_COLUMNS} × `limit` values. Checks only: nothing is expanded until
 * `columns()` (after the request's permissions have been checked).
 */
export function dataFrame(df: DataFrameBody, limit: number): DataFrame {
  const lists: Record<string, readonly unknown[]> = {};
  const singles: string[] = [];
  for (const [name, value] of Object.entries(df)) {
    if (Array.isArray(value)) lists[name] = value;
    else singles.push(name);
  }
  if (singles.length === 0) {
    if (Object.keys(lists).length === 0) {
      throw new LarderError(
        "INPUT_INVALID",
        "Invalid request body: df: has no columns: expected column name -> values, one per row",
        { details: { field: "df" } },
      );
    }
    const rows = rowCount(lists, limit, "rows");
    return { rows, columns: () => lists };
  }
  if (Object.keys(lists).length === 0) {
    throw new LarderError(
      "INPUT_INVALID",
      `Invalid request body: df: every column is a single value (${
        singles.slice(0, 20).map((n) => `"${n}"`).join(", ")
      }${
        singles.length > 20 ? ` and ${singles.length - 20} more` : ""
      }): give at least one column as a list, one value per row`,
      { details: { field: "df", singleValues: singles.slice(0, 50) } },
    );
  }
  const rows = rowCount(lists, limit, "rows");
  const values = singles.length * rows;
  const most = BROADCAST_COLUMNS * limit;
  if (values > most) {
    throw new ApiError(
      "TOO_LARGE",
      `Too many values: df has ${singles.length} single-value columns, each repeated on ${rows} rows (${values} values), the limit is ${most} (${BROADCAST_COLUMNS} columns of ${limit} rows)`,
      { details: { singleValueColumns: singles.length, rows, values, limit: most } },
    );
  }
  return {
    rows,
    columns: () => {
      const columns: Record<string, readonly unknown[]> = {};
      for (const [name, value] of Object.entries(df)) {
        columns[name] = Array.isArray(value) ? value : new Array<unknown>(rows).fill(value);
      }
      return columns;
    },
  };
}
