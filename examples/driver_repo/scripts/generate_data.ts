/**
 * Writes the demo's data: hourly statistics per driver over several weeks (with created
 * timestamps, a few late corrections and some missing values), and an entity table of
 * labelled driver events for training.
 *
 * Run: `deno run -A scripts/generate_data.ts [--end 2026-01-01T00:00:00Z]`
 */
import { parseTimestamp, timestampError, writeTable } from "larder";

/** Options for {@linkcode generateDriverData}. */
export interface GenerateOptions {
  /** Last hour of data (default: the current hour). */
  end?: Date;
  /** Number of drivers, ids 1001.. (default 50). */
  drivers?: number;
  /** Days of hourly history (default 28). */
  days?: number;
  /** PRNG seed (default 42). */
  seed?: number;
}

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes `data/driver_stats.parquet` and `data/driver_entities.parquet` under `repoDir`. */
export async function generateDriverData(
  repoDir: string,
  options: GenerateOptions = {},
): Promise<{ statsRows: number; entityRows: number }> {
  const hour = 3_600_000;
  const end = Math.floor((options.end ?? new Date()).getTime() / hour) * hour;
  const drivers = options.drivers ?? 50;
  const hours = (options.days ?? 28) * 24;
  const random = prng(options.seed ?? 42);

  const stats = {
    driver_id: [] as number[],
    event_timestamp: [] as number[],
    created: [] as number[],
    conv_rate: [] as (number | null)[],
    acc_rate: [] as (number | null)[],
    trips_today: [] as number[],
  };
  const push = (
    id: number,
    ts: number,
    created: number,
    conv: number | null,
    acc: number | null,
    trips: number,
  ) => {
    stats.driver_id.push(id);
    stats.event_timestamp.push(ts);
    stats.created.push(created);
    stats.conv_rate.push(conv);
    stats.acc_rate.push(acc);
    stats.trips_today.push(trips);
  };
  for (let d = 0; d < drivers; d++) {
    const id = 1001 + d;
    const skill = 0.3 + random() * 0.6;
    for (let h = hours - 1; h >= 0; h--) {
      const ts = end - h * hour;
      const conv = Math.min(1, Math.max(0, skill + (random() - 0.5) * 0.2));
      const acc = random() < 0.003 ? null : Math.min(1, Math.max(0, 0.5 + random() * 0.5));
      const trips = Math.floor(random() * 40 * skill);
      const created = ts + Math.floor(random() * 5 * 60_000);
      push(
        id,
        ts,
        created,
        Math.round(conv * 1000) / 1000,
        acc === null ? null : Math.round(acc * 1000) / 1000,
        trips,
      );
      // A late correction: same event time, created later, a revised value.
      if (random() < 0.005) {
        push(id, ts, created + hour, Math.round(Math.min(1, conv * 1.1) * 1000) / 1000, acc, trips);
      }
    }
  }

  const entities = {
    driver_id: [] as number[],
    event_timestamp: [] as number[],
    trip_completed: [] as boolean[],
  };
  const entityRows = 1000;
  for (let i = 0; i < entityRows; i++) {
    // Some ids past the fleet (no features) show that unmatched rows are kept.
    entities.driver_id.push(1001 + Math.floor(random() * (drivers + 2)));
    entities.event_timestamp.push(end - Math.floor(random() * hours * hour));
    entities.trip_completed.push(random() < 0.8);
  }

  await writeTable(`${repoDir}/data/driver_stats.parquet`, stats, {
    driver_id: "int64",
    event_timestamp: "timestamp",
    created: "timestamp",
    conv_rate: "float32",
    acc_rate: "float32",
    trips_today: "int64",
  });
  await writeTable(`${repoDir}/data/driver_entities.parquet`, entities, {
    driver_id: "int64",
    event_timestamp: "timestamp",
    trip_completed: "bool",
  });
  return { statsRows: stats.driver_id.length, entityRows };
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--end");
  const text = i >= 0 ? Deno.args[i + 1] ?? "" : undefined;
  const end = text === undefined ? undefined : parseTimestamp(text);
  if (text !== undefined && end === undefined) {
    console.error(`--end: ${timestampError(text)}`);
    Deno.exit(1);
  }
  const repoDir = new URL("..", import.meta.url).pathname;
  const result = await generateDriverData(repoDir, end ? { end } : {});
  console.log(
    `Wrote ${result.statsRows} driver statistics rows and ${result.entityRows} entity rows.`,
  );
}
