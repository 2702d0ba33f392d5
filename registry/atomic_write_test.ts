import assert from "node:assert/strict";
import { join } from "node:path";
import { atomicWriteFile } from "./atomic_write.ts";

Deno.test("atomicWriteFile() replaces a file with text, bytes or a stream of chunks", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "sub", "f.txt");
    await atomicWriteFile(path, "one");
    assert.equal(await Deno.readTextFile(path), "one");
    await atomicWriteFile(path, new TextEncoder().encode("two"));
    assert.equal(await Deno.readTextFile(path), "two");
    await atomicWriteFile(
      path,
      (async function* () {
        yield new TextEncoder().encode("th");
        yield new TextEncoder().encode("ree");
      })(),
    );
    assert.equal(await Deno.readTextFile(path), "three");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("atomicWriteFile() leaves the old file and no temporary file when the stream fails", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "f.txt");
    await atomicWriteFile(path, "old");
    const failing = (async function* () {
      yield new TextEncoder().encode("partial new content");
      throw new Error("source broke");
    })();
    await assert.rejects(() => atomicWriteFile(path, failing), { message: "source broke" });
    assert.equal(await Deno.readTextFile(path), "old");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["f.txt"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("atomicWriteFile() fails with IO_FAILED naming the path when a parent is a file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "file"), "x");
    for (const path of [join(dir, "file", "out.json"), join(dir, "file", "sub", "out.json")]) {
      await assert.rejects(() => atomicWriteFile(path, "new"), {
        name: "LarderError",
        code: "IO_FAILED",
        message:
          `Cannot write "${path}": a part of the path is a file, not a folder; nothing was changed`,
      });
    }
    assert.equal(await Deno.readTextFile(join(dir, "file")), "x");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
