import assert from "node:assert/strict";
import { type RemoteParquet, rowGroupsWithin } from "./_remote_parquet.ts";

const day = (d: number) => new Date(Date.UTC(2024, 0, d));
const us = (d: Date) => BigInt(d.getTime()) * 1000n;

function file(
  groups: { ts?: [Date, Date]; id?: [bigint, bigint]; rows?: number }[],
): RemoteParquet {
  return {
    url: "s3://b/k.parquet",
    size: 0,
    etag: undefined,
    footer: new Uint8Array(0),
    rowGroups: groups.map((g) => ({
      rows: g.rows ?? 10,
      columns: new Map([
        ...(g.ts ? [["ts", { min: g.ts[0], max: g.ts[1] }] as const] : []),
        ...(g.id ? [["id", { min: g.id[0], max: g.id[1] }] as const] : []),
      ]),
    })),
  };
}

Deno.test("rowGroupsWithin() keeps only row groups the bounds may need", () => {
  const f = file([
    { ts: [day(1), day(2)], id: [0n, 9n] },
    { ts: [day(3), day(4)], id: [10n, 19n] },
    { ts: [day(5), day(6)], id: [20n, 29n] },
    {}, // no statistics: always read
    { ts: [day(1), day(9)], rows: 0 }, // empty: never read
  ]);
  const all = { timestampColumn: "ts" };
  assert.deepEqual(rowGroupsWithin(f, all), [0, 1, 2, 3]);
  assert.deepEqual(rowGroupsWithin(f, { ...all, low: us(day(3)), high: us(day(4)) }), [1, 3]);
  assert.deepEqual(rowGroupsWithin(f, { ...all, low: us(day(5)) + 1n }), [2, 3]);
  assert.deepEqual(
    rowGroupsWithin(f, { ...all, keys: [{ column: "id", min: 12n, max: 25n }] }),
    [1, 2, 3],
  );
});

Deno.test("rowGroupsWithin() rounds millisecond statistics outwards", () => {
  // hyparquet gives Date (milliseconds): a max of day(2) may really be day(2) + 999 µs.
  const f = file([{ ts: [day(1), day(2)] }]);
  assert.deepEqual(rowGroupsWithin(f, { timestampColumn: "ts", low: us(day(2)) + 999n }), [0]);
  assert.deepEqual(rowGroupsWithin(f, { timestampColumn: "ts", low: us(day(2)) + 1000n }), []);
});
