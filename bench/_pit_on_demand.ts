/**
 * The on-demand section of bench/pit.ts: Larder's historical retrieval (`historicalFeatures`,
 * the path `FeatureStore.getHistoricalFeatures` takes) of the same request without and with an
 * on-demand view over view_0 (2 outputs from its 3 features), in one process, the two requests
 * alternating run by run so that both see the same machine load and the same warm engine.
 */
import process from "node:process";
import { historicalFeatures } from "../engine/historical_retrieval.ts";
import type { LoadedTransform } from "../engine/on_demand.ts";
import { DuckDBOfflineStore, type ViewRequest } from "../engine/offline/mod.ts";
import {
  emptyDocument,
  type OnDemandFeatureViewSpec,
  type RegistryDocument,
} from "../registry/mod.ts";
import { type BenchSize, dataDir } from "./_pit_data.ts";

const ON_DEMAND: OnDemandFeatureViewSpec = {
  name: "pit_od",
  description: "",
  tags: {},
  owner: "",
  sources: [{ kind: "featureView", name: "view_0", features: ["f1", "f2", "f3"] }],
  features: [{ name: "f1_x_f2", type: "float64" }, { name: "f3_bucket", type: "int64" }],
  transformHash: "",
  writeToOnlineStore: false,
};

const TRANSFORM: LoadedTransform = {
  name: ON_DEMAND.name,
  features: ON_DEMAND.features,
  transform: (c) => {
    const f1 = c.f1 as readonly (number | null)[];
    const f2 = c.f2 as readonly (number | null)[];
    const f3 = c.f3 as readonly (number | bigint | null)[];
    return {
      f1_x_f2: f1.map((x, i) => {
        const y = f2[i];
        return x === null || y == null ? null : x * y;
      }),
      f3_bucket: f3.map((x) => x === null ? null : Number(x) % 10),
    };
  },
};

function document(views: readonly ViewRequest[]): RegistryDocument {
  const doc = emptyDocument("bench");
  const meta = { createdAt: "", updatedAt: "", hash: "" };
  for (const v of views) {
    for (const e of v.entities) doc.objects.entity[e.name] = { spec: e, meta };
    doc.objects.dataSource[v.source.name] = { spec: v.source, meta };
    doc.objects.featureView[v.view.name] = { spec: v.view, meta };
  }
  doc.objects.onDemandFeatureView[ON_DEMAND.name] = { spec: ON_DEMAND, meta };
  return doc;
}

/** One timed retrieval. */
interface Run {
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly rows: number;
  /** Non-null values of the last output column (the on-demand one when present). */
  readonly nonNull: number;
}

/** What the child prints. */
interface OnDemandResult {
  readonly without: Run[];
  readonly with: Run[];
  readonly startSeconds: number;
  readonly memoryLimit: string;
}

/** CPU seconds this process has used so far (all threads). */
export function cpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/** Child process: alternates the two requests `runs` times each, prints `RESULT_OD {json}`. */
export async function onDemandChild(
  size: BenchSize,
  options: { views: readonly ViewRequest[]; runs: number; memoryLimit: string },
): Promise<void> {
  const started = performance.now();
  const store = new DuckDBOfflineStore({ memoryLimit: options.memoryLimit });
  await store.ready();
  const startSeconds = (performance.now() - started) / 1000;
  const deps = {
    repoDir: dataDir(size),
    document: document(options.views),
    offline: store,
    transforms: () => Promise.resolve(new Map([[ON_DEMAND.name, TRANSFORM]])),
  };
  const base = options.views.flatMap((v) => v.features.map((f) => `${v.view.name}:${f}`));
  const requests = {
    without: base,
    with: [...base, ...ON_DEMAND.features.map((f) => `${ON_DEMAND.name}:${f.name}`)],
  };
  const run = async (features: readonly string[]): Promise<Run> => {
    const start = performance.now();
    const cpu = cpuSeconds();
    const job = await historicalFeatures(deps, {
      entities: "entities.parquet",
      features,
      fullFeatureNames: true,
    });
    const last = job.columns[job.columns.length - 1]!;
    let rows = 0;
    let nonNull = 0;
    for await (const batch of job.batches()) {
      rows += batch.numRows;
      const column = batch.getChild(last)!;
      nonNull += column.length - column.nullCount;
    }
    return {
      seconds: (performance.now() - start) / 1000,
      cpuSeconds: cpuSeconds() - cpu,
      rows,
      nonNull,
    };
  };
  const result: OnDemandResult = {
    without: [],
    with: [],
    startSeconds,
    memoryLimit: options.memoryLimit,
  };
  for (let i = 0; i < options.runs; i++) {
    const order = i % 2 === 0 ? (["without", "with"] as const) : (["with", "without"] as const);
    for (const which of order) result[which].push(await run(requests[which]));
  }
  await store.close();
  console.log(`RESULT_OD ${JSON.stringify(result)}`);
}

/** The median of the warm runs (all but the first, cold one), or the only run. */
function warm(runs: readonly Run[]): Run {
  const pool = runs.length > 1 ? runs.slice(1) : runs;
  const median = (values: number[]) => {
    const sorted = values.sort((x, y) => x - y);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  return {
    seconds: median(pool.map((r) => r.seconds)),
    cpuSeconds: median(pool.map((r) => r.cpuSeconds)),
    rows: runs[runs.length - 1]!.rows,
    nonNull: runs[runs.length - 1]!.nonNull,
  };
}

/**
 * Runs {@linkcode onDemandChild} in its own process (`script --engine d`) and returns the
 * section's lines: each request's median warm run and the overhead, absolute and relative.
 */
export async function onDemandSection(
  size: BenchSize,
  options: {
    /** bench/pit.ts, whose `--engine d` runs the child. */
    script: string;
    runs: number;
    timeoutSeconds: number;
    memoryLimit?: string | undefined;
  },
): Promise<string[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutSeconds * 1000);
  let text: string;
  let errors: string;
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        options.script,
        size.name,
        "--engine",
        "d",
        "--runs",
        `${options.runs}`,
        ...(options.memoryLimit ? ["--memory-limit", options.memoryLimit] : []),
      ],
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
    text = new TextDecoder().decode(output.stdout);
    errors = new TextDecoder().decode(output.stderr);
  } catch (err) {
    if (controller.signal.aborted) {
      return [`On-demand overhead: did not finish in ${options.timeoutSeconds} s`];
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
  const line = text.split("\n").find((l) => l.startsWith("RESULT_OD "));
  if (!line) {
    return [
      `On-demand overhead: failed: ${errors.split("\n").slice(-5).join(" | ").slice(0, 400)}`,
    ];
  }
  const result = JSON.parse(line.slice("RESULT_OD ".length)) as OnDemandResult;
  const a = warm(result.without);
  const b = warm(result.with);
  const delta = (x: number, y: number) =>
    `${y - x >= 0 ? "+" : ""}${(y - x).toFixed(2)} s (${y - x >= 0 ? "+" : ""}${
      (100 * (y - x) / x).toFixed(1)
    }%)`;
  const runs = (r: Run[]) => r.map((x) => x.seconds.toFixed(2)).join(", ");
  const lines = [
    "",
    `On-demand overhead, (a) Larder via historicalFeatures (memory_limit ${result.memoryLimit}; ` +
    `engine start ${
      result.startSeconds.toFixed(2)
    } s; the two requests alternate; median of the warm runs, all but the first):`,
    `  without on-demand view (${size.views * 3} features): ${a.seconds.toFixed(2)} s, CPU ${
      a.cpuSeconds.toFixed(2)
    } s (runs ${runs(result.without)} s), ${a.rows.toLocaleString("en")} rows`,
    `  with on-demand view "${ON_DEMAND.name}" (+2 outputs from view_0): ${
      b.seconds.toFixed(2)
    } s, CPU ${b.cpuSeconds.toFixed(2)} s (runs ${runs(result.with)} s), ${
      b.rows.toLocaleString("en")
    } rows, ${b.nonNull.toLocaleString("en")} non-null ${
      ON_DEMAND.features[ON_DEMAND.features.length - 1]!.name
    }`,
    `  overhead: wall ${delta(a.seconds, b.seconds)}, CPU ${delta(a.cpuSeconds, b.cpuSeconds)}`,
  ];
  if (a.rows !== b.rows) lines.push("WARNING: the two requests disagree on row counts");
  return lines;
}
