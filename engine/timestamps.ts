/**
 * Timestamps given as text, read one way at every edge (SDK options, CLI arguments, HTTP
 * bodies): RFC 3339 / ISO 8601, and a time without an offset is UTC (as Feast reads naive
 * times), never the machine's local time.
 */

const DATETIME =
  /^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?([Zz]|[+-]\d{2}:?\d{2})?$/;

/** Parses an RFC 3339 / ISO 8601 timestamp; a missing offset means UTC. */
export function parseTimestamp(text: string): Date | undefined {
  if (!DATETIME.test(text)) return undefined;
  const hasOffset = /([Zz]|[+-]\d{2}:?\d{2})$/.test(text) && text.length > 10;
  const normalized = text.replace(" ", "T").replace(/(\.\d{3})\d+/, "$1");
  const date = new Date(hasOffset ? normalized : `${normalized}${text.length > 10 ? "Z" : ""}`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
