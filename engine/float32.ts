/** float32 values as JavaScript numbers, the same on every path. */

/** `digits` significant digits of the float32 `f`, if they read back as `f`. */
function readsBack(f: number, digits: number): number | undefined {
  const candidate = Number(f.toPrecision(digits));
  return Math.fround(candidate) === f ? candidate : undefined;
}

/**
 * The shortest decimal that reads back as the same float32 as `value` (`0.654`, not
 * `0.6539999842643738`). Online and historical retrieval both hand float32 features to
 * callers and transforms this way, so identical inputs give identical outputs.
 *
 * Rounding a float32 to d + 1 digits lands at least as close to it as rounding to d digits
 * (the d-digit decimal is also a (d + 1)-digit one), so when d digits read back, more do too,
 * and the shortest length can be found by bisection: 3-4 conversions instead of up to 9. (At a
 * power of two the rounding interval is lopsided, half as wide below; the tests check every
 * float32 power of two against the one-length-at-a-time definition.)
 */
export function shortestFloat32(value: number): number {
  if (!Number.isFinite(value)) return value;
  const f = Math.fround(value);
  if (f === 0) return f;
  // Nine digits always read back: find the fewest in [1, 9].
  let lo = 1;
  let hi = 9;
  let best: number | undefined;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const candidate = readsBack(f, mid);
    if (candidate === undefined) lo = mid + 1;
    else {
      best = candidate;
      hi = mid;
    }
  }
  return best ?? readsBack(f, 9) ?? f;
}
