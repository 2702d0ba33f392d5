/**
 * A brute-force oracle of window aggregations, written from the rule alone: for one entity and
 * time T, scan every event; keep those with event time in (T − W, T]; of events with the same
 * event time keep those with the greatest created time (NULL lowest); skip NULL values; then
 * compute the function directly.
 */
import type { AggregationFunction } from "../../registry/mod.ts";

/** One event of one entity. */
export interface OracleEvent {
  /** Event time, epoch milliseconds. */
  readonly ts: number;
  /** Created time, epoch milliseconds, or null. */
  readonly created: number | null;
  /** Column -> value. */
  readonly values: Readonly<Record<string, unknown>>;
}

function compareValues(a: unknown, b: unknown): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "string" && typeof b === "string") {
    // Code-point order (the byte order of UTF-8, as DuckDB compares).
    const ca = [...a].map((c) => c.codePointAt(0)!);
    const cb = [...b].map((c) => c.codePointAt(0)!);
    for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
      if (ca[i] !== cb[i]) return ca[i]! - cb[i]!;
    }
    return ca.length - cb.length;
  }
  if (a instanceof Date && b instanceof Date) return a.getTime() - b.getTime();
  if (typeof a === "boolean" && typeof b === "boolean") return Number(a) - Number(b);
  throw new Error(`cannot compare ${String(a)} and ${String(b)}`);
}

/** The events of one entity that count at `t` for a window of `windowMs` (before NULL skips). */
export function eventsInWindow(
  events: readonly OracleEvent[],
  t: number,
  windowMs: number,
  filterByCreated = false,
): OracleEvent[] {
  const inside = events.filter((e) =>
    e.ts > t - windowMs && e.ts <= t &&
    (!filterByCreated || (e.created !== null && e.created <= t))
  );
  const newest = new Map<number, number>();
  for (const e of inside) {
    const c = e.created ?? -Infinity;
    newest.set(e.ts, Math.max(newest.get(e.ts) ?? -Infinity, c));
  }
  return inside.filter((e) => (e.created ?? -Infinity) === newest.get(e.ts));
}

/** The exact value of `fn` over `column` at `t` (approx_count_distinct: the exact count). */
export function oracleAggregate(
  events: readonly OracleEvent[],
  options: {
    readonly t: number;
    readonly windowMs: number;
    readonly fn: AggregationFunction;
    readonly column: string;
    /** Only events created by `t` count (`filterByCreatedTimestamp`). */
    readonly filterByCreated?: boolean;
  },
): unknown {
  const kept = eventsInWindow(events, options.t, options.windowMs, options.filterByCreated)
    .filter((e) => e.values[options.column] !== null && e.values[options.column] !== undefined);
  const values = kept.map((e) => e.values[options.column]);
  const nums = values as number[];
  const n = values.length;
  switch (options.fn) {
    case "count":
      return n;
    case "approx_count_distinct":
      return new Set(values.map((v) => (v instanceof Date ? v.getTime() : v))).size;
    case "sum":
      return n === 0 ? null : nums.reduce((a, b) => a + b, 0);
    case "mean":
      return n === 0 ? null : nums.reduce((a, b) => a + b, 0) / n;
    case "min":
      return n === 0 ? null : values.reduce((a, b) => (compareValues(a, b) <= 0 ? a : b));
    case "max":
      return n === 0 ? null : values.reduce((a, b) => (compareValues(a, b) >= 0 ? a : b));
    case "var":
    case "stddev": {
      if (n < 2) return null;
      const mean = nums.reduce((a, b) => a + b, 0) / n;
      const v = nums.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
      return options.fn === "var" ? v : Math.sqrt(v);
    }
    case "last": {
      if (n === 0) return null;
      let best = kept[0]!;
      for (const e of kept.slice(1)) {
        const byTs = e.ts - best.ts;
        const ca = e.created ?? -Infinity;
        const cb = best.created ?? -Infinity;
        const byCreated = ca === cb ? 0 : ca > cb ? 1 : -1;
        const byValue = compareValues(e.values[options.column], best.values[options.column]);
        if (byTs > 0 || (byTs === 0 && (byCreated > 0 || (byCreated === 0 && byValue > 0)))) {
          best = e;
        }
      }
      return best.values[options.column];
    }
  }
}

/** Whether `got` equals `expected`: exact, or within a relative 1e-9 for non-integers. */
export function sameValue(got: unknown, expected: unknown): boolean {
  if (got === null || expected === null) return got === expected;
  if (typeof got === "bigint") got = Number(got);
  if (typeof got === "number" && typeof expected === "number") {
    if (Number.isInteger(expected) && Number.isInteger(got)) return got === expected;
    return Math.abs(got - expected) <= 1e-9 * Math.max(1, Math.abs(expected));
  }
  if (got instanceof Date && expected instanceof Date) return got.getTime() === expected.getTime();
  return got === expected;
}
