import assert from "node:assert/strict";
import { join } from "node:path";
import { atomicWriteFile } from "./atomic_write.ts";
import { fileSystemFailure, fileSystemRefusal } from "./fs_errors.ts";

function osError(code: string, message = `failed (${code})`): Error {
  return Object.assign(new Error(message), { code });
}

Deno.test("fileSystemRefusal() reads own OS codes only, never Object.prototype's names", () => {
  assert.equal(fileSystemRefusal(osError("ENOSPC")), "no space left on device");
  assert.equal(fileSystemRefusal(new Error("write failed (os error 30)")), "read-only file system");
  for (const code of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
    assert.equal(fileSystemRefusal(osError(code)), undefined, code);
  }
});

Deno.test("fileSystemRefusal() takes EEXIST for a file in the path only where folders were made", () => {
  const exists = osError("EEXIST");
  assert.equal(fileSystemRefusal(exists), undefined);
  assert.equal(
    fileSystemRefusal(exists, { mkdir: true }),
    "a part of the path is a file, not a folder",
  );
  assert.equal(fileSystemFailure(exists, { path: "/x/y", action: "write" }), undefined);
  assert.equal(
    fileSystemFailure(exists, { path: "/x/y", action: "write", mkdir: true })?.message,
    'Cannot write "/x/y": a part of the path is a file, not a folder',
  );
});

Deno.test("fileSystemFailure() calls running out of file handles INTERNAL, not the machine's refusal", () => {
  for (const err of [osError("EMFILE"), osError("ENFILE"), new Error("open (os error 24)")]) {
    assert.equal(fileSystemRefusal(err), undefined);
    const failure = fileSystemFailure(err, { path: "/data/x.csv", action: "read" });
    assert.equal(failure?.code, "INTERNAL");
    assert.match(
      failure!.message,
      /^Cannot read "\/data\/x\.csv": the (process|system) has too many open files, which usually means Larder holds files open that it should have closed \(please report it\)$/,
    );
    assert.equal(failure!.cause, err);
  }
});

Deno.test("atomicWriteFile() through a file names the file in the path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "notes.txt"), "a file");
    const path = join(dir, "notes.txt", "out.csv");
    await assert.rejects(() => atomicWriteFile(path, "x"), {
      code: "IO_FAILED",
      message:
        `Cannot write "${path}": a part of the path is a file, not a folder; nothing was changed`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
