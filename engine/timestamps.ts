/**
 * Timestamps given as text, read one way at every edge (SDK options, CLI arguments, HTTP
 * bodies, pushed and written values, entity keys, request data): RFC 3339 / ISO 8601, and a
 * time without an offset is UTC (as Feast reads naive times), never the machine's local time.
 *
 * The reader is strict: a date or time that does not exist is refused, never rolled over
 * (`2001-02-30`, `2001-02-29`, hour 24, minute 60, second 60, offset beyond ±23:59). Leap seconds
 * are refused, like Python's `datetime`, DuckDB and JavaScript's `Date`, none of which has them;
 * `24:00:00` (ISO 8601's end of day) is refused too: write `00:00:00` of the next day. Fractions
 * of a second may have up to 9 digits; digits beyond microseconds are dropped (truncated, so a
 * time never moves into the next microsecond).
 */

const DATETIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?)?$/;

const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

/** An instant: whole seconds since the epoch and the microseconds after them (0..999 999). */
interface Instant {
  readonly seconds: number;
  readonly micros: number;
}

function isLeapYear(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `days_from_civil`). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) +
    dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

/** The instant of `text`, or why it is not one. */
function read(text: string): Instant | string {
  const m = DATETIME.exec(text);
  if (!m) return "expected the form 2026-01-31T00:00:00Z (a date, optionally a time and offset)";
  const [, y, mo, d, h = "00", mi = "00", s = "00", fraction = "", , sign, oh, om] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12) return `month ${mo} does not exist`;
  if (day < 1 || day > daysInMonth(year, month)) {
    return day < 1
      ? `day ${d} does not exist`
      : `${MONTHS[month - 1]} ${month === 2 ? `${y} ` : ""}has ${daysInMonth(year, month)} days`;
  }
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (hour === 24) return "hour 24 is not accepted: write 00:00:00 of the next day";
  if (hour > 23) return `hour ${h} does not exist`;
  if (minute > 59) return `minute ${mi} does not exist`;
  if (second === 60) return "second 60 (a leap second) is not accepted: times have no leap seconds";
  if (second > 59) return `second ${s} does not exist`;
  let offset = 0;
  if (sign !== undefined) {
    const offsetHours = Number(oh);
    const offsetMinutes = Number(om);
    if (offsetHours > 23 || offsetMinutes > 59) {
      return `offset ${sign}${oh}:${om} is not within ±23:59`;
    }
    offset = (sign === "-" ? -1 : 1) * (offsetHours * 3600 + offsetMinutes * 60);
  }
  return {
    seconds: daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset,
    micros: fraction === "" ? 0 : Number(fraction.slice(0, 6).padEnd(6, "0")),
  };
}

const YEAR = "[0-9]{4}";
/** Years with a February 29: divisible by 4 and not by 100, or by 400. */
const LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)";
const DATE = `(?:${YEAR}-(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])` +
  `|${YEAR}-(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)` +
  `|${YEAR}-02-(?:0[1-9]|1[0-9]|2[0-8])` +
  `|${LEAP_YEAR}-02-29)`;
const HOUR = "(?:[01][0-9]|2[0-3])";
const SIXTY = "[0-5][0-9]";
const TIME = `[Tt ]${HOUR}:${SIXTY}(?::${SIXTY}(?:\\.[0-9]{1,9})?)?(?:[Zz]|[+-]${HOUR}:?${SIXTY})?`;

/**
 * A regular expression (as source text, without anchors) that matches exactly the text
 * {@linkcode parseTimestamp} accepts: the same shapes, and only dates and times that exist. In
 * the syntax JavaScript and RE2 (DuckDB's `regexp_full_match`) share, so that SQL reads the
 * same timestamps as the rest of Larder.
 */
export const TIMESTAMP_PATTERN: string = `${DATE}(?:${TIME})?`;

/** Seconds beyond which `seconds * 1e6` is no longer an exact number (about the year 2255). */
const EXACT_SECONDS = Math.floor(Number.MAX_SAFE_INTEGER / 1e6) - 1;

/**
 * Parses an RFC 3339 / ISO 8601 timestamp; a missing offset means UTC. `undefined` for text
 * that is not one, or names a date or time that does not exist (see the module doc). A `Date`
 * holds milliseconds: finer digits are dropped (see {@linkcode parseTimestampMicros}).
 *
 * @example
 * ```ts
 * import { parseTimestamp } from "./timestamps.ts";
 * parseTimestamp("2026-01-31T00:00:00+02:00")?.toISOString(); // "2026-01-30T22:00:00.000Z"
 * parseTimestamp("2001-02-30"); // undefined
 * ```
 */
export function parseTimestamp(text: string): Date | undefined {
  const instant = read(text);
  if (typeof instant === "string") return undefined;
  return new Date(instant.seconds * 1000 + Math.floor(instant.micros / 1000));
}

/**
 * Like {@linkcode parseTimestamp}, as an integer number of microseconds since the epoch (exact
 * from about 1685 to 2255; beyond, the nearest number, so order is still kept).
 */
export function parseTimestampMicros(text: string): number | undefined {
  const instant = read(text);
  if (typeof instant === "string") return undefined;
  if (Math.abs(instant.seconds) <= EXACT_SECONDS) return instant.seconds * 1e6 + instant.micros;
  return Number(BigInt(instant.seconds) * 1_000_000n + BigInt(instant.micros));
}

/** Why `text` is not a timestamp (`"February 2001 has 28 days"`); `undefined` when it is one. */
export function timestampProblem(text: string): string | undefined {
  const instant = read(text);
  return typeof instant === "string" ? instant : undefined;
}

/**
 * The message for text that should have been a timestamp, or `undefined` when it is one:
 * `expected an ISO 8601 time, got "2001-02-30": February 2001 has 28 days` (text of another
 * form gets no detail: `expected an ISO 8601 time, got "yesterday"`).
 */
export function timestampError(text: string, expected = "an ISO 8601 time"): string | undefined {
  const instant = read(text);
  if (typeof instant !== "string") return undefined;
  const got = JSON.stringify(text.length > 64 ? `${text.slice(0, 61)}...` : text);
  return DATETIME.test(text)
    ? `expected ${expected}, got ${got}: ${instant}`
    : `expected ${expected}, got ${got}`;
}

/**
 * A bound of a materialization window, which is recorded to the millisecond: a time with
 * digits below the millisecond is widened to whole milliseconds (a start rounded down, an end
 * rounded up), so that no row inside the window is left out. `undefined` when `text` is no
 * timestamp (see {@linkcode timestampError}).
 *
 * @example
 * ```ts
 * import { parseWindowBound } from "./timestamps.ts";
 * parseWindowBound("2026-01-31T00:00:00.000500Z", "end")?.toISOString(); // "2026-01-31T00:00:00.001Z"
 * ```
 */
export function parseWindowBound(text: string, side: "start" | "end"): Date | undefined {
  const micros = parseTimestampMicros(text);
  if (micros === undefined) return undefined;
  const ms = side === "start" ? Math.floor(micros / 1000) : Math.ceil(micros / 1000);
  return new Date(ms);
}

/**
 * The largest distance from the epoch a timestamp may have, in milliseconds: JavaScript's
 * `Date` range (±100 000 000 days, about ±275 000 years). A number beyond it is no timestamp.
 */
export const MAX_TIMESTAMP_MS = 8.64e15;

/**
 * `2024-01-01T00:00:00.000001Z` from epoch microseconds: ISO 8601 in UTC with milliseconds, and
 * microseconds when there are any. Years beyond 0000–9999 come out as `Date#toISOString` writes
 * them (`+010000-01-01T…`), which {@linkcode parseTimestamp} does not read. Throws a
 * `RangeError` beyond {@linkcode MAX_TIMESTAMP_MS}.
 */
export function isoMicros(micros: number | bigint): string {
  const value = BigInt(micros);
  const ms = value / 1000n - (value % 1000n < 0n ? 1n : 0n);
  const rest = value - ms * 1000n;
  const iso = new Date(Number(ms)).toISOString();
  return rest === 0n ? iso : `${iso.slice(0, -1)}${rest.toString().padStart(3, "0")}Z`;
}
