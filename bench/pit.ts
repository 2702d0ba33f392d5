/**
 * Point-in-time join benchmark (not a test).
 *
 *   deno run -A bench/pit.ts [small|large|large1|huge] [--timeout-b SECONDS] [--runs N]
 *     [--only abcdnf] [--memory-limit 2GB]
 *
 * small: 100k entity rows × 1 view of 1M rows; large: 1M entity rows × 3 views of 10M rows;
 * large1: the large data with one view (where Feast's template still fits in WASM memory);
 * huge: 1M entity rows × 1 view of 100M rows (about 2.9 GB of Parquet, written by native
 * DuckDB), beyond the WASM heap.
 * On the same generated Parquet data (cached in bench/.data/), each in its own process so that
 * peak RSS is its own:
 *   (a) Larder: DuckDBOfflineStore.getHistoricalFeatures() streamed to Arrow batches, with the
 *       default `offline_store.memory_limit` (engine/config.ts) unless `--memory-limit`;
 *   (b) Feast's SQL template on the same DuckDB-WASM, data loaded the same way, at the 3.5 GB
 *       WASM ceiling (its best chance);
 *   (c) native DuckDB (@duckdb/node-api, 1 thread) running Larder's SQL: the same `joinAll`
 *       statements, sources read by DuckDB's own Parquet reader with the same projection and
 *       pruning;
 *   (d) the on-demand overhead: (a)'s request without and with an on-demand view over view_0,
 *       through `historicalFeatures` (as `FeatureStore.getHistoricalFeatures`), alternating in
 *       one process, median of the warm runs (bench/_pit_on_demand.ts);
 *   (n) Larder on the native engine (`offline_store.engine: native`): (a)'s call on every core,
 *       at the same `memory_limit`, spilling beyond it;
 *   (f) Feast's SQL template on native DuckDB, every core, at the same `memory_limit`, sources
 *       loaded as (n) loads them.
 * Times are wall clock for load + join + reading the whole result, engine start excluded (it
 * is printed apart); CPU seconds of the process are printed too (wall time is noisy when the
 * machine is shared). Each process runs the join `--runs` times (default 3 small, 1 large) and
 * reports the last run; the first run is cold (WASM code not yet optimized by V8).
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { DuckDB, DuckDBOfflineStore, type ViewRequest } from "../engine/offline/mod.ts";
import { OfflineStoreConfigSchema } from "../engine/config.ts";
import {
  loadEntities,
  loadSource,
  type LoadSourceOptions,
  sourceFilter,
  sourceProjection,
  tempName,
} from "../engine/offline/_load.ts";
import {
  joinAll,
  type PitStage,
  type SqlRunner,
  type StageListener,
} from "../engine/offline/_pit_sql.ts";
import { ident, str } from "../engine/offline/_sql.ts";
import { joinKeysOf, sourceLayout } from "../engine/offline/source_compatibility.ts";
import type { EntitySpec, FeatureViewSpec, FileSourceSpec } from "../registry/mod.ts";
import { type BenchSize, dataDir, ensureData, SIZES, TTL_SECONDS } from "./_pit_data.ts";
import { feastSql } from "./_feast_sql.ts";
import { cpuSeconds, onDemandChild, onDemandSection } from "./_pit_on_demand.ts";

type Engine = "a" | "b" | "c" | "n" | "f";

interface EngineResult {
  engine: Engine;
  /** Wall time of each run in the process (the first is cold: WASM code not yet optimized). */
  runs: number[];
  /** Starting the engine, not included in `runs`. */
  startSeconds: number;
  seconds: number;
  /** CPU time of the process during the last run (all threads). */
  cpuSeconds: number;
  /** Time per phase of the last run ((a) and (c)). */
  phases?: Phases;
  rows: number;
  /** Non-null values of each view's first feature, to check that the engines agree. */
  nonNull: number[];
  peakRssMiB: number;
  /** DuckDB `memory_limit` of the run ("" for (c), native DuckDB with no limit set). */
  memoryLimit: string;
}

const FEATURES = ["f1", "f2", "f3"] as const;
const driver: EntitySpec = {
  name: "driver",
  description: "",
  tags: {},
  owner: "",
  joinKeys: ["driver_id"],
  valueType: "int64",
};

function viewSpecs(size: BenchSize): ViewRequest<FileSourceSpec>[] {
  return Array.from({ length: size.views }, (_, v) => {
    const source: FileSourceSpec = {
      name: `source_${v}`,
      description: "",
      tags: {},
      owner: "",
      kind: "file",
      path: `view_${v}`,
      format: "parquet",
      timestampField: "event_timestamp",
      createdTimestampColumn: "created",
      fieldMapping: {},
    };
    const view: FeatureViewSpec = {
      name: `view_${v}`,
      description: "",
      tags: {},
      owner: "",
      entities: ["driver"],
      ttlSeconds: TTL_SECONDS,
      features: [
        { name: "f1", type: "float32" },
        { name: "f2", type: "float64" },
        { name: "f3", type: "int64" },
      ],
      source: source.name,
      online: true,
      offline: true,
    };
    return { view, source, entities: [driver], features: [...FEATURES] };
  });
}

function peakRssMiB(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

/** Wall and CPU seconds of each phase: loading sources, the joins, streaming the result out. */
interface Phases {
  load: [number, number];
  join: [number, number];
  output: [number, number];
}

/** Sums the time between stage events into phases (the last phase ends at `finish()`). */
function phaseClock(): { onStage: StageListener; finish: () => Phases } {
  const phases: Phases = { load: [0, 0], join: [0, 0], output: [0, 0] };
  let current: { phase: keyof Phases; wall: number; cpu: number } | undefined;
  const close = () => {
    if (!current) return;
    phases[current.phase][0] += (performance.now() - current.wall) / 1000;
    phases[current.phase][1] += cpuSeconds() - current.cpu;
  };
  return {
    onStage: (stage) => {
      close();
      current = { phase: stage.phase, wall: performance.now(), cpu: cpuSeconds() };
    },
    finish: () => {
      close();
      current = undefined;
      return phases;
    },
  };
}

/** (a) Larder's engine, end to end. */
type RunResult = {
  seconds: number;
  cpuSeconds: number;
  rows: number;
  nonNull: number[];
  phases?: Phases;
};

async function runA(size: BenchSize, store: DuckDBOfflineStore): Promise<RunResult> {
  const dir = dataDir(size);
  const start = performance.now();
  const cpu = cpuSeconds();
  const clock = phaseClock();
  const job = await store.getHistoricalFeatures({
    repoDir: dir,
    entityTable: "entities.parquet",
    views: viewSpecs(size),
    fullFeatureNames: true,
    onStage: clock.onStage,
  });
  let rows = 0;
  const nonNull = new Array<number>(size.views).fill(0);
  for await (const batch of job.batches()) {
    rows += batch.numRows;
    for (let v = 0; v < size.views; v++) {
      const column = batch.getChild(`view_${v}__f1`)!;
      nonNull[v]! += column.length - column.nullCount;
    }
  }
  const phases = clock.finish();
  const seconds = (performance.now() - start) / 1000;
  return { seconds, cpuSeconds: cpuSeconds() - cpu, rows, nonNull, phases };
}

/** (b), (f) Feast's template on DuckDB (WASM or native), sources loaded as Larder loads them. */
async function runB(size: BenchSize, db: DuckDB): Promise<RunResult> {
  const dir = dataDir(size);
  const session = await db.connect();
  const start = performance.now();
  const cpu = cpuSeconds();
  const entities = await loadEntities(session, join(dir, "entities.parquet"), { repoDir: dir });
  const [range] = await session.rows(
    `SELECT epoch_us(min(event_timestamp)) AS low, epoch_us(max(event_timestamp)) AS high FROM ${
      ident(entities.table)
    }`,
  );
  const low = BigInt(range!.low as bigint) - BigInt(TTL_SECONDS) * 1_000_000n;
  const high = BigInt(range!.high as bigint);
  const views = [];
  for (const [v, request] of viewSpecs(size).entries()) {
    const table = tempName("feast_source");
    const files = [...Deno.readDirSync(join(dir, `view_${v}`))].map((e) =>
      join(dir, `view_${v}`, e.name)
    )
      .sort();
    await loadSource(session, {
      source: request.source,
      files,
      ...loadingOf(request),
      low,
      high,
      table,
    });
    views.push({
      name: `view_${v}`,
      table,
      keys: ["driver_id"],
      ttlSeconds: TTL_SECONDS,
      features: [...FEATURES],
    });
  }
  let rows = 0;
  const nonNull = new Array<number>(size.views).fill(0);
  for await (const batch of session.stream(feastSql(entities.table, "event_timestamp", views))) {
    rows += batch.numRows;
    for (let v = 0; v < size.views; v++) {
      const column = batch.getChild(`view_${v}__f1`)!;
      nonNull[v]! += column.length - column.nullCount;
    }
  }
  const seconds = (performance.now() - start) / 1000;
  await session.close();
  return { seconds, cpuSeconds: cpuSeconds() - cpu, rows, nonNull };
}

/** How Larder's loader reads a view's source: the same layout and types as (a) uses. */
function loadingOf(request: ViewRequest<FileSourceSpec>) {
  return {
    layout: sourceLayout(request.view, request.source, request.entities, request.features),
    keyTypes: joinKeysOf(request.view, request.entities).keys.map((k) => k.type),
    featureTypes: request.features.map((name) =>
      request.view.features.find((f) => f.name === name)!.type
    ),
  };
}

/** (c) Native DuckDB, one thread, Larder's SQL (same pruning, same staged plan). */
type NativeInstance = Awaited<
  ReturnType<typeof import("@duckdb/node-api").DuckDBInstance.create>
>;

async function runC(size: BenchSize, instance: NativeInstance): Promise<RunResult> {
  const dir = dataDir(size);
  const conn = await instance.connect();
  const runner: SqlRunner = {
    exec: async (sql) => {
      await conn.run(sql);
    },
    rows: async (sql) => (await conn.runAndReadAll(sql)).getRowObjects(),
  };
  const start = performance.now();
  const cpu = cpuSeconds();
  const entityTable = "entities";
  await conn.run(
    `CREATE TEMP TABLE ${entityTable} AS SELECT * FROM read_parquet(${
      str(join(dir, "entities.parquet"))
    })`,
  );
  const ttlMicros = BigInt(TTL_SECONDS) * 1_000_000n;
  const stages: PitStage[] = viewSpecs(size).map((request, v) => ({
    name: request.view.name,
    keys: ["driver_id"],
    load: async (stats) => {
      const table = `source_${v}`;
      // The options Larder's loadSource gets (engine/offline/historical.ts, loadView).
      const options: LoadSourceOptions = {
        source: request.source,
        files: [],
        ...loadingOf(request),
        low: stats.low === undefined ? undefined : stats.low - ttlMicros,
        high: stats.high,
        keyRanges: [stats.keyRanges.get("driver_id")],
        dropNullKeys: true,
        table,
      };
      await conn.run(
        `CREATE TEMP TABLE ${table} AS SELECT ${sourceProjection(options)} FROM read_parquet(${
          str(join(dir, `view_${v}`, "*.parquet"))
        }) WHERE ${sourceFilter(options)}`,
      );
      return {
        table,
        keys: ["driver_id"],
        ttlMicros,
        hasCreated: true,
        features: FEATURES.map((f) => ({ column: f, output: `view_${v}__${f}` })),
      };
    },
  }));
  const clock = phaseClock();
  const sql = await joinAll(runner, entityTable, "event_timestamp", stages, {
    filterByCreatedTimestamp: false,
    onStage: clock.onStage,
  });
  const stream = await conn.stream(sql);
  let rows = 0;
  for (;;) {
    const chunk = await stream.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    rows += chunk.rowCount;
  }
  const phases = clock.finish();
  const seconds = (performance.now() - start) / 1000;
  const cpuUsed = cpuSeconds() - cpu;
  // Untimed: the same checksums as (a) and (b).
  const nonNull: number[] = [];
  const counts = (await conn.runAndReadAll(
    `SELECT ${
      Array.from({ length: size.views }, (_, v) => `count(view_${v}__f1)::BIGINT AS c${v}`).join(
        ", ",
      )
    } FROM (${sql})`,
  )).getRowObjects()[0]!;
  for (let v = 0; v < size.views; v++) nonNull.push(Number(counts[`c${v}`]));
  conn.closeSync();
  return { seconds, cpuSeconds: cpuUsed, rows, nonNull, phases };
}

/** The `memory_limit` (a) runs with: `--memory-limit`, else the configuration default. */
function larderMemoryLimit(override: string | undefined): string {
  const config = OfflineStoreConfigSchema.parse({});
  return override ?? (config.type === "duckdb" ? config.memory_limit : "2GB");
}

async function child(
  size: BenchSize,
  engine: Engine,
  runs: number,
  memoryLimitOverride: string | undefined,
): Promise<void> {
  const started = performance.now();
  let run: () => Promise<RunResult>;
  let close: () => Promise<void>;
  const memoryLimit = engine === "b"
    ? size.memoryLimit
    : engine === "c"
    ? ""
    : larderMemoryLimit(memoryLimitOverride);
  if (engine === "a" || engine === "n") {
    const store = new DuckDBOfflineStore({
      memoryLimit,
      ...(engine === "n" ? { engine: "native" as const } : {}),
    });
    await store.ready();
    run = () => runA(size, store);
    close = () => store.close();
  } else if (engine === "b" || engine === "f") {
    const db = await DuckDB.open({
      memoryLimit,
      ...(engine === "f" ? { engine: "native" as const } : {}),
    });
    run = () => runB(size, db);
    close = () => db.close();
  } else {
    const { DuckDBInstance } = await import("@duckdb/node-api");
    const instance = await DuckDBInstance.create(":memory:", { threads: "1" });
    run = () => runC(size, instance);
    close = () => Promise.resolve(instance.closeSync());
  }
  const startSeconds = (performance.now() - started) / 1000;
  const results: RunResult[] = [];
  const runStarted = performance.now();
  try {
    for (let i = 0; i < runs; i++) results.push(await run());
  } catch (err) {
    // Reported as such (e.g. Feast's template out of WASM memory), with what it used.
    console.log(`FAILED ${
      JSON.stringify({
        message: err instanceof Error ? err.message.split("\n")[0] : String(err),
        seconds: (performance.now() - runStarted) / 1000,
        peakRssMiB: peakRssMiB(),
        memoryLimit,
      })
    }`);
    Deno.exit(1);
  }
  await close();
  const last = results[results.length - 1]!;
  console.log(`RESULT ${
    JSON.stringify({
      engine,
      ...last,
      runs: results.map((r) => r.seconds),
      startSeconds,
      peakRssMiB: peakRssMiB(),
      memoryLimit,
    })
  }`);
}

async function spawn(
  size: BenchSize,
  engine: Engine,
  timeoutSeconds: number,
  runs: number,
  memoryLimit: string | undefined,
): Promise<EngineResult | string> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutSeconds * 1000);
  const started = performance.now();
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        import.meta.filename!,
        size.name,
        "--engine",
        engine,
        "--runs",
        `${runs}`,
        ...(memoryLimit ? ["--memory-limit", memoryLimit] : []),
      ],
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
    const text = new TextDecoder().decode(output.stdout);
    const line = text.split("\n").find((l) => l.startsWith("RESULT "));
    const failed = text.split("\n").find((l) => l.startsWith("FAILED "));
    if (failed) {
      const f = JSON.parse(failed.slice("FAILED ".length));
      const oom = /out of memory/i.test(f.message);
      return `did not finish: ${
        oom ? `out of memory at memory_limit ${f.memoryLimit}` : "failed"
      } after ${f.seconds.toFixed(1)} s, peak RSS ${f.peakRssMiB} MiB (${f.message.slice(0, 300)})`;
    }
    if (!line) {
      if (controller.signal.aborted) return `did not finish in ${timeoutSeconds} s`;
      const err = new TextDecoder().decode(output.stderr).split("\n").filter((l) =>
        !l.includes("Warning")
      ).slice(-5)
        .join(" | ");
      return `failed after ${((performance.now() - started) / 1000).toFixed(0)} s: ${
        err.slice(0, 400)
      }`;
    }
    return JSON.parse(line.slice("RESULT ".length)) as EngineResult;
  } catch (err) {
    if (controller.signal.aborted) return `did not finish in ${timeoutSeconds} s`;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      engine: { type: "string" },
      "timeout-b": { type: "string" },
      "timeout": { type: "string" },
      only: { type: "string" },
      runs: { type: "string" },
      "memory-limit": { type: "string" },
    },
  });
  const name = (positionals[0] ?? "small") as BenchSize["name"];
  const size = SIZES[name];
  if (!size) {
    throw new Error(`Unknown size "${positionals[0]}": use small, large, large1 or huge`);
  }
  const runs = Number(values.runs ?? (size.name === "small" ? 3 : 1));
  const memoryLimit = values["memory-limit"];
  if (values.engine === "d") {
    const limit = larderMemoryLimit(memoryLimit);
    return await onDemandChild(size, { views: viewSpecs(size), runs, memoryLimit: limit });
  }
  if (values.engine) return await child(size, values.engine as Engine, runs, memoryLimit);

  await ensureData(size);
  const timeout = Number(values.timeout ?? 3600);
  const timeoutB = Number(values["timeout-b"] ?? timeout);
  const only = (values.only ?? "abcdnf").split("");
  const engines = only.filter((e) => e !== "d") as Engine[];
  console.log(
    `${size.name}: ${size.entityRows.toLocaleString("en")} entity rows × ${size.views} view(s) × ` +
      `${
        size.rowsPerView.toLocaleString("en")
      } rows; ${navigator.hardwareConcurrency} cores; Deno ${Deno.version.deno}`,
  );
  const results = new Map<Engine, EngineResult | string>();
  const labels: Record<Engine, string> = {
    a: "(a) Larder (DuckDB-WASM, ASOF plan)",
    b: "(b) Feast SQL template (DuckDB-WASM)",
    c: "(c) native DuckDB 1 thread, Larder SQL",
    n: "(n) Larder on native DuckDB (engine: native)",
    f: "(f) Feast SQL template (native DuckDB)",
  };
  for (const engine of engines) {
    const result = await spawn(
      size,
      engine,
      engine === "b" ? timeoutB : timeout,
      runs,
      engine === "b" || engine === "c" ? undefined : memoryLimit,
    );
    results.set(engine, result);
    if (typeof result === "string") console.log(`${labels[engine]}: ${result}`);
    else {
      const rowsPerSecond = Math.round(size.entityRows / result.seconds);
      console.log(
        `${labels[engine]}: ${result.seconds.toFixed(2)} s, CPU ${
          result.cpuSeconds.toFixed(2)
        } s (runs ${result.runs.map((r) => r.toFixed(2)).join(", ")} s; engine start ${
          result.startSeconds.toFixed(2)
        } s), peak RSS ${result.peakRssMiB} MiB${
          result.memoryLimit ? ` (memory_limit ${result.memoryLimit})` : ""
        }, ` +
          `${rowsPerSecond.toLocaleString("en")} entity rows/s, ${
            result.rows.toLocaleString("en")
          } rows out, ` +
          `non-null first feature per view ${JSON.stringify(result.nonNull)}`,
      );
      if (result.phases) {
        const p = result.phases;
        const fmt = ([wall, cpu]: [number, number]) =>
          `${wall.toFixed(2)} s (CPU ${cpu.toFixed(2)})`;
        console.log(
          `    phases: entity load ${
            (result.seconds - p.load[0] - p.join[0] - p.output[0]).toFixed(2)
          } s, source loads ${fmt(p.load)}, joins ${fmt(p.join)}, output ${fmt(p.output)}`,
        );
      }
    }
  }
  for (
    const [mine, other] of [["a", "b"], ["a", "c"], ["n", "a"], ["n", "f"], ["n", "c"]] as const
  ) {
    const a = results.get(mine);
    const o = results.get(other);
    if (typeof a === "object" && typeof o === "object") {
      console.log(
        `ratio ${mine}/${other}: ${(a.seconds / o.seconds).toFixed(2)} (last run), ` +
          `${(a.runs[0]! / o.runs[0]!).toFixed(2)} (first, cold run), ` +
          `${(a.cpuSeconds / o.cpuSeconds).toFixed(2)} (CPU, last run)`,
      );
      if (a.phases && o.phases) {
        const ratio = (k: keyof Phases, i: 0 | 1) => (a.phases![k][i] / o.phases![k][i]).toFixed(2);
        console.log(
          `  by phase ${mine}/${other}: source loads ${ratio("load", 0)} (CPU ${
            ratio("load", 1)
          }), ` +
            `joins ${ratio("join", 0)} (CPU ${ratio("join", 1)}), output ${
              ratio("output", 0)
            } (CPU ${ratio("output", 1)})`,
        );
      }
      if (JSON.stringify(a.nonNull) !== JSON.stringify(o.nonNull) || a.rows !== o.rows) {
        console.log(`WARNING: (${mine}) and (${other}) disagree on row or non-null counts`);
      }
    }
  }
  if (only.includes("d")) {
    const lines = await onDemandSection(size, {
      script: import.meta.filename!,
      runs,
      timeoutSeconds: timeout,
      memoryLimit,
    });
    console.log(lines.join("\n"));
  }
}

if (import.meta.main) await main();
