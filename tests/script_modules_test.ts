/** Top-level scripts of a feature repo are not imported as definitions (real repo, real apply). */
import assert from "node:assert/strict";
import { FeatureStore } from "../mod.ts";
import { tempRepo } from "./support/repo.ts";

/** Resolves with "timeout" when `work` takes longer than `ms`. */
async function within<T>(ms: number, work: Promise<T>): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("loadDefinitions() does not import top-level scripts: a script that opens the store or never finishes does not hang apply", async () => {
  const repo = await tempRepo({
    // A user's training script next to the definitions: it opens the store and applies.
    "train.ts": `
import { FeatureStore } from "larder";
await Deno.writeTextFile(new URL("./train_ran", import.meta.url), "yes");
const store = await FeatureStore.open({ repo: new URL(".", import.meta.url).pathname });
await store.apply();
await new Promise(() => {});
`,
    // A script that waits forever.
    "serve_forever.ts": "// export nothing\nawait new Promise(() => {});\n",
  });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    const applied = await within(20_000, store.apply({ skipSourceValidation: true }));
    assert.notEqual(applied, "timeout", "apply hung importing a script");
    assert.equal(await repo.read("train_ran"), null, "the script ran");
    const doc = await store.registry.read();
    assert.deepEqual(Object.keys(doc.objects.featureView), ["driver_hourly_stats"]);
  } finally {
    await store.close();
    await repo.remove();
  }
});
