/**
 * Mistakes in a repo's definition modules are reported at their place: `file:line:column`,
 * relative to the repo, whatever the working folder.
 */
import assert from "node:assert/strict";
import { FeatureStore, LarderError } from "../mod.ts";
import { tempRepo } from "./support/repo.ts";

const HEADER = `import { entity, featureView, fileSource } from "larder";
export const driver = entity({ name: "driver", joinKeys: ["driver_id"], valueType: "int64" });
export const source = fileSource({ name: "s", path: "data/s.parquet", timestampField: "ts" });
`;

async function planError(files: Record<string, string>): Promise<string> {
  const repo = await tempRepo(files);
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.plan();
  } catch (err) {
    assert.ok(err instanceof LarderError, String(err));
    assert.equal(err.code, "DEFINITION_INVALID");
    return err.message;
  } finally {
    await store.close();
    await repo.remove();
  }
  assert.fail("expected plan() to fail");
}

Deno.test("FeatureStore.plan() reports a syntax error at its file:line:column", async () => {
  const message = await planError({
    "features.ts": `${HEADER}export const stats = featureView({\n  name: "v",,\n});\n`,
  });
  assert.match(message, /^features\.ts:5:13: syntax error: Unexpected token `,`/);
  // Deno's code frame follows, pointing at the place.
  assert.ok(message.includes('\n5 |   name: "v",,\n'), message);
});

Deno.test("FeatureStore.plan() reports an undefined name at the line that uses it", async () => {
  const message = await planError({
    "features.ts": `${HEADER}export const stats = featureView({
  name: "v",
  entities: [drivr],
  schema: { x: "float64" },
  source,
});
`,
  });
  assert.equal(
    message,
    "features.ts:6:14: cannot import the module: ReferenceError: drivr is not defined",
  );
});

Deno.test("FeatureStore.plan() reports a mistake in a module the definitions import at its place", async () => {
  const message = await planError({
    "features.ts": `import { x } from "./lib/helpers.ts";\nexport const y = x;\n`,
    "lib/helpers.ts": `export const x = 1;\nexport const z = ;\n`,
  });
  assert.match(message, /^lib\/helpers\.ts:2:18: syntax error: /);
});

Deno.test("FeatureStore.plan() reports a builder's refusal at the call that made it", async () => {
  const message = await planError({
    "features.ts": `${HEADER}
export const stats = featureView({ name: "v", entities: [driver], ttl: "-1h", schema: { x: "float64" }, source });
`,
  });
  assert.equal(
    message,
    'features.ts:5:22: Feature view "v": ttl: must not be negative, got "-1h"',
  );
});
