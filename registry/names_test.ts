import assert from "node:assert/strict";
import { parseDuration } from "./names.ts";

Deno.test("parseDuration() reads units, combinations and seconds", () => {
  assert.equal(parseDuration("90s"), 90);
  assert.equal(parseDuration("15m"), 900);
  assert.equal(parseDuration("2h"), 7200);
  assert.equal(parseDuration("1d"), 86400);
  assert.equal(parseDuration("1w"), 604800);
  assert.equal(parseDuration("1h30m"), 5400);
  assert.equal(parseDuration(0), 0);
  assert.equal(parseDuration(3600), 3600);
});

Deno.test("parseDuration() explains what is wrong", () => {
  assert.equal(parseDuration(-1), "must not be negative, got -1");
  assert.equal(parseDuration(""), 'expected a duration such as "2h", got an empty string');
  assert.match(String(parseDuration("2x")), /^expected a duration such as/);
  assert.equal(parseDuration(Infinity), "expected a finite number of seconds, got Infinity");
});
