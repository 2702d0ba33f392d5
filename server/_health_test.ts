import assert from "node:assert/strict";
import { healthAnswer } from "./_health.ts";

const OK = { registry: { version: 3 }, regression: undefined, onlineStore: {} };

Deno.test("healthAnswer() is ok, degraded or unavailable, with reasons only when detailed", () => {
  assert.deepEqual(healthAnswer(OK, false), {
    health: { status: "ok", registry: { ok: true, version: 3 }, online_store: { ok: true } },
  });
  const regressed = { ...OK, regression: "The registry went from version 3 to 0: …" };
  assert.deepEqual(healthAnswer(regressed, false).health, {
    status: "degraded",
    registry: { ok: false, version: 3 },
    online_store: { ok: true },
  });
  assert.equal(healthAnswer(regressed, true).health.registry.error, regressed.regression);
  assert.equal(healthAnswer(regressed, true).unhealthy, undefined, "degraded is not unhealthy");
  const down = {
    registry: { error: 'Cannot read the registry at "/srv/r.json": not valid JSON' },
    regression: regressed.regression,
    onlineStore: { error: "Cannot read from the online store (redis http://10.0.0.5)" },
  };
  assert.deepEqual(healthAnswer(down, false), {
    health: { status: "unavailable", registry: { ok: false }, online_store: { ok: false } },
    unhealthy: "Unhealthy: the registry cannot be read; the online store does not answer",
  });
  const detailed = healthAnswer(down, true);
  assert.equal(detailed.health.registry.error, down.registry.error, "the read error comes first");
  assert.equal(
    detailed.unhealthy,
    `Unhealthy: the registry cannot be read (${down.registry.error}); the online store does not answer (${down.onlineStore.error})`,
  );
});
