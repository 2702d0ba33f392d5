import assert from "node:assert/strict";
import { methodLabel, Metrics } from "./metrics.ts";

Deno.test("methodLabel() keeps the standard methods and folds every other into other", () => {
  for (const m of ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
    assert.equal(methodLabel(m), m);
  }
  assert.equal(methodLabel("patch"), "PATCH");
  assert.equal(methodLabel("PROPFIND"), "other");
  assert.equal(methodLabel('X"}\n'), "other");
});

Deno.test("Metrics.observe() adds no series for new methods", () => {
  const metrics = new Metrics();
  for (let i = 0; i < 1000; i++) {
    metrics.observe({ method: `M${i}`, route: "unmatched", status: 404, seconds: 0.001 });
  }
  const lines = metrics.render().split("\n").filter((l) =>
    l.startsWith("larder_http_requests_total{")
  );
  assert.deepEqual(lines, [
    'larder_http_requests_total{method="other",route="unmatched",status="404"} 1000',
  ]);
});
