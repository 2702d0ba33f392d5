/**
 * The `s3` registry backend against the registry backend contract. Compare-and-set needs
 * conditional writes, which neither s3rver nor fauxqs honours: the contract runs against
 * `tests/support/s3_double.ts`, which implements AWS's documented semantics for them.
 */
import assert from "node:assert/strict";
import { ObjectStore } from "../engine/object_store/mod.ts";
import { S3RegistryBackend } from "../engine/s3_registry_backend.ts";
import { registryBackendContract } from "./contracts/registry_backend_contract.ts";
import { startS3Double } from "./support/s3_double.ts";

const double = await startS3Double({ buckets: ["registry"] });
const store = new ObjectStore(double.settings);
let n = 0;

registryBackendContract("S3RegistryBackend (S3 double)", () => {
  const url = `s3://registry/project-${++n}/registry.json`;
  return Promise.resolve({
    backend: new S3RegistryBackend({ url, store }),
    openAnother: () =>
      Promise.resolve(new S3RegistryBackend({ url, store: new ObjectStore(double.settings) })),
    cleanup: () => Promise.resolve(),
  });
});

Deno.test("S3RegistryBackend: a missing bucket is NOT_FOUND, not an empty registry", async () => {
  const backend = new S3RegistryBackend({ url: "s3://no-bucket/registry.json", store });
  await assert.rejects(() => backend.read(), {
    code: "NOT_FOUND",
    message:
      'Cannot find "s3://no-bucket/registry.json" in object storage: the bucket does not exist',
  });
});

Deno.test("the S3 double: conditional writes, suffix ranges and list pages as AWS documents", async () => {
  const url = "s3://registry/double/x.bin";
  const bytes = new TextEncoder().encode("0123456789");
  const { etag } = await store.put(url, bytes, { ifNoneMatch: "*" });
  await assert.rejects(() => store.put(url, bytes, { ifNoneMatch: "*" }), {
    code: "CONFLICT",
    details: { url, method: "PUT", status: 412, s3Code: "PreconditionFailed" },
  });
  await assert.rejects(() => store.put(url, bytes, { ifMatch: '"stale"' }), { code: "CONFLICT" });
  await store.put(url, bytes, { ifMatch: etag! });
  const suffix = await fetch(`${double.endpoint}/registry/double/x.bin`, {
    headers: { range: "bytes=-3" },
  });
  assert.equal(suffix.status, 206);
  assert.equal(await suffix.text(), "789");
  for (const name of ["a", "b", "c"]) await store.put(`s3://registry/pages/${name}`, bytes);
  const listed = await store.list("s3://registry/pages/", { pageSize: 2 });
  assert.deepEqual(listed.map((o) => o.url), [
    "s3://registry/pages/a",
    "s3://registry/pages/b",
    "s3://registry/pages/c",
  ]);
});

Deno.test({
  name: "s3 registry tests: cleanup",
  fn: () => double.stop(),
});
