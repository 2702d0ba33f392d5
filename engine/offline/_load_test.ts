import assert from "node:assert/strict";
import { LarderError } from "../../registry/mod.ts";
import { fileSource } from "../../tests/support/specs.ts";
import { sourceError } from "./_load.ts";

const source = fileSource("stats", "data/stats.parquet");

function duckdbFailure(first: string): LarderError {
  return new LarderError("INTERNAL", `DuckDB query failed: ${first}`, { cause: new Error(first) });
}

Deno.test("sourceError() blames the data only for data failures; Larder's own SQL is INTERNAL", () => {
  const data = sourceError(
    source,
    "/repo/data/stats.parquet",
    duckdbFailure("Conversion Error: Could not convert string 'abc' to INT32"),
  );
  assert.equal(data.code, "SOURCE_INVALID");
  assert.match(
    data.message,
    /^Data source "stats": cannot read "\/repo\/data\/stats\.parquet" as declared: /,
  );
  // Before, a bug in Larder's SQL was reported as the user's data source being invalid.
  const bug = duckdbFailure('Binder Error: Referenced column "__ts" not found in FROM clause!');
  const internal = sourceError(source, "/repo/data/stats.parquet", bug);
  assert.equal(internal.code, "INTERNAL");
  assert.equal(internal.cause, bug);
  assert.match(
    internal.message,
    /^Data source "stats": reading "\/repo\/data\/stats\.parquet" failed: DuckDB query failed: Binder Error/,
  );
  for (
    const kept of [
      new LarderError("IO_FAILED", 'Cannot read "/repo/data/stats.parquet": permission denied'),
      new LarderError(
        "INTERNAL",
        "DuckDB ran out of memory: … (raise offline_store.memory_limit in larder.yaml)",
      ),
    ]
  ) {
    assert.equal(sourceError(source, "/repo/data/stats.parquet", kept), kept);
  }
});
