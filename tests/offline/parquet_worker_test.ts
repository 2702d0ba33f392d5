/**
 * The worker path of Parquet decoding (taken for large inputs), forced on small files with
 * `parquetTuning.workerMinBytes = 0`: the same batches as in-thread decoding, failures that name
 * the file, and no worker left running. The real `Worker` runs; a subclass counts the ones
 * started and not terminated (Deno's test sanitizers do not track workers).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tableFromIPC } from "apache-arrow";
import {
  parquetTuning,
  readParquetFilesIPC,
  readParquetIPC,
} from "../../engine/offline/parquet.ts";
import { isLarderError } from "../../registry/mod.ts";
import { tempDir, writeRowsParquet } from "./_fixtures.ts";

const COLUMNS = ["driver_id", "event_timestamp", "conv_rate"];

async function fixture() {
  const dir = await tempDir();
  const rows = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) => ({
      driver_id: from + i,
      event_timestamp: new Date(Date.UTC(2026, 0, 1, 0, i)),
      conv_rate: (from + i) / 1000,
    }));
  const a = await writeRowsParquet(dir, "a.parquet", rows(0, 300));
  const b = await writeRowsParquet(dir, "b.parquet", rows(1000, 200));
  const bad = join(dir, "bad.parquet");
  await Deno.writeFile(bad, new TextEncoder().encode("PAR1 these are not row groups PAR1"));
  return { dir, a, b, bad };
}

/** Runs `fn` with the worker path forced; checks that it started a worker and stopped it. */
async function withWorker<T>(fn: () => Promise<T>): Promise<T> {
  const saved = parquetTuning.workerMinBytes;
  const RealWorker = globalThis.Worker;
  let started = 0;
  let running = 0;
  globalThis.Worker = class extends RealWorker {
    constructor(...args: ConstructorParameters<typeof Worker>) {
      super(...args);
      started++;
      running++;
    }
    override terminate(): void {
      running--;
      super.terminate();
    }
  };
  parquetTuning.workerMinBytes = 0;
  try {
    return await fn();
  } finally {
    parquetTuning.workerMinBytes = saved;
    globalThis.Worker = RealWorker;
    assert.equal(started, 1, "the files were decoded in a worker");
    assert.equal(running, 0, "the worker was terminated");
  }
}

async function ids(
  files: readonly string[],
): Promise<{ path: string; ids: number[] }[]> {
  const out: { path: string; ids: number[] }[] = [];
  for await (
    const { path, ipc } of readParquetFilesIPC(
      files.map((path) => ({ path, fileColumns: COLUMNS })),
      { batchRows: 128 },
    )
  ) {
    const column = tableFromIPC(ipc).getChild("driver_id")!;
    out.push({ path, ids: [...column].map(Number) });
  }
  return out;
}

Deno.test("the Parquet worker yields what in-thread decoding yields, file by file", async () => {
  const { dir, a, b } = await fixture();
  try {
    const inThread = await ids([a, b]);
    const inWorker = await withWorker(() => ids([a, b]));
    const flat = (r: { path: string; ids: number[] }[]) => r.flatMap((x) => x.ids);
    assert.deepEqual(flat(inWorker), flat(inThread));
    assert.equal(flat(inWorker).length, 500);
    assert.deepEqual([...new Set(inWorker.map((x) => x.path))], [a, b]);
    // The in-thread reader of one file agrees too.
    let one = 0;
    for await (const ipc of readParquetIPC(a)) one += tableFromIPC(ipc).numRows;
    assert.equal(one, 300);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the Parquet worker names a corrupt file after the good files before it", async () => {
  const { dir, a, bad, b } = await fixture();
  try {
    const seen: string[] = [];
    await withWorker(async () => {
      await assert.rejects(
        async () => {
          for await (
            const { path } of readParquetFilesIPC(
              [a, bad, b].map((path) => ({ path, fileColumns: COLUMNS })),
            )
          ) seen.push(path);
        },
        (err: unknown) =>
          isLarderError(err) && err.code === "SOURCE_INVALID" &&
          err.message.startsWith(`Cannot read Parquet file "${bad}": `),
      );
    });
    assert.ok(seen.length > 0 && seen.every((p) => p === a), "a's batches came first, b's never");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the Parquet worker reports a missing file as such", async () => {
  const { dir, a } = await fixture();
  const gone = join(dir, "gone.parquet");
  try {
    await withWorker(() =>
      assert.rejects(
        () => ids([a, gone]),
        (err: unknown) =>
          isLarderError(err) && err.code === "SOURCE_INVALID" &&
          err.message === `Cannot find Parquet file "${gone}"`,
      )
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a caller that stops reading early stops the Parquet worker", async () => {
  const { dir, a, b } = await fixture();
  try {
    await withWorker(async () => {
      for await (
        const _ of readParquetFilesIPC(
          [a, b].map((path) => ({ path, fileColumns: COLUMNS })),
          { batchRows: 64 },
        )
      ) break;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
