/** How `plan` and `apply` show a changed field: `ttl: 2h → 3h`, long values cut around the change. */
import type { FieldChange } from "../engine/mod.ts";

/** Longest a value is shown; longer ones are cut around where the two sides first differ. */
const MAX = 48;

/** Seconds as the duration a definition would write: `2h`, `1h30m`, `90s`. */
function duration(seconds: number): string {
  if (seconds === 0) return "unlimited";
  const units: [string, number][] = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
  let rest = seconds;
  let out = "";
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return rest > 0 ? `${seconds}s` : out;
}

function text(field: string, value: unknown): string {
  if (value === undefined) return "(none)";
  if (field === "ttlSeconds" && typeof value === "number") return duration(value);
  return (JSON.stringify(value) ?? String(value)).replace(/\s+/g, " ");
}

function cut(value: string, from: number): string {
  if (value.length <= MAX) return value;
  // Skip ahead only when the change would not be visible from the start.
  const start = from < MAX - 16 ? 0 : Math.min(from - 8, value.length - (MAX - 1));
  if (start <= 0) return `${value.slice(0, MAX - 1)}…`;
  const body = value.slice(start, start + MAX - 1);
  return `…${body}${start + body.length < value.length ? "…" : ""}`;
}

/** An item's key in a list of named objects (features, projections), if it has one. */
function keyOf(item: unknown): string | undefined {
  if (item === null || typeof item !== "object") return undefined;
  const { name, view } = item as { name?: unknown; view?: unknown };
  return typeof name === "string" ? name : typeof view === "string" ? view : undefined;
}

/**
 * Two lists of named objects as what was added, removed and changed (`+fresh, ~conv_rate`),
 * when every item has a distinct name.
 */
function listChange(before: unknown, after: unknown): string | undefined {
  if (!Array.isArray(before) || !Array.isArray(after)) return undefined;
  const index = (items: unknown[]) => {
    const map = new Map<string, string>();
    for (const item of items) {
      const key = keyOf(item);
      if (key === undefined || map.has(key)) return undefined;
      map.set(key, JSON.stringify(item));
    }
    return map;
  };
  const old = index(before);
  const now = index(after);
  if (old === undefined || now === undefined) return undefined;
  const parts = [
    ...[...now.keys()].filter((k) => !old.has(k)).map((k) => `+${k}`),
    ...[...old.keys()].filter((k) => !now.has(k)).map((k) => `-${k}`),
    ...[...now.keys()].filter((k) => old.has(k) && old.get(k) !== now.get(k)).map((k) => `~${k}`),
  ];
  if (parts.length === 0) return "reordered";
  return cut(parts.join(", "), 0);
}

/** One changed field as `label: old → new` (for lists of named objects, `+added, -removed, ~changed`). */
export function fieldChangeLine(field: string, change: FieldChange): string {
  const label = field === "ttlSeconds" ? "ttl" : field;
  const list = listChange(change.old, change.new);
  if (list !== undefined) return `${label}: ${list}`;
  const before = text(field, change.old);
  const after = text(field, change.new);
  let common = 0;
  while (common < before.length && before[common] === after[common]) common++;
  return `${label}: ${cut(before, common)} → ${cut(after, common)}`;
}
