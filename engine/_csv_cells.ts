/**
 * CSV text as Larder writes it and its CSV reader reads it back (`engine/offline/_csv.ts`):
 * RFC 4180 fields, and lists as DuckDB list text. Shared by every CSV writer (`writeTable`,
 * pushed parts, retrieval results).
 */

/**
 * One field: `null` is an empty field (NULL); text is quoted (`"` doubled) when it holds a
 * comma, a quote or a line break, starts or ends with white space, or is empty — a quoted empty
 * field is an empty string, an unquoted one NULL.
 */
export function csvField(text: string | null): string {
  if (text === null) return "";
  return text === "" || /[",\n\r]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One line of fields (without the line end). */
export function csvLine(fields: readonly (string | null)[]): string {
  return fields.map(csvField).join(",");
}

/**
 * A list as text: `[1,2.5,null]`, `["a","b \"c\""]`. Strings are quoted with `\` before `"`
 * and `\` (how DuckDB reads list text; JSON too, except that control characters stay as they
 * are: DuckDB would read JSON's `\n` as `n`), other items as their text, `null` as `null`.
 */
export function csvList(items: readonly (string | number | bigint | boolean | null)[]): string {
  return `[${
    items.map((item) =>
      item === null
        ? "null"
        : typeof item === "string"
        ? `"${item.replace(/[\\"]/g, "\\$&")}"`
        : String(item)
    ).join(",")
  }]`;
}
