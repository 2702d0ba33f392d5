import assert from "node:assert/strict";
import { join } from "node:path";
import { FileRegistryBackend } from "../registry/mod.ts";
import { registryBackendContract } from "./contracts/registry_backend_contract.ts";

registryBackendContract("FileRegistryBackend", async () => {
  const dir = await Deno.makeTempDir({ prefix: "larder-registry-" });
  const path = join(dir, "nested", "registry.json");
  return {
    backend: new FileRegistryBackend(path),
    openAnother: () => Promise.resolve(new FileRegistryBackend(path)),
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
});

Deno.test("FileRegistryBackend: writers in separate processes never both win", async () => {
  const dir = await Deno.makeTempDir({ prefix: "larder-registry-" });
  const path = join(dir, "registry.json");
  try {
    await new FileRegistryBackend(path).compareAndSet(0, { version: 1, text: '{"version":1}' });
    const script = `
      import { FileRegistryBackend } from ${
      JSON.stringify(new URL("../registry/mod.ts", import.meta.url).href)
    };
      const b = new FileRegistryBackend(Deno.args[0]);
      try {
        await b.compareAndSet(1, { version: 2, text: JSON.stringify({ version: 2, by: Deno.args[1] }) });
        console.log("won");
      } catch (err) {
        console.log(err.code);
      }`;
    const children = Array.from({ length: 4 }, (_, i) =>
      new Deno.Command(Deno.execPath(), {
        args: ["eval", "--ext=ts", script, path, `p${i}`],
        stdout: "piped",
        stderr: "inherit",
      }).output());
    const outputs = (await Promise.all(children)).map((o) =>
      new TextDecoder().decode(o.stdout).trim()
    );
    assert.equal(outputs.filter((o) => o === "won").length, 1, outputs.join(","));
    assert.equal(outputs.filter((o) => o === "REGISTRY_CONFLICT").length, 3, outputs.join(","));
    const stored = JSON.parse(await Deno.readTextFile(path));
    assert.equal(stored.version, 2);
    assert.equal(`p${outputs.indexOf("won")}`, stored.by);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
