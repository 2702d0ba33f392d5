import assert from "node:assert/strict";
import { hasExportStatement } from "./definitions_loader.ts";

Deno.test("hasExportStatement() finds exports and ignores the word in comments", () => {
  for (
    const text of [
      'export const driver = entity({ name: "driver" });',
      'import { x } from "./a.ts";\nexport { x };',
      'export * from "./defs.ts";',
      "const a = 1; export default a;",
      "/* header */ export const b = 2;",
    ]
  ) assert.equal(hasExportStatement(text), true, text);
  for (
    const text of [
      'import { FeatureStore } from "larder";\nawait FeatureStore.open({ repo: "." });',
      "// export the model\nconsole.log(1);",
      "/* export\n const x = 1; */\nrun();",
      "const exported = 1; obj.export();",
    ]
  ) assert.equal(hasExportStatement(text), false, text);
});
