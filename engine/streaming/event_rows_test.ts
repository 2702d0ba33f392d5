import assert from "node:assert/strict";
import type { FeatureViewSpec, StreamSourceSpec } from "../../registry/mod.ts";
import type { StreamEntry } from "./broker.ts";
import { toOnlineRows } from "../online/mod.ts";
import { eventRows, type StreamViewPlan } from "./event_rows.ts";

const view: FeatureViewSpec = {
  name: "v",
  description: "",
  tags: {},
  owner: "",
  entities: ["driver"],
  ttlSeconds: 0,
  features: [{ name: "fare", type: "float64" }],
  source: "s",
  online: true,
  offline: true,
  stream: { writeTo: "both" },
};
const source = { kind: "stream", timestampField: "ts" } as StreamSourceSpec;
const plan: StreamViewPlan = {
  view,
  source,
  batch: { timestampField: "event_timestamp" } as StreamViewPlan["batch"],
  joinKeys: [{ name: "driver_id", type: "int64", entity: "driver" }],
};

function entry(id: string, event: Record<string, unknown> | undefined): StreamEntry {
  return {
    id,
    event,
    payload: JSON.stringify(event ?? null),
    deliveries: 1,
    timeMs: 0,
    ...(event === undefined ? { problem: "the payload is not JSON" } : {}),
  };
}

Deno.test("eventRows() reads fields as declared and names the event time after the batch source", () => {
  const rows = eventRows(plan, [
    entry("1", { driver_id: "7", ts: "2026-01-01T00:00:00Z", fare: "1.5" }),
    entry("2", { driver_id: 8, ts: 1_767_225_600_000 }),
  ]);
  assert.deepEqual(rows.dead, []);
  assert.deepEqual(rows.columns.driver_id, [7, 8]);
  assert.deepEqual(rows.columns.fare, [1.5, null]);
  assert.deepEqual(
    (rows.columns.event_timestamp as Date[]).map((d) => d.toISOString()),
    ["2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z"],
  );
  assert.equal(rows.columns.ts, undefined);
});

Deno.test("eventRows() dead-letters each bad event with its reason, keeping the rest", () => {
  const rows = eventRows(plan, [
    entry("1", { driver_id: "x", ts: "2026-01-01T00:00:00Z" }),
    entry("2", undefined),
    entry("3", { driver_id: 1, ts: "2026-01-01T00:00:00Z", fare: 2 }),
    entry("4", { driver_id: 1, fare: 2 }),
  ]);
  assert.deepEqual(rows.entries.map((e) => e.id), ["3"]);
  assert.deepEqual(rows.dead.map((d) => [d.entry.id, d.reason]), [
    ["2", "the payload is not JSON"],
    ["1", 'field "driver_id": "x" is not an int64'],
    ["4", 'missing event timestamp "ts"'],
  ]);
});

Deno.test("eventRows() runs a transform per event when the batch fails, isolating the bad ones", () => {
  const transform = (e: Readonly<Record<string, readonly unknown[]>>) => {
    if (e.fare!.includes("boom")) throw new Error("boom");
    return { driver_id: e.driver_id!, ts: e.ts!, fare: e.fare!.map((f) => Number(f) * 2) };
  };
  const rows = eventRows({ ...plan, transform }, [
    entry("1", { driver_id: 1, ts: "2026-01-01T00:00:00Z", fare: "1" }),
    entry("2", { driver_id: 2, ts: "2026-01-01T00:00:00Z", fare: "boom" }),
    entry("3", { driver_id: 3, ts: "2026-01-01T00:00:00Z", fare: "3", ["__proto__"]: "x" }),
  ]);
  assert.deepEqual(rows.columns.fare, [2, 6]);
  assert.deepEqual(rows.dead.map((d) => [d.entry.id, d.reason]), [
    ["2", 'the transform of stream feature view "v" threw: boom'],
  ]);
  const typed = eventRows({ ...plan, transform: (e) => ({ ...e, fare: e.fare!.map(String) }) }, [
    entry("1", { driver_id: 1, ts: "2026-01-01T00:00:00Z", fare: "1" }),
  ]);
  assert.match(
    typed.dead[0]!.reason,
    /the transform of stream feature view "v": column "fare" row 0: expected float64, got "1"/,
  );
});

Deno.test("eventRows() makes the online rows toOnlineRows() makes of its columns", () => {
  const rows = eventRows(plan, [
    entry("1", { driver_id: "7", ts: "2026-01-01T00:00:00.123Z", fare: "1.5" }),
    entry("2", { driver_id: 8, ts: 1_767_225_600_000, fare: "NaN" }),
    entry("3", { driver_id: "x", ts: "2026-01-01T00:00:00Z" }),
    entry("4", { driver_id: "9007199254740993", ts: "2026-01-02", fare: "-0" }),
  ]);
  assert.equal(rows.online.length, 3);
  assert.deepEqual(
    rows.online,
    toOnlineRows({ name: "v", joinKeys: plan.joinKeys, features: view.features }, {
      keys: [rows.columns.driver_id!],
      features: [rows.columns.fare!],
      eventTs: rows.columns.event_timestamp!,
    }),
  );
});
