/** Feature repos with stream feature views over a test's broker, and helpers to watch them. */
import { join } from "node:path";
import { FeatureStore, writeTable } from "../../mod.ts";
import { readParquetFile } from "../../engine/offline/mod.ts";
import { createBroker, type StreamBroker } from "../../engine/streaming/mod.ts";
import type { StreamSourceSpec } from "../../registry/mod.ts";
import { type TempRepo, tempRepo } from "../support/repo.ts";

/** Where the test's brokers are. */
export interface Brokers {
  readonly redisUrl?: string;
  readonly natsServer?: string;
}

/**
 * Definitions: entity `driver`; stream source `trips` (field `ts`) over batch source
 * `trips_batch` (folder `data/trips/`, column `event_timestamp`); `trip_stats` (fare, trips;
 * writeTo both); `fares` (fare_x2 through a transform that throws on a fare of "boom";
 * online only).
 */
export function streamFeatures(
  broker: "redis" | "nats",
  stream: string,
  writeTo: "online" | "offline" | "both" = "both",
): string {
  return `
import { entity, fileSource, streamFeatureView, streamSource } from "larder";
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
const batch = fileSource({ name: "trips_batch", path: "data/trips/", timestampField: "event_timestamp" });
export const trips = streamSource({
  name: "trips",
  broker: "${broker}",
  stream: "${stream}",
  timestampField: "ts",
  batchSource: batch,
});
export const stats = streamFeatureView({
  name: "trip_stats",
  entities: [driver],
  schema: { fare: "float64", trips: "int64" },
  source: trips,
  writeTo: "${writeTo}",
});
export const fares = streamFeatureView({
  name: "fares",
  entities: [driver],
  schema: { fare_x2: "float64" },
  source: trips,
  writeTo: "online",
  transform: (e) => {
    if (e.fare?.some((f) => f === "boom")) throw new Error("boom in the transform");
    return {
      driver_id: e.driver_id ?? [],
      ts: e.ts ?? [],
      fare_x2: (e.fare ?? []).map((f) => (f === null || f === undefined ? null : Number(f) * 2)),
    };
  },
});
`;
}

/**
 * A repo over `brokers`, applied (without source checks: the batch source folder is empty
 * until the processor appends to it; `backfill` writes one row of driver 999 there first).
 */
export async function streamRepo(
  brokers: Brokers,
  options: {
    broker?: "redis" | "nats";
    stream: string;
    project?: string;
    backfill?: boolean;
    /** `trip_stats`'s writeTo. @default {"both"} */
    writeTo?: "online" | "offline" | "both";
  },
): Promise<TempRepo> {
  const broker = options.broker ?? "redis";
  const streaming = [
    "streaming:",
    ...(brokers.redisUrl ? ["  redis:", `    url: ${brokers.redisUrl}`] : []),
    ...(brokers.natsServer ? ["  nats:", `    servers: ["${brokers.natsServer}"]`] : []),
  ].join("\n");
  const repo = await tempRepo({
    "larder.yaml": `project: ${options.project ?? "streams"}\n${streaming}\n`,
    "features.ts": streamFeatures(broker, options.stream, options.writeTo),
  });
  if (options.backfill) {
    await writeTable(join(repo.dir, "data", "trips", "backfill.parquet"), {
      driver_id: [999],
      event_timestamp: [new Date("2025-01-01T00:00:00Z")],
      fare: [1],
      trips: [1],
    }, { driver_id: "int64", event_timestamp: "timestamp", fare: "float64", trips: "int64" });
  }
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply({ skipSourceValidation: true });
  } finally {
    await store.close();
  }
  return repo;
}

/** A producer on the repo's stream source. */
export async function producer(store: FeatureStore): Promise<StreamBroker> {
  const spec = (await store.registry.get("dataSource", "trips")).spec as StreamSourceSpec;
  return await createBroker(spec, store.config.streaming, { group: "producer", consumer: "p" });
}

/** Event `i` of driver `driver`: fare i, trips i, at a time that grows with i. */
export function tripEvent(driver: number, i: number): Record<string, unknown> {
  return {
    driver_id: driver,
    ts: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    fare: i,
    trips: i,
  };
}

/** Waits until `check` returns true, polling; throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Every row of the batch source's parts written by the processor (not the backfill file). */
export async function offlineRows(repoDir: string): Promise<Record<string, unknown>[]> {
  const dir = join(repoDir, "data", "trips");
  const rows: Record<string, unknown>[] = [];
  const entries = await Array.fromAsync(Deno.readDir(dir)).catch((err) => {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  });
  for (const e of entries) {
    if (!e.isFile || !e.name.startsWith("stream-") || !e.name.endsWith(".parquet")) continue;
    const table = await readParquetFile(join(dir, e.name));
    for (const r of table.toArray()) rows.push(r.toJSON() as Record<string, unknown>);
  }
  return rows;
}

/** The online values of `features` for drivers `ids`. */
export async function onlineValues(
  store: FeatureStore,
  features: string[],
  ids: number[],
): Promise<Record<string, unknown>[]> {
  const res = await store.getOnlineFeatures({ features, entities: { driver_id: ids } });
  return res.toRows();
}
