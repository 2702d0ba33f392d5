import assert from "node:assert/strict";
import { LarderError } from "../errors.ts";
import { postgresSource, pushSource } from "./data_source.ts";

function definitionError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof LarderError);
    assert.equal(err.code, "DEFINITION_INVALID");
    return err.message;
  }
  assert.fail("expected a DEFINITION_INVALID error");
}

Deno.test("postgresSource() normalizes a table source", () => {
  const source = postgresSource({
    name: "stats",
    table: "analytics.driver_stats",
    timestampField: "event_timestamp",
    createdTimestampColumn: "created",
  });
  assert.deepEqual(source.spec, {
    name: "stats",
    description: "",
    tags: {},
    owner: "",
    kind: "postgres",
    table: "analytics.driver_stats",
    timestampField: "event_timestamp",
    createdTimestampColumn: "created",
    fieldMapping: {},
  });
});

Deno.test("postgresSource() keeps a query and its field mapping", () => {
  const source = postgresSource({
    name: "trips",
    query: "SELECT * FROM trips WHERE NOT test",
    timestampField: "ts",
    fieldMapping: { fare_usd: "fare" },
  });
  assert.equal(source.spec.query, "SELECT * FROM trips WHERE NOT test");
  assert.equal(source.spec.table, undefined);
  assert.deepEqual(source.spec.fieldMapping, { fare_usd: "fare" });
});

Deno.test("postgresSource() refuses neither or both of table and query, naming the source", () => {
  const neither = definitionError(() =>
    postgresSource({ name: "s", timestampField: "ts" } as Parameters<typeof postgresSource>[0])
  );
  assert.match(neither, /^Data source "s": .*pass either table or query \(exactly one\)/);
  const both = definitionError(() =>
    postgresSource({ name: "s", table: "t", query: "SELECT 1", timestampField: "ts" })
  );
  assert.match(both, /Data source "s": .*exactly one/);
});

Deno.test("postgresSource() refuses a malformed table name and a missing timestamp field", () => {
  assert.match(
    definitionError(() =>
      postgresSource({ name: "s", table: "a; DROP TABLE b", timestampField: "ts" })
    ),
    /Data source "s": table: expected a table name, optionally schema-qualified/,
  );
  assert.match(
    definitionError(() =>
      postgresSource({ name: "s", table: "t" } as Parameters<typeof postgresSource>[0])
    ),
    /Data source "s": timestampField/,
  );
});

Deno.test("pushSource() accepts a Postgres source as its batch source", () => {
  const batch = postgresSource({ name: "events", table: "events", timestampField: "ts" });
  assert.equal(pushSource({ name: "events_push", batchSource: batch }).spec.batchSource, "events");
});
