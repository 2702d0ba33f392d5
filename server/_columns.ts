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
 * The `df` of a push or write as lists of one length: a column given as a single value holds it
 * in every row (`{"id": [1, 2], "source": "job"}` is two rows). `INPUT_INVALID` for a `df`
 * without columns, or whose every column is a single value (no row count to take; pandas refuses
 * it too); `TOO_LARGE` over `limit` rows.
 */
export function dataFrame(
  df: DataFrameBody,
  limit: number,
): { readonly columns: ColumnData; readonly rows: number } {
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
    return { columns: lists, rows: rowCount(lists, limit, "rows") };
  }
  if (Object.keys(lists).length === 0) {
    throw new LarderError(
      "INPUT_INVALID",
      `Invalid request body: df: every column is a single value (${
        singles.map((n) => `"${n}"`).join(", ")
      }): give at least one column as a list, one value per row`,
      { details: { field: "df", singleValues: singles } },
    );
  }
  const rows = rowCount(lists, limit, "rows");
  const columns: Record<string, readonly unknown[]> = {};
  for (const [name, value] of Object.entries(df)) {
    columns[name] = Array.isArray(value) ? value : new Array<unknown>(rows).fill(value);
  }
  return { columns, rows };
}
