/**
 * The feature server in process, on real stores: a temporary feature repo applied with
 * `FeatureStore`, its file registry, a SQLite online store file in the repo, and the real
 * Hono app, driven with `app.request()`.
 */
import { join } from "node:path";
import { FeatureStore, writeTable } from "../../engine/mod.ts";
import {
  type AuthVerifier,
  createApp,
  depsFromFeatureStore,
  type ServerConfig,
  type ServerDeps,
  type WiredDeps,
} from "../../server/mod.ts";
import { type TempRepo, tempRepo } from "../support/repo.ts";

/** Two views of one entity, a push source, and a service over both. */
export const SERVER_FEATURES = `
import { entity, featureService, featureView, fileSource, pushSource } from "larder";
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
export const statsSource = fileSource({
  name: "driver_stats_source",
  path: "data/driver_stats",
  timestampField: "event_timestamp",
  createdTimestampColumn: "created",
});
export const statsPush = pushSource({ name: "driver_stats_push", batchSource: statsSource });
export const stats = featureView({
  name: "driver_hourly_stats",
  entities: [driver],
  schema: { conv_rate: "float32", acc_rate: "float32" },
  source: statsPush,
  tags: { team: "ml" },
});
export const tripsSource = fileSource({
  name: "driver_trips_source",
  path: "data/trips/*.parquet",
  timestampField: "event_timestamp",
});
export const trips = featureView({
  name: "driver_trips",
  entities: [driver],
  schema: { trips_today: "int64", rating: "float64" },
  source: tripsSource,
});
export const activity = featureService({ name: "driver_activity", features: [stats, trips] });
export const ratings = featureService({ name: "driver_ratings", features: [trips] });
`;

/** SERVER_FEATURES plus an on-demand view "scaled" (x = conv_rate × the request field k). */
export const SERVER_FEATURES_ON_DEMAND = SERVER_FEATURES.replace(
  'import { entity, featureService, featureView, fileSource, pushSource } from "larder";',
  'import { entity, featureService, featureView, fileSource, onDemandFeatureView, pushSource, requestSource } from "larder";',
) + `
export const req = requestSource({ name: "req", schema: { k: "float64" } });
export const scaled = onDemandFeatureView({
  name: "scaled",
  sources: [stats, req],
  schema: { x: "float64" },
  transform: (c) => ({ x: c.conv_rate.map((v, i) => (v === null || c.k[i] == null ? null : v * c.k[i]!)) }),
});
`;

/** Rows of the stats source: drivers 1001..1000+n, hourly, in 2024-01-01. */
export async function writeStatsData(repoDir: string, drivers = 3): Promise<void> {
  const ids: number[] = [];
  const ts: string[] = [];
  const created: string[] = [];
  const conv: number[] = [];
  const acc: number[] = [];
  for (let d = 0; d < drivers; d++) {
    for (let h = 0; h < 3; h++) {
      ids.push(1001 + d);
      ts.push(`2024-01-01T0${h}:00:00Z`);
      created.push(`2024-01-01T0${h}:00:01Z`);
      conv.push(0.25 * h + d / 100);
      acc.push(0.5);
    }
  }
  await writeTable(
    join(repoDir, "data/driver_stats/part-0.parquet"),
    { driver_id: ids, event_timestamp: ts, created, conv_rate: conv, acc_rate: acc },
    {
      driver_id: "int64",
      event_timestamp: "timestamp",
      created: "timestamp",
      conv_rate: "float32",
      acc_rate: "float32",
    },
  );
  await writeTable(
    join(repoDir, "data/trips/part-0.parquet"),
    {
      driver_id: [1001, 1002],
      event_timestamp: ["2024-01-01T05:00:00Z", "2024-01-01T05:00:00Z"],
      trips_today: [7, 3],
      rating: [4.5, 4.9],
    },
    { driver_id: "int64", event_timestamp: "timestamp", trips_today: "int64", rating: "float64" },
  );
}

/** Options for {@linkcode startServer}. */
export interface StartServerOptions {
  /** `features.ts`. @default SERVER_FEATURES */
  readonly features?: string;
  /** Extra lines appended to `larder.yaml` (after `project:`). */
  readonly yaml?: string;
  readonly auth?: AuthVerifier;
  readonly config?: Omit<ServerConfig, "featureServices">;
  /** Write the source files. @default true */
  readonly data?: boolean;
  /** Change the deps before the app is built. */
  readonly deps?: (deps: ServerDeps) => ServerDeps;
  /** @default () => new Date() */
  readonly clock?: () => Date;
  /** Where the app and the registry cache report failures. @default () => {} */
  readonly logError?: (err: unknown) => void;
}

// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;

/** A running in-process server. */
export interface TestServer {
  readonly repo: TempRepo;
  readonly store: FeatureStore;
  readonly wired: WiredDeps;
  readonly app: ReturnType<typeof createApp>;
  /** Sends a request; a non-string `body` is sent as JSON. */
  request(
    method: string,
    path: string,
    options?: { body?: unknown; headers?: Record<string, string> },
  ): Promise<{ status: number; json: Json; text: string; headers: Headers }>;
  close(): Promise<void>;
}

/** Creates, applies and serves a temporary feature repo. */
export async function startServer(options: StartServerOptions = {}): Promise<TestServer> {
  const repo = await tempRepo({
    "larder.yaml": `project: test_project\n${options.yaml ?? ""}`,
    "features.ts": options.features ?? SERVER_FEATURES,
  });
  let store: FeatureStore | undefined;
  let wired: WiredDeps | undefined;
  try {
    if (options.data ?? true) await writeStatsData(repo.dir);
    store = await FeatureStore.open({ repo: repo.dir });
    await store.apply({ skipSourceValidation: true });
    wired = await depsFromFeatureStore(store, {
      ...(options.auth ? { auth: options.auth } : {}),
      ...(options.config ? { config: options.config } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      logError: options.logError ?? (() => {}),
    });
    const app = createApp(options.deps ? options.deps(wired.deps) : wired.deps);
    const s = store;
    const w = wired;
    return {
      repo,
      store: s,
      wired: w,
      app,
      async request(method, path, init = {}) {
        const body = init.body === undefined
          ? undefined
          : typeof init.body === "string" || init.body instanceof Uint8Array ||
              init.body instanceof ReadableStream
          ? init.body as BodyInit
          : JSON.stringify(init.body);
        const res = await app.request(path, {
          method,
          ...(body !== undefined ? { body } : {}),
          headers: { "content-type": "application/json", ...init.headers },
        });
        const text = await res.text();
        let json: Json = {};
        try {
          json = JSON.parse(text);
        } catch {
          // not JSON (metrics, docs)
        }
        return { status: res.status, json, text, headers: res.headers };
      },
      async close() {
        await w.close();
        await s.close();
        await repo.remove();
      },
    };
  } catch (err) {
    await wired?.close();
    await store?.close();
    await repo.remove();
    throw err;
  }
}

/** Rows for `/write-to-online-store` of `driver_hourly_stats`. */
export function statsRows(
  ids: number[],
  ts = "2024-01-01T10:00:00Z",
  conv = 0.5,
): Record<string, unknown[]> {
  return {
    driver_id: ids,
    event_timestamp: ids.map(() => ts),
    conv_rate: ids.map((_, i) => conv + i / 10),
    acc_rate: ids.map(() => 0.9),
  };
}
