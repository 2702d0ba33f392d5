/**
 * Seeded generators for the fuzz tests: random JSON values shaped like request bodies, and
 * values that fit no field. Seeded, so a failing case replays from its seed.
 */
import { prng } from "../support/prng.ts";

/** The generator's helpers, from one seed. */
export type Generator = ReturnType<typeof generator>;

/** Random values from `seed`: `value(depth)` is JSON-like, `wrong()` fits no typed field. */
export function generator(seed: number) {
  const rand = prng(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const KEYS = [
    "features",
    "feature_service",
    "entities",
    "full_feature_names",
    "push_source_name",
    "df",
    "to",
    "feature_view_name",
    "start_ts",
    "end_ts",
    "feature_views",
    "driver_id",
    "__proto__",
    "constructor",
    "",
    "ключ",
    "a".repeat(300),
  ];
  const scalar = (): unknown =>
    pick([
      () => null,
      () => rand() < 0.5,
      () => int(2 ** 31) - 2 ** 30,
      () => rand() * 1e308 * (rand() < 0.5 ? -1 : 1),
      () => Number.MAX_SAFE_INTEGER + int(1000),
      () => "",
      () => "x".repeat(int(40)),
      () => "driver_hourly_stats:conv_rate",
      () => "2024-01-01T00:00:00Z",
      () => "\u0000\ud800",
      () => "nope:nope",
    ])();
  const value = (depth: number): unknown => {
    if (depth <= 0 || rand() < 0.4) return scalar();
    if (rand() < 0.5) return Array.from({ length: int(5) }, () => value(depth - 1));
    return Object.fromEntries(Array.from({ length: int(5) }, () => [pick(KEYS), value(depth - 1)]));
  };
  /** A value that is never a valid `type` slot: used to break one field of a valid body. */
  const wrong = (): unknown =>
    pick([{ nested: { deep: [1, 2] } }, [[[]]], 12.5, true, -1, "", "\u0000", [{}], {}]);
  return { rand, int, pick, value, wrong };
}
