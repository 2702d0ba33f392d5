import assert from "node:assert/strict";
import { fieldChangeLine } from "./_plan_diff.ts";

Deno.test("fieldChangeLine() shows a ttl as durations", () => {
  assert.equal(fieldChangeLine("ttlSeconds", { old: 7200, new: 10800 }), "ttl: 2h → 3h");
  assert.equal(fieldChangeLine("ttlSeconds", { old: 5400, new: 0 }), "ttl: 1h30m → unlimited");
});

Deno.test("fieldChangeLine() shows scalars as JSON and a missing side as (none)", () => {
  assert.equal(fieldChangeLine("online", { old: true, new: false }), "online: true → false");
  assert.equal(
    fieldChangeLine("owner", { new: "ml@example.com" }),
    'owner: (none) → "ml@example.com"',
  );
  assert.equal(
    fieldChangeLine("tags", { old: { team: "a" }, new: { team: "b" } }),
    'tags: {"team":"a"} → {"team":"b"}',
  );
});

Deno.test("fieldChangeLine() cuts long values around where they first differ", () => {
  const base = "x".repeat(100);
  const line = fieldChangeLine("description", { old: `${base} old`, new: `${base} new` });
  assert.match(line, /^description: …x+ old" → …x+ new"$/);
  assert.ok(line.length < 120, line);
  const start = fieldChangeLine("description", { old: "a", new: `a ${"y".repeat(80)}` });
  assert.match(start, /^description: "a" → "a y+…$/);
});

Deno.test("fieldChangeLine() lists named items added, removed and changed", () => {
  const f = (name: string, type = "float32") => ({ name, type });
  assert.equal(
    fieldChangeLine("features", {
      old: [f("conv_rate"), f("acc_rate"), f("gone")],
      new: [f("conv_rate", "float64"), f("acc_rate"), f("fresh")],
    }),
    "features: +fresh, -gone, ~conv_rate",
  );
});
