import assert from "node:assert/strict";
import { ShapeCache } from "../engine/mod.ts";

Deno.test("ShapeCache computes once per owner and shape", () => {
  const cache = new ShapeCache<string>();
  const a = {};
  const b = {};
  let made = 0;
  const make = (v: string) => () => {
    made++;
    return v;
  };
  assert.equal(cache.get(a, "x", make("a-x")), "a-x");
  assert.equal(cache.get(a, "x", make("other")), "a-x");
  assert.equal(cache.get(a, "y", make("a-y")), "a-y");
  // Another owner (a new registry document) starts empty.
  assert.equal(cache.get(b, "x", make("b-x")), "b-x");
  assert.equal(made, 3);
});

Deno.test("ShapeCache keeps at most `limit` shapes per owner, dropping the oldest", () => {
  const cache = new ShapeCache<number>(2);
  const owner = {};
  let made = 0;
  const get = (shape: string) =>
    cache.get(owner, shape, () => {
      made++;
      return made;
    });
  get("a");
  get("b");
  get("c"); // drops "a"
  assert.equal(made, 3);
  get("b");
  get("c");
  assert.equal(made, 3);
  get("a");
  assert.equal(made, 4);
});

Deno.test("ShapeCache does not keep failures", () => {
  const cache = new ShapeCache<string>();
  const owner = {};
  let calls = 0;
  const failing = () => {
    calls++;
    throw new Error("no such view");
  };
  assert.throws(() => cache.get(owner, "x", failing), /no such view/);
  assert.throws(() => cache.get(owner, "x", failing), /no such view/);
  assert.equal(calls, 2);
  assert.equal(cache.get(owner, "x", () => "now it exists"), "now it exists");
});

Deno.test("ShapeCache does not keep shapes longer than its limit", () => {
  const cache = new ShapeCache<number>(512, 10);
  const owner = {};
  let made = 0;
  const make = () => ++made;
  cache.get(owner, "x".repeat(11), make);
  cache.get(owner, "x".repeat(11), make);
  assert.equal(made, 2);
  cache.get(owner, "x".repeat(10), make);
  cache.get(owner, "x".repeat(10), make);
  assert.equal(made, 3);
});
