import assert from "node:assert/strict";
import { permission, type PermissionSpec } from "../registry/mod.ts";
import {
  assertPermitted,
  decide,
  matchesResource,
  permittedResources,
  type Principal,
  type Resource,
} from "./permissions.ts";

function spec(input: Parameters<typeof permission>[0]): PermissionSpec {
  return permission(input).spec;
}

const stats: Resource = { type: "featureView", name: "driver_stats", tags: { team: "ml" } };
const orders: Resource = { type: "featureView", name: "orders", tags: {} };
const service: Resource = { type: "featureService", name: "driver_activity", tags: {} };
const model: Principal = { subject: "model", roles: ["model"] };
const nobody: Principal = { subject: "anonymous", roles: [] };

Deno.test("decide() allows everything when no permission exists", () => {
  const d = decide([], {
    resources: [stats, orders],
    actions: ["WRITE_ONLINE"],
    principal: nobody,
  });
  assert.equal(d.allowed, true);
});

Deno.test("decide() denies by default once any permission exists", () => {
  const onlyServices = spec({
    name: "services",
    types: ["featureService"],
    actions: ["READ"],
    roles: ["model"],
  });
  // The permission does not cover feature views at all: nothing grants, so denied.
  const d = decide([onlyServices], {
    resources: [stats],
    actions: ["READ_ONLINE"],
    principal: model,
  });
  assert.deepEqual(d, { allowed: false, resource: stats, action: "READ_ONLINE" });
  assert.equal(
    decide([onlyServices], { resources: [service], actions: ["READ_ONLINE"], principal: model })
      .allowed,
    true,
  );
});

Deno.test("decide() needs a matching role, action, type, name and tags", () => {
  const p = spec({
    name: "ml_readers",
    types: ["featureView"],
    namePatterns: ["driver_.*"],
    requiredTags: { team: "ml" },
    actions: ["READ_ONLINE"],
    roles: ["model"],
  });
  const ask = (resource: Resource, principal: Principal, action = "READ_ONLINE" as const) =>
    decide([p], { resources: [resource], actions: [action], principal }).allowed;
  assert.equal(ask(stats, model), true);
  assert.equal(ask(stats, nobody), false, "role missing");
  assert.equal(
    decide([p], { resources: [stats], actions: ["WRITE_ONLINE"], principal: model }).allowed,
    false,
    "action not listed",
  );
  assert.equal(ask({ ...stats, type: "onDemandFeatureView" }, model), false, "type");
  assert.equal(ask({ ...stats, name: "xdriver_stats" }, model), false, "name must match fully");
  assert.equal(ask({ ...stats, name: "driver_stats_v2" }, model), true);
  assert.equal(ask({ ...stats, tags: { team: "ops" } }, model), false, "tag value differs");
  assert.equal(ask({ ...stats, tags: {} }, model), false, "tag missing");
});

Deno.test("matchesResource() full-matches name patterns", () => {
  const p = spec({
    name: "p",
    types: ["featureView"],
    namePatterns: ["driver", "ord.rs"],
    actions: ["ALL"],
    roles: ["r"],
  });
  assert.equal(matchesResource(p, { ...stats, name: "driver" }), true);
  assert.equal(matchesResource(p, { ...stats, name: "driver_stats" }), false);
  assert.equal(matchesResource(p, orders), true);
  assert.equal(matchesResource(p, { ...orders, name: "my_orders" }), false);
  // An alternation must not escape the anchors.
  const alt = { ...p, namePatterns: ["a|b"] };
  assert.equal(matchesResource(alt, { ...stats, name: "ab" }), false);
  assert.equal(matchesResource(alt, { ...stats, name: "b" }), true);
  const all = { ...p, namePatterns: [] };
  assert.equal(matchesResource(all, { ...stats, name: "anything" }), true);
});

Deno.test("decide() expands action aliases through permission()", () => {
  const p = spec({ name: "w", types: ["featureView"], actions: ["WRITE"], roles: ["etl"] });
  assert.deepEqual(p.actions, ["WRITE_ONLINE", "WRITE_OFFLINE"]);
  const etl = { subject: "etl", roles: ["etl"] };
  assert.equal(
    decide([p], { resources: [stats], actions: ["WRITE_ONLINE", "WRITE_OFFLINE"], principal: etl })
      .allowed,
    true,
  );
  assert.equal(
    decide([p], { resources: [stats], actions: ["READ_ONLINE"], principal: etl }).allowed,
    false,
  );
});

Deno.test("decide() requires a grant for every resource and action", () => {
  const p = spec({
    name: "stats_only",
    types: ["featureView"],
    namePatterns: ["driver_stats"],
    actions: ["READ_ONLINE"],
    roles: ["model"],
  });
  const d = decide([p], { resources: [stats, orders], actions: ["READ_ONLINE"], principal: model });
  assert.deepEqual(d, { allowed: false, resource: orders, action: "READ_ONLINE" });
});

Deno.test("decide() grants when any of several permissions grants", () => {
  const a = spec({ name: "a", types: ["featureView"], actions: ["DESCRIBE"], roles: ["x"] });
  const b = spec({ name: "b", types: ["featureView"], actions: ["READ_ONLINE"], roles: ["model"] });
  const d = decide([a, b], { resources: [stats], actions: ["READ_ONLINE"], principal: model });
  assert.deepEqual(d, { allowed: true, permission: "b" });
});

Deno.test("assertPermitted() throws FORBIDDEN naming the object, action and roles", () => {
  const p = spec({ name: "a", types: ["featureView"], actions: ["DESCRIBE"], roles: ["x"] });
  assert.throws(
    () => assertPermitted([p], { resources: [orders], actions: ["READ_ONLINE"], principal: model }),
    {
      name: "LarderError",
      code: "FORBIDDEN",
      message: 'Cannot READ_ONLINE feature view "orders": no permission grants it to roles "model"',
    },
  );
  assert.throws(
    () => assertPermitted([p], { resources: [orders], actions: ["DESCRIBE"], principal: nobody }),
    {
      message:
        'Cannot DESCRIBE feature view "orders": no permission grants it to a caller without roles',
    },
  );
  assertPermitted([], { resources: [orders], actions: ["DELETE"], principal: nobody });
});

Deno.test("permittedResources() filters listings", () => {
  const p = spec({
    name: "d",
    types: ["featureView"],
    namePatterns: ["driver_.*"],
    actions: ["DESCRIBE"],
    roles: ["model"],
  });
  assert.deepEqual(
    permittedResources([p], { resources: [stats, orders], action: "DESCRIBE", principal: model }),
    [stats],
  );
  assert.deepEqual(
    permittedResources([], { resources: [stats, orders], action: "DESCRIBE", principal: nobody }),
    [stats, orders],
  );
});
