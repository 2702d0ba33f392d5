/** Temporary feature repos for tests: real folders with larder.yaml and definition modules. */
import { dirname, join } from "node:path";

/** A temporary feature repo. */
export interface TempRepo {
  readonly dir: string;
  /** Writes (or replaces) a file relative to the repo. */
  write(file: string, text: string): Promise<void>;
  /** Reads a file relative to the repo, or `null` when it does not exist. */
  read(file: string): Promise<string | null>;
  remove(): Promise<void>;
}

/** The definitions most tests start from. */
export const DRIVER_FEATURES = `
import { entity, featureService, featureView, fileSource } from "larder";
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
export const source = fileSource({
  name: "driver_stats_source",
  path: "data/driver_stats.parquet",
  timestampField: "event_timestamp",
  createdTimestampColumn: "created",
});
export const stats = featureView({
  name: "driver_hourly_stats",
  entities: [driver],
  ttl: "2h",
  schema: { conv_rate: "float32", acc_rate: "float32" },
  source,
});
export const activity = featureService({ name: "driver_activity", features: [stats] });
`;

/**
 * A view `stats` (x) of entity `user` over `data/s.parquet` (user_id, ts, x), a request source
 * `req` (k) and the on-demand view `scaled` (y = x * k).
 */
export const SCALED_FEATURES = `
import { entity, featureView, fileSource, onDemandFeatureView, requestSource } from "larder";
export const user = entity({ name: "user", joinKeys: ["user_id"], valueType: "int64" });
export const source = fileSource({ name: "s", path: "data/s.parquet", timestampField: "ts" });
export const stats = featureView({ name: "stats", entities: [user], schema: { x: "float64" }, source });
export const req = requestSource({ name: "req", schema: { k: "float64" } });
export const scaled = onDemandFeatureView({
  name: "scaled",
  sources: [stats, req],
  schema: { y: "float64" },
  transform: (c) => ({ y: c.x.map((x, i) => (x === null || c.k[i] == null ? null : x * c.k[i]!)) }),
});
`;

/** Creates a repo with `files` (default: a larder.yaml for `project` and DRIVER_FEATURES). */
export async function tempRepo(
  files: Record<string, string> = {},
  options: { project?: string } = {},
): Promise<TempRepo> {
  const dir = await Deno.makeTempDir({ prefix: "larder-repo-" });
  const repo: TempRepo = {
    dir,
    async write(file, text) {
      await Deno.mkdir(dirname(join(dir, file)), { recursive: true });
      await Deno.writeTextFile(join(dir, file), text);
    },
    async read(file) {
      try {
        return await Deno.readTextFile(join(dir, file));
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) return null;
        throw err;
      }
    },
    remove: () => Deno.remove(dir, { recursive: true }),
  };
  const all = {
    "larder.yaml": `project: ${options.project ?? "test_project"}\n`,
    "features.ts": DRIVER_FEATURES,
    ...files,
  };
  for (const [file, text] of Object.entries(all)) await repo.write(file, text);
  return repo;
}
