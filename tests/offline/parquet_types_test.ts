/**
 * Parquet column types beyond the ones Larder writes: dictionary-encoded strings read as strings,
 * float16 and integer declarations narrower than the file refused at apply with the view, column,
 * file and types named. Real Parquet files written with parquet-wasm.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as pq from "parquet-wasm";
import {
  Dictionary,
  Float16,
  Int32,
  Int64,
  Table,
  tableToIPC,
  TimestampMicrosecond,
  Uint64,
  Utf8,
  type Vector,
  vectorFromArray,
} from "apache-arrow";
import { FeatureStore } from "../../mod.ts";
import { tempRepo } from "../support/repo.ts";

const day = (h: number) => new Date(Date.UTC(2026, 0, 1, h));

async function writeParquet(path: string, columns: Record<string, Vector>): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  const table = pq.Table.fromIPCStream(tableToIPC(new Table(columns), "stream"));
  await Deno.writeFile(path, pq.writeParquet(table));
}

function features(schema: string): string {
  return `
import { entity, featureView, fileSource } from "larder";
export const user = entity({ name: "user", joinKeys: ["user_id"], valueType: "int64" });
export const source = fileSource({ name: "s", path: "data/s.parquet", timestampField: "ts" });
export const stats = featureView({ name: "stats", entities: [user], schema: ${schema}, source });
`;
}

/** A repo whose source has user_id, ts and `x`, and a view reading `x` as `declared`. */
async function repoWith(x: Vector, declared: string) {
  const repo = await tempRepo({ "features.ts": features(`{ x: "${declared}" }`) });
  const file = join(repo.dir, "data", "s.parquet");
  await writeParquet(file, {
    user_id: vectorFromArray([1n, 2n, 3n], new Int64()),
    ts: vectorFromArray([day(1), day(2), day(3)], new TimestampMicrosecond()),
    x,
  });
  return { repo, file };
}

Deno.test("Parquet: a dictionary-encoded string column is read as strings, offline and online", async () => {
  const { repo } = await repoWith(
    vectorFromArray(["gold", "silver", "gold"], new Dictionary(new Utf8(), new Int32())),
    "string",
  );
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply();
    const job = await store.getHistoricalFeatures({
      features: ["stats:x"],
      entities: [1, 2, 3].map((user_id) => ({ user_id, ts: day(5) })),
    });
    assert.deepEqual((await job.toRows()).map((r) => r.x), ["gold", "silver", "gold"]);
    const window = await store.getHistoricalFeatures({
      features: ["stats:x"],
      start: day(0),
      end: day(5),
    });
    assert.deepEqual((await window.toRows()).map((r) => r.x), ["gold", "silver", "gold"]);
    await store.materialize({ start: day(0), end: day(5) });
    const online = await store.getOnlineFeatures({
      features: ["stats:x"],
      entities: { user_id: [1, 2] },
    });
    assert.deepEqual(online.toRows().map((r) => r.x), ["gold", "silver"]);
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("Parquet: a float16 column is refused at apply naming the file and column, and at retrieval", async () => {
  const { repo, file } = await repoWith(vectorFromArray([1.5, 2.5, 3.5], new Float16()), "float32");
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await assert.rejects(store.apply(), (err: Error & { code?: string }) => {
      assert.equal(err.code, "SOURCE_INVALID", err.message);
      assert.ok(
        err.message.startsWith(
          `Feature view "stats": source "s" column "x" for feature is float16 (half precision) in file "${file}", declared float32: Larder cannot read half-precision floats: write the column as float32 or float64`,
        ),
        err.message,
      );
      return true;
    });
    // Applied without validation, retrieval refuses it the same way instead of failing inside.
    await store.apply({ skipSourceValidation: true });
    await assert.rejects(
      async () =>
        await (await store.getHistoricalFeatures({
          features: ["stats:x"],
          entities: [{ user_id: 1, ts: day(5) }],
        })).toRows(),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, "SOURCE_INVALID", err.message);
        assert.match(err.message, /"x" .*float16/);
        return true;
      },
    );
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("Parquet: an integer column declared narrower than the file stores it is refused at apply", async () => {
  const cases = [
    {
      x: vectorFromArray([1n, 2n ** 40n, 3n], new Int64()),
      declared: "int32",
      message: 'column "x" for feature is int64 (BIGINT) in file "FILE", declared int32: ' +
        "a stored value beyond the int32 range would fail to load; declare it int64",
    },
    {
      x: vectorFromArray([1n, 2n ** 63n + 5n, 3n], new Uint64()),
      declared: "int64",
      message: 'column "x" for feature is uint64 (UBIGINT) in file "FILE", declared int64: ' +
        "a stored value beyond the int64 range would fail to load; declare it float64",
    },
  ];
  for (const { x, declared, message } of cases) {
    const { repo, file } = await repoWith(x, declared);
    const store = await FeatureStore.open({ repo: repo.dir });
    try {
      await assert.rejects(store.apply(), (err: Error & { code?: string }) => {
        assert.equal(err.code, "SOURCE_INVALID", err.message);
        assert.ok(
          err.message.startsWith(
            `Feature view "stats": source "s" ${message.replace("FILE", file)}`,
          ),
          err.message,
        );
        return true;
      });
    } finally {
      await store.close();
      await repo.remove();
    }
  }
  // Widening stays accepted: an int32 column declared int64 or float64.
  for (const declared of ["int64", "float64"]) {
    const { repo } = await repoWith(vectorFromArray([1, 2, 3], new Int32()), declared);
    const store = await FeatureStore.open({ repo: repo.dir });
    try {
      await store.apply();
    } finally {
      await store.close();
      await repo.remove();
    }
  }
});

Deno.test("Parquet: a later file of a folder storing a column wider than declared is refused naming it", async () => {
  const repo = await tempRepo({
    "features.ts": features(`{ x: "int32" }`).replace('"data/s.parquet"', '"data/s"'),
  });
  const part = (name: string) => join(repo.dir, "data", "s", name);
  const columns = (x: Vector) => ({
    user_id: vectorFromArray([1n], new Int64()),
    ts: vectorFromArray([day(1)], new TimestampMicrosecond()),
    x,
  });
  await writeParquet(part("part-0.parquet"), columns(vectorFromArray([1], new Int32())));
  await writeParquet(part("part-1.parquet"), columns(vectorFromArray([2n ** 40n], new Int64())));
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply(); // the first file's types fit
    const expected = `Data source "s": file "${
      part("part-1.parquet")
    }": column "x" is int64 (BIGINT), declared int32: a stored value beyond the int32 range would fail to load; declare it int64`;
    await assert.rejects(
      async () =>
        await (await store.getHistoricalFeatures({
          features: ["stats:x"],
          entities: [{ user_id: 1, ts: day(5) }],
        })).toRows(),
      { code: "SOURCE_INVALID", message: expected },
    );
    await assert.rejects(store.materialize({ start: day(0), end: day(5) }), (err: Error) => {
      assert.ok(err.message.endsWith(expected), err.message);
      return true;
    });
  } finally {
    await store.close();
    await repo.remove();
  }
});
