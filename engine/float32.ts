/** float32 values as JavaScript numbers, the same on every path. */

/**
 * The shortest decimal that reads back as the same float32 as `value` (`0.654`, not
 * `0.6539999842643738`). Online and historical retrieval both hand float32 features to
 * callers and transforms this way, so identical inputs give identical outputs.
 */
export function shortestFloat32(value: number): number {
  if (!Number.isFinite(value)) return value;
  const f = Math.fround(value);
  for (let digits = 1; digits < 10; digits++) {
    const candidate = Number(f.toPrecision(digits));
    if (Math.fround(candidate) === f) return candidate;
  }
  return f;
}
