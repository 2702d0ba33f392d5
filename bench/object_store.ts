/**
 * `deno task bench object_store [--rows N]`: historical retrieval over a ~1 GB Parquet source
 * in object storage (a real s3rver on loopback) against the same retrieval over the local
 * file. Reports the bytes fetched beside the file's size, and both times.
 *
 * The source: N rows (default 20M: ~1 GB) of `driver_id` (100k keys), `event_timestamp` over
 * 365 days in time order, and six float64 features, in row groups of 1M rows. Two retrievals
 * of two features for 10k entity rows (ttl one day):
 * - `recent`: entity times in the last three days: the row groups' time statistics leave
 *   only the last few row groups, and only four of eight columns are fetched;
 * - `year`: entity times over the whole year: every row group, still four of eight columns.
 */
import { join } from "node:path";
import {
  Field,
  Float64,
  Int64,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  tableToIPC,
  Timestamp,
  TimeUnit,
} from "apache-arrow";
import { DuckDBOfflineStore } from "../engine/offline/mod.ts";
import { encodeParquetStream } from "../engine/offline/parquet.ts";
import { ObjectStore, setDefaultObjectStore } from "../engine/object_store/mod.ts";
import type { FeatureViewSpec, FileSourceSpec } from "../registry/mod.ts";
import { entity, featureView, fileSource } from "../tests/support/specs.ts";
import { startS3rver } from "../tests/support/s3rver.ts";

const args = Deno.args;
const rowsArg = args.indexOf("--rows");
const ROWS = rowsArg >= 0 ? Number(args[rowsArg + 1]) : 20_000_000;
const CHUNK = 1_000_000;
const KEYS = 100_000;
const DAY_MS = 86_400_000;
const T0_MS = Date.UTC(2024, 0, 1);
const SPAN_MS = 365 * DAY_MS;
const FEATURES = ["f1", "f2", "f3", "f4", "f5", "f6"];

const dataDir = join(new URL(".", import.meta.url).pathname, ".data", "object_store");
const file = join(dataDir, `source_${ROWS}.parquet`);

let seed = 42;
function random(): number {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}

function chunk(start: number, rows: number): Uint8Array {
  const ids = new BigInt64Array(rows);
  const ts = new BigInt64Array(rows);
  for (let i = 0; i < rows; i++) {
    ids[i] = BigInt(Math.floor(random() * KEYS));
    ts[i] = BigInt(Math.floor(((start + i) / ROWS) * SPAN_MS) + T0_MS) * 1000n;
  }
  const fields = [
    new Field("driver_id", new Int64(), false),
    new Field("event_timestamp", new Timestamp(TimeUnit.MICROSECOND, "UTC"), false),
    ...FEATURES.map((f) => new Field(f, new Float64(), false)),
  ];
  const columns = [
    makeData({ type: new Int64(), data: ids }),
    makeData({ type: new Timestamp(TimeUnit.MICROSECOND, "UTC"), data: ts }),
    ...FEATURES.map(() =>
      // Math.random: full-precision values, which compress as little as real measurements.
      makeData({ type: new Float64(), data: Float64Array.from({ length: rows }, Math.random) })
    ),
  ];
  const schema = new Schema(fields);
  const batch = new RecordBatch(
    schema,
    makeData({ type: new Struct(fields), length: rows, children: columns }),
  );
  return tableToIPC(new Table(schema, [batch]), "stream");
}

async function ensureData(): Promise<number> {
  try {
    return (await Deno.stat(file)).size;
  } catch {
    // Generate below.
  }
  await Deno.mkdir(dataDir, { recursive: true });
  const started = performance.now();
  async function* batches() {
    for (let at = 0; at < ROWS; at += CHUNK) yield chunk(at, Math.min(CHUNK, ROWS - at));
  }
  const tmp = `${file}.tmp`;
  const out = await Deno.open(tmp, { write: true, create: true, truncate: true });
  for await (const piece of encodeParquetStream(batches())) await out.write(piece);
  out.close();
  await Deno.rename(tmp, file);
  const size = (await Deno.stat(file)).size;
  console.log(
    `generated ${file}: ${ROWS} rows, ${mb(size)} in ${secs(performance.now() - started)}`,
  );
  return size;
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

const size = await ensureData();
const s3 = await startS3rver({ buckets: ["bench"], readyTimeoutMs: 60_000 });
const objects = new ObjectStore({ ...s3.settings, timeoutMs: 600_000 });
setDefaultObjectStore(objects);
const url = "s3://bench/source.parquet";
try {
  const uploadStart = performance.now();
  await objects.put(url, await Deno.readFile(file));
  console.log(`uploaded to s3rver in ${secs(performance.now() - uploadStart)}`);

  const driver = entity("driver", ["driver_id"]);
  const view: FeatureViewSpec = featureView("stats", {
    entities: ["driver"],
    source: "stats",
    ttlSeconds: 86_400,
    features: FEATURES.map((name) => ({ name, type: "float64" as const })),
  });
  const offline = new DuckDBOfflineStore({ memoryLimit: "3GB" });
  await offline.ready();

  const scenarios = {
    recent: { from: T0_MS + SPAN_MS - 3 * DAY_MS, span: 3 * DAY_MS },
    year: { from: T0_MS + DAY_MS, span: SPAN_MS - DAY_MS },
  };
  const lines: string[] = [];
  for (const [name, window] of Object.entries(scenarios)) {
    const entities = Array.from({ length: 10_000 }, () => ({
      driver_id: Math.floor(random() * KEYS),
      event_timestamp: new Date(window.from + Math.floor(random() * window.span)),
    }));
    const run = async (source: FileSourceSpec) => {
      const started = performance.now();
      const job = await offline.getHistoricalFeatures({
        repoDir: dataDir,
        entityTable: entities,
        views: [{ view, source, entities: [driver], features: ["f1", "f2"] }],
      });
      const table = await job.toArrow();
      const found = table.getChild("f1")!.toArray().filter((v: unknown) => v !== null).length;
      return { ms: performance.now() - started, rows: table.numRows, found };
    };
    const local = await run(fileSource("stats", file));
    const before = { ...objects.stats };
    const remote = await run(fileSource("stats", url));
    const fetched = objects.stats.bytesFetched - before.bytesFetched;
    const requests = objects.stats.requests - before.requests;
    if (local.rows !== remote.rows || local.found !== remote.found) {
      console.log(
        `WARNING: ${name}: local and remote disagree (${local.found} vs ${remote.found})`,
      );
    }
    lines.push(
      `${name}: ${remote.rows} entity rows, ${remote.found} with features | fetched ${
        mb(fetched)
      } of ${mb(size)} (${(100 * fetched / size).toFixed(1)}%) in ${requests} requests | remote ${
        secs(remote.ms)
      }, local file ${secs(local.ms)} (remote/local ${(remote.ms / local.ms).toFixed(2)}x)`,
    );
  }
  await offline.close();
  console.log(`RESULT object_store (${ROWS} rows, ${mb(size)}, 2 cores)`);
  console.log(lines.join("\n"));
} finally {
  await s3.stop();
}
