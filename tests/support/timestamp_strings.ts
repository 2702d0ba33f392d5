/**
 * Seeded random strings near the timestamp grammar: valid ISO 8601 / RFC 3339 text, edge values
 * (leap days, hour 23 and 24, offsets near ±23:59, long fractions) and small mutations of them
 * (a character dropped, doubled or replaced, a case changed, a space added), for tests that two
 * readers of timestamps accept and refuse the same text.
 */
import { prng } from "./prng.ts";

/** Hand-picked values on every edge of the grammar. */
export const TIMESTAMP_EDGES: readonly string[] = [
  "2001-02-28",
  "2001-02-30",
  "2001-02-29",
  "2024-02-29",
  "1900-02-29",
  "2000-02-29",
  "0000-02-29",
  "2001-04-31T00:00:00Z",
  "2001-02-28T23:59:59Z",
  "2001-02-28T24:00:00Z",
  "2001-02-28T23:60:00Z",
  "2001-02-28T23:59:60Z",
  "2001-02-28T10:00:00+23:59",
  "2001-02-28T10:00:00+24:00",
  "2001-02-28T10:00:00-25:00",
  "2001-02-28T10:00+25:00",
  "2001-02-28 10:00:00.123456+02:00",
  "2001-13-01",
  "2001-00-10",
  "2024-01-02T03:04:05+02:75",
  "2024-01-02T03:04:05+02",
  "2024-01-02T03:04:05 UTC",
  "2024-01-02 03:04:05 UTC",
  "2024-01-02T03:04:05+02:30:15",
  "2024-01-02T03:04:05.1234567890Z",
  "2024-01-02T03:04:05.123456789Z",
  "2024-01-02T03:04:05.9999999Z",
  "2024-01-02t03:04:05z",
  "2024-01-02T03:04Z",
  "2024-01-02T03:04",
  "2024-01-02T03:04+0200",
  "2024-01-02T03:04:05+0200",
  "2024-01-02T03:04:05-0000",
  "2024-01-02T03:04:05.Z",
  "2024-01-02T03:04.5Z",
  "2024-01-02T",
  "2024-01-02 ",
  " 2024-01-02",
  "2024-1-02",
  "24-01-02",
  "+2024-01-02",
  "2024-01-02T3:04:05Z",
  "2024-01-02T03:04:05ZZ",
  "2024-01-02T03:04:05+02:00Z",
  "9999-12-31T23:59:59.999999-23:59",
  "0000-01-01T00:00:00+23:59",
];

const CHARS = "0123456789-:T tZz+.,/ab";

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function int(random: () => number, low: number, high: number): number {
  return low + Math.floor(random() * (high - low + 1));
}

/** One string built from grammar pieces, each sometimes out of range. */
function shaped(random: () => number): string {
  const year = pick(random, [
    pad(int(random, 0, 9999), 4),
    pick(random, ["1900", "2000", "2024", "2100", "2400", "0000", "0004", "1600"]),
  ]);
  const month = pad(random() < 0.9 ? int(random, 1, 12) : int(random, 0, 19), 2);
  const day = pad(random() < 0.7 ? int(random, 1, 28) : int(random, 0, 32), 2);
  let text = `${year}-${month}-${day}`;
  if (random() < 0.2) return text;
  text += pick(random, ["T", "T", " ", "t"]);
  text += pad(random() < 0.9 ? int(random, 0, 23) : int(random, 20, 29), 2);
  text += `:${pad(random() < 0.9 ? int(random, 0, 59) : int(random, 55, 69), 2)}`;
  if (random() < 0.8) {
    text += `:${pad(random() < 0.9 ? int(random, 0, 59) : int(random, 55, 69), 2)}`;
    if (random() < 0.5) {
      text += `.${Array.from({ length: int(random, 1, 11) }, () => int(random, 0, 9)).join("")}`;
    }
  }
  const zone = random();
  if (zone < 0.3) text += pick(random, ["Z", "Z", "z"]);
  else if (zone < 0.7) {
    const hours = pad(random() < 0.9 ? int(random, 0, 23) : int(random, 20, 29), 2);
    const minutes = pad(random() < 0.9 ? int(random, 0, 59) : int(random, 55, 75), 2);
    text += `${pick(random, ["+", "-"])}${hours}${pick(random, [":", ":", ""])}${minutes}`;
  }
  return text;
}

/** A small change to `text`: one character dropped, doubled, replaced or inserted. */
function mutated(random: () => number, text: string): string {
  const at = int(random, 0, Math.max(0, text.length - 1));
  switch (int(random, 0, 3)) {
    case 0:
      return text.slice(0, at) + text.slice(at + 1);
    case 1:
      return text.slice(0, at) + text[at] + text.slice(at);
    case 2:
      return text.slice(0, at) + pick(random, [...CHARS]) + text.slice(at + 1);
    default:
      return text.slice(0, at) + pick(random, [...CHARS]) + text.slice(at);
  }
}

/**
 * `count` strings from `seed`: the edges first, then shaped ones, about a third of them mutated.
 * No string contains a comma, a quote or a line break (they go into CSV cells unquoted).
 */
export function timestampStrings(seed: number, count: number): string[] {
  const random = prng(seed);
  const out = [...TIMESTAMP_EDGES];
  while (out.length < count) {
    const text = shaped(random);
    out.push(random() < 0.35 ? mutated(random, text) : text);
  }
  return out.map((s) => s.replaceAll(",", "."));
}
