/** SQL text helpers: quoting identifiers and literals for DuckDB. */

/** Quotes an identifier: `a"b` → `"a""b"`. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes a string literal: `it's` → `'it''s'`. */
export function str(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** A `TIMESTAMP` literal (naive, UTC) of a `Date` or of epoch microseconds. */
export function tsLiteral(time: Date | bigint): string {
  const micros = typeof time === "bigint" ? time : BigInt(time.getTime()) * 1000n;
  return `make_timestamp(${micros}::BIGINT)`;
}

/** A list literal of quoted strings, for `read_csv([...])`. */
export function strList(values: readonly string[]): string {
  return `[${values.map(str).join(", ")}]`;
}
