/**
 * Seeded random data for `trip_features.ts` and a brute-force oracle of what joining `weather`
 * on a trip's origin and destination must give, written independently of the engine: for each
 * trip and each end, scan every weather row.
 */
import { join } from "node:path";
import { writeTable } from "../../engine/mod.ts";
import { prng } from "./prng.ts";

export type WeatherRow = {
  readonly location_id: number;
  readonly event_timestamp: Date;
  readonly temperature: number | null;
  readonly humidity: number | null;
};

/** A row of the entity table (a type, not an interface: entity rows are records). */
export type Trip = {
  readonly trip_id: number;
  readonly origin_id: number;
  readonly destination_id: number;
  readonly event_timestamp: Date;
};

export const T0 = Date.UTC(2024, 0, 1);
const MINUTE = 60_000;
/** The weather view's ttl. */
export const TTL_MS = 6 * 3600_000;
/** Locations 0..LOCATIONS-1 have weather; trips also go to locations without any. */
const LOCATIONS = 12;

/** Random weather rows (no two at the same time) and trips, from `seed`. */
export function tripData(seed: number): { weather: WeatherRow[]; trips: Trip[] } {
  const rand = prng(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const minutes = new Set<number>();
  while (minutes.size < 500) minutes.add(int(2 * 24 * 60));
  const weather = [...minutes].map((m): WeatherRow => ({
    location_id: int(LOCATIONS),
    event_timestamp: new Date(T0 + m * MINUTE),
    temperature: rand() < 0.1 ? null : Math.round(rand() * 4000) / 100 - 5,
    humidity: rand() < 0.1 ? null : int(100),
  }));
  const trips = Array.from({ length: 300 }, (_, i): Trip => {
    const pick = rand();
    const row = weather[int(weather.length)]!;
    // Some trips start where and when a row is, or exactly one ttl later (both bounds count).
    const origin = pick < 0.2 ? row.location_id : int(LOCATIONS + 2);
    const at = pick < 0.1
      ? row.event_timestamp
      : pick < 0.2
      ? new Date(row.event_timestamp.getTime() + TTL_MS)
      : new Date(T0 + (int(2 * 24 * 60 + 240) - 120) * MINUTE);
    return {
      trip_id: i,
      origin_id: origin,
      // Sometimes both ends at one place; some places have no weather.
      destination_id: rand() < 0.1 ? origin : int(LOCATIONS + 2),
      event_timestamp: at,
    };
  });
  return { weather, trips };
}

/** Writes `data/weather.parquet` and an empty-ish `data/riders.parquet` under `repoDir`. */
export async function writeTripData(
  repoDir: string,
  weather: readonly WeatherRow[],
): Promise<void> {
  await writeTable(join(repoDir, "data/weather.parquet"), {
    location_id: weather.map((r) => r.location_id),
    event_timestamp: weather.map((r) => r.event_timestamp),
    temperature: weather.map((r) => r.temperature),
    humidity: weather.map((r) => r.humidity),
  }, {
    location_id: "int64",
    event_timestamp: "timestamp",
    temperature: "float64",
    humidity: "int64",
  });
  await writeTable(join(repoDir, "data/riders.parquet"), {
    rider_id: [1, 2],
    event_timestamp: [new Date(T0), new Date(T0)],
    rating: [4.5, 3.9],
  }, { rider_id: "int64", event_timestamp: "timestamp", rating: "float64" });
}

/** The weather row in force at `location` at `at` (within `ttlMs`, both bounds inclusive). */
export function weatherAt(
  weather: readonly WeatherRow[],
  location: number,
  at: Date,
  ttlMs: number | null = TTL_MS,
): WeatherRow | undefined {
  let best: WeatherRow | undefined;
  for (const row of weather) {
    const t = row.event_timestamp.getTime();
    if (row.location_id !== location || t > at.getTime()) continue;
    if (ttlMs !== null && t < at.getTime() - ttlMs) continue;
    if (!best || t > best.event_timestamp.getTime()) best = row;
  }
  return best;
}

/** The newest weather row of `location`, whatever its age (what materialize keeps online). */
export function latestWeather(
  weather: readonly WeatherRow[],
  location: number,
): WeatherRow | undefined {
  return weatherAt(weather, location, new Date(8.64e15), null);
}
