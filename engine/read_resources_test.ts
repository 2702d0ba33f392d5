import assert from "node:assert/strict";
import {
  emptyDocument,
  entity,
  featureService,
  featureView,
  fileSource,
  onDemandFeatureView,
  permission,
  type PermissionSpec,
  type RegistryDocument,
  requestSource,
} from "../registry/mod.ts";
import { assertPermitted, type Principal } from "./permissions.ts";
import { readResources, viewReadResources } from "./read_resources.ts";

const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
const source = fileSource({ name: "s", path: "data/s.parquet", timestampField: "ts" });
const stats = featureView({
  name: "stats",
  entities: [driver],
  schema: { conv_rate: "float64" },
  source,
  tags: { team: "ml" },
});
const req = requestSource({ name: "req", schema: { k: "float64" } });
const relay = onDemandFeatureView({
  name: "relay",
  sources: [stats, req],
  schema: { conv: "float64" },
  transform: (c) => ({ conv: c.conv_rate }),
});
const service = featureService({ name: "svc", features: [relay] });

function document(): RegistryDocument {
  const doc = emptyDocument("p");
  const meta = { createdAt: "", updatedAt: "", hash: "" };
  doc.objects.entity.driver = { spec: driver.spec, meta };
  doc.objects.dataSource.s = { spec: source.spec, meta };
  doc.objects.dataSource.req = { spec: req.spec, meta };
  doc.objects.featureView.stats = { spec: stats.spec, meta };
  doc.objects.onDemandFeatureView.relay = { spec: relay.spec, meta };
  doc.objects.featureService.svc = { spec: service.spec, meta };
  return doc;
}

const STATS = { type: "featureView", name: "stats", tags: { team: "ml" } } as const;
const RELAY = { type: "onDemandFeatureView", name: "relay", tags: {} } as const;
const analyst: Principal = { subject: "analyst", roles: ["analyst"] };

function grant(name: string, types: PermissionSpec["types"], actions: string[]): PermissionSpec {
  return permission({
    name,
    types,
    actions: actions as PermissionSpec["actions"],
    roles: ["analyst"],
  }).spec;
}

Deno.test("viewReadResources() adds the feature views an on-demand view reads, not requests", () => {
  const doc = document();
  assert.deepEqual(viewReadResources(doc, "stats"), [STATS]);
  assert.deepEqual(viewReadResources(doc, "relay"), [RELAY, STATS]);
  for (const name of ["missing", "constructor", "toString", "__proto__", "req"]) {
    assert.equal(viewReadResources(doc, name), undefined, name);
  }
});

Deno.test("readResources() touches a service alone, or each view with what it reads", () => {
  const doc = document();
  assert.deepEqual(readResources(doc, { featureService: "svc" }), [
    { type: "featureService", name: "svc", tags: {} },
  ]);
  assert.deepEqual(readResources(doc, { features: ["relay:conv", "stats:conv_rate"] }), [
    RELAY,
    STATS,
  ]);
  for (const name of ["missing", "valueOf"]) {
    assert.throws(() => readResources(doc, { features: [`${name}:x`] }), {
      code: "NOT_FOUND",
      message: `Cannot find feature view "${name}"`,
    });
    assert.throws(() => readResources(doc, { featureService: name }), { code: "NOT_FOUND" });
  }
});

for (const action of ["READ_OFFLINE", "READ_ONLINE"] as const) {
  Deno.test(`readResources() with assertPermitted(): ${action} through an on-demand view`, () => {
    const doc = document();
    const check = (permissions: PermissionSpec[], request: Parameters<typeof readResources>[1]) =>
      assertPermitted(permissions, {
        resources: readResources(doc, request),
        actions: [action],
        principal: analyst,
      });
    const onDemandOnly = [grant("od", ["onDemandFeatureView"], [action])];
    assert.throws(() => check(onDemandOnly, { features: ["relay:conv"] }), {
      code: "FORBIDDEN",
      message: `Cannot ${action} feature view "stats": no permission grants it to roles "analyst"`,
    });
    const both = [...onDemandOnly, grant("views", ["featureView"], [action])];
    check(both, { features: ["relay:conv"] });
    // The other read action grants nothing here.
    const other = action === "READ_ONLINE" ? "READ_OFFLINE" : "READ_ONLINE";
    assert.throws(
      () =>
        check([grant("all", ["onDemandFeatureView", "featureView"], [other])], {
          features: ["relay:conv"],
        }),
      { code: "FORBIDDEN" },
    );
    // A grant on a service grants what it holds, the on-demand view's inputs included.
    check([grant("services", ["featureService"], [action])], { featureService: "svc" });
  });
}

Deno.test("readResources() reads a projection's feature view, whatever its name", () => {
  const doc = document();
  const origin = stats.withName("origin").withJoinKeyMap({ driver_id: "origin_id" });
  assert.deepEqual(readResources(doc, { features: [origin.features.conv_rate] }), [STATS]);
  assert.deepEqual(
    readResources(doc, { features: [stats.withName("relay").features.conv_rate] }),
    [STATS],
  );
  // The projection's name is no view: a string naming it names nothing.
  assert.throws(() => readResources(doc, { features: ["origin:conv_rate"] }), {
    code: "NOT_FOUND",
    message: 'Cannot find feature view "origin"',
  });
  assert.throws(
    () =>
      assertPermitted([grant("od", ["onDemandFeatureView"], ["READ_ONLINE"])], {
        resources: readResources(doc, { features: [origin.features.conv_rate] }),
        actions: ["READ_ONLINE"],
        principal: analyst,
      }),
    {
      code: "FORBIDDEN",
      message:
        'Cannot READ_ONLINE feature view "stats": no permission grants it to roles "analyst"',
    },
  );
});
