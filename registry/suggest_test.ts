import assert from "node:assert/strict";
import { closestName, didYouMean, editDistance } from "./suggest.ts";

Deno.test("editDistance() counts edits, an adjacent swap as one", () => {
  assert.equal(editDistance("apply", "apply"), 0);
  assert.equal(editDistance("aply", "apply"), 1);
  assert.equal(editDistance("registy", "registry"), 1);
  assert.equal(editDistance("paln", "plan"), 1);
  assert.equal(editDistance("", "abc"), 3);
});

Deno.test("closestName() suggests only a likely typo", () => {
  const commands = ["init", "plan", "apply", "teardown", "materialize"];
  assert.equal(closestName("aply", commands), "apply");
  assert.equal(closestName("PLAN", commands), "plan");
  assert.equal(closestName("materialise", commands), "materialize");
  assert.equal(closestName("deploy", commands), undefined);
  assert.equal(closestName("x", commands), undefined);
});

Deno.test("didYouMean() renders the suggestion or nothing", () => {
  assert.equal(didYouMean("registy", ["project", "registry"]), ' (did you mean "registry"?)');
  assert.equal(didYouMean("zzz", ["project", "registry"]), "");
});
