/** Plain-text tables and JSON output for commands. */

/** Renders rows as aligned columns under a header. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** Writes a line to stdout. */
export function print(text = ""): void {
  console.log(text);
}

/** Writes `Warning: <message>` to stderr. */
export function warn(message: string): void {
  console.error(`Warning: ${message}`);
}

/** Writes a value as pretty JSON to stdout. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}
