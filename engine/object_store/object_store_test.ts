import assert from "node:assert/strict";
import { startS3rver } from "../../tests/support/s3rver.ts";
import { startFauxqs } from "../../tests/support/fauxqs.ts";
import { isObjectUrl, ObjectStore, objectStoreSettings, parseObjectUrl } from "./mod.ts";

Deno.test("parseObjectUrl() behaviour", () => {
  assert.deepEqual(parseObjectUrl("s3://my-bucket/a/b.parquet"), {
    scheme: "s3",
    bucket: "my-bucket",
    key: "a/b.parquet",
    href: "s3://my-bucket/a/b.parquet",
  });
  assert.equal(parseObjectUrl("s3://my-bucket").key, "");
  const https = parseObjectUrl("https://user:pw@example.com/data/x.parquet?sig=secret");
  assert.equal(https.href, "https://example.com/data/x.parquet");
  assert.equal(https.key, "data/x.parquet");
  assert.throws(() => parseObjectUrl("s3://Bad_Bucket/x"), /bucket "Bad_Bucket" is not a valid/);
  assert.ok(isObjectUrl("S3://b/k") && isObjectUrl("https://x") && !isObjectUrl("data/x.parquet"));
});

Deno.test("objectStoreSettings() behaviour", () => {
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  const fromEnv = objectStoreSettings(
    undefined,
    env({
      AWS_ACCESS_KEY_ID: "id",
      AWS_SECRET_ACCESS_KEY: "secret",
      AWS_REGION: "eu-west-1",
      AWS_ENDPOINT_URL: "http://127.0.0.1:9000/",
    }),
  );
  assert.equal(fromEnv.endpoint, "http://127.0.0.1:9000");
  assert.equal(fromEnv.region, "eu-west-1");
  assert.equal(fromEnv.pathStyle, true);
  assert.equal(fromEnv.accessKeyId, "id");
  const yaml = objectStoreSettings(
    { region: "auto", path_style: false, access_key_id: "yaml", timeout_seconds: 5 },
    env({ AWS_ACCESS_KEY_ID: "env", AWS_SECRET_ACCESS_KEY: "s" }),
  );
  assert.equal(yaml.accessKeyId, "yaml");
  assert.equal(yaml.secretAccessKey, "s");
  assert.equal(yaml.timeoutMs, 5000);
  const aws = new ObjectStore(objectStoreSettings(undefined, env({ AWS_REGION: "us-west-2" })));
  assert.equal(
    aws.httpUrl(parseObjectUrl("s3://bkt/a b/c.parquet")),
    "https://bkt.s3.us-west-2.amazonaws.com/a%20b/c.parquet",
  );
});

Deno.test("ObjectStore against s3rver", async (t) => {
  const s3 = await startS3rver({ buckets: ["larder-test"] });
  try {
    const store = new ObjectStore(s3.settings);
    const bytes = new TextEncoder().encode("0123456789abcdef");

    await t.step("put() then get() whole and ranged, head()", async () => {
      await store.put("s3://larder-test/dir/x.bin", bytes);
      assert.deepEqual((await store.get("s3://larder-test/dir/x.bin")).bytes, bytes);
      const before = store.stats.bytesFetched;
      const part = await store.get("s3://larder-test/dir/x.bin", {
        range: { offset: 10, length: 4 },
      });
      assert.equal(new TextDecoder().decode(part.bytes), "abcd");
      assert.equal(store.stats.bytesFetched - before, 4);
      const info = await store.head("s3://larder-test/dir/x.bin");
      assert.equal(info?.size, 16);
      assert.ok(info?.etag);
      assert.equal(await store.head("s3://larder-test/dir/none.bin"), null);
    });

    // s3rver fails max-keys (InternalError): pages are tested against fauxqs and the S3 double.
    await t.step("list() lists a prefix, sorted by key", async () => {
      for (const name of ["p/3.txt", "p/1.txt", "p/2.txt", "q/1.txt"]) {
        await store.put(`s3://larder-test/${name}`, bytes);
      }
      const listed = await store.list("s3://larder-test/p/");
      assert.deepEqual(listed.map((o) => o.url), [
        "s3://larder-test/p/1.txt",
        "s3://larder-test/p/2.txt",
        "s3://larder-test/p/3.txt",
      ]);
      assert.deepEqual(listed.map((o) => o.size), [16, 16, 16]);
    });

    await t.step("delete() removes the object", async () => {
      await store.delete("s3://larder-test/q/1.txt");
      assert.equal(await store.head("s3://larder-test/q/1.txt"), null);
    });

    await t.step("a missing key or bucket is NOT_FOUND naming the URL", async () => {
      await assert.rejects(() => store.get("s3://larder-test/nope.parquet"), {
        code: "NOT_FOUND",
        message:
          'Cannot find "s3://larder-test/nope.parquet" in object storage: no object has this key',
      });
      await assert.rejects(() => store.get("s3://no-such-bucket/x"), {
        code: "NOT_FOUND",
        message: 'Cannot find "s3://no-such-bucket/x" in object storage: the bucket does not exist',
      });
    });

    await t.step("bad credentials are UNAUTHENTICATED, without the secret", async () => {
      // s3rver checks the key id (not the signature).
      const bad = new ObjectStore({
        ...s3.settings,
        accessKeyId: "NOT-A-KEY",
        secretAccessKey: "wrong-secret-value",
      });
      await assert.rejects(
        () => bad.get("s3://larder-test/dir/x.bin"),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, "UNAUTHENTICATED");
          assert.match(err.message, /"s3:\/\/larder-test\/dir\/x\.bin": InvalidAccessKeyId/);
          assert.doesNotMatch(err.message, /wrong-secret-value/);
          return true;
        },
      );
    });

    await t.step("https:// objects are read, never written", async () => {
      const url = `${s3.endpoint}/larder-test/dir/x.bin`;
      const plain = new ObjectStore({ ...s3.settings, accessKeyId: undefined });
      // s3rver serves objects to anonymous GETs.
      assert.equal((await plain.get(url, { range: { offset: 0, length: 3 } })).bytes.length, 3);
      await assert.rejects(() => plain.put(url, bytes), { code: "INPUT_INVALID" });
    });
  } finally {
    await s3.stop();
  }
});

Deno.test("ObjectStore against fauxqs: ranges, HEAD, pages of ListObjectsV2, errors", async () => {
  const fauxqs = await startFauxqs({ buckets: ["larder-fq"] });
  try {
    const store = new ObjectStore(fauxqs.settings);
    const bytes = new TextEncoder().encode("0123456789abcdef");
    for (const name of ["p/3.txt", "p/1.txt", "p/2.txt", "q/1.txt"]) {
      await store.put(`s3://larder-fq/${name}`, bytes);
    }
    const part = await store.get("s3://larder-fq/p/2.txt", { range: { offset: 3, length: 5 } });
    assert.equal(new TextDecoder().decode(part.bytes), "34567");
    assert.equal((await store.head("s3://larder-fq/p/2.txt"))?.size, 16);
    assert.equal(await store.head("s3://larder-fq/p/9.txt"), null);
    const before = store.stats.requests;
    const listed = await store.list("s3://larder-fq/p/", { pageSize: 2 });
    assert.deepEqual(listed.map((o) => o.url), [
      "s3://larder-fq/p/1.txt",
      "s3://larder-fq/p/2.txt",
      "s3://larder-fq/p/3.txt",
    ]);
    assert.equal(store.stats.requests - before, 2, "two pages");
    await store.delete("s3://larder-fq/q/1.txt");
    assert.deepEqual(await store.list("s3://larder-fq/q/"), []);
    await assert.rejects(() => store.get("s3://larder-fq/nope"), { code: "NOT_FOUND" });
    await assert.rejects(() => store.get("s3://no-such-bucket/x"), {
      code: "NOT_FOUND",
      message: /the bucket does not exist/,
    });
  } finally {
    await fauxqs.stop();
  }
});

Deno.test("ObjectStore.head() on an https:// server that refuses HEAD asks a ranged GET", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    if (req.method === "HEAD") return new Response(null, { status: 403 });
    if (req.headers.get("range") !== "bytes=0-1") return new Response("no", { status: 400 });
    return new Response("PA", {
      status: 206,
      headers: { "content-range": "bytes 0-1/1234", etag: '"e1"' },
    });
  });
  try {
    const store = new ObjectStore({ region: "us-east-1", pathStyle: false, timeoutMs: 5000 });
    const url = `http://127.0.0.1:${server.addr.port}/signed.parquet?X-Amz-Signature=secret`;
    assert.deepEqual(await store.head(url), { url, size: 1234, etag: '"e1"' });
  } finally {
    await server.shutdown();
  }
});

Deno.test("ObjectStore: a server that never answers is UNAVAILABLE after the timeout", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  try {
    const port = (listener.addr as Deno.NetAddr).port;
    const store = new ObjectStore({
      endpoint: `http://127.0.0.1:${port}`,
      region: "us-east-1",
      pathStyle: true,
      accessKeyId: "id",
      secretAccessKey: "secret",
      timeoutMs: 200,
      retries: 0,
    });
    await assert.rejects(() => store.get("s3://bucket/slow.parquet"), {
      code: "UNAVAILABLE",
      message:
        'Object storage did not answer GET "s3://bucket/slow.parquet" within 0.2 s: check the endpoint or raise object_store.timeout_seconds',
    });
  } finally {
    listener.close();
    for (const conn of held) conn.close();
    await accepting.catch(() => {});
  }
});

Deno.test("ObjectStore: a body that stalls mid-read is UNAVAILABLE after the timeout", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      held.push(conn);
      // Headers and the first 10 of 1000 bytes, then nothing.
      await conn.write(
        new TextEncoder().encode(
          "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\ncontent-type: application/octet-stream\r\n\r\n0123456789",
        ),
      );
    }
  })();
  try {
    const port = (listener.addr as Deno.NetAddr).port;
    const store = new ObjectStore({
      endpoint: `http://127.0.0.1:${port}`,
      region: "us-east-1",
      pathStyle: true,
      accessKeyId: "id",
      secretAccessKey: "secret",
      timeoutMs: 300,
      retries: 0,
    });
    await assert.rejects(() => store.get("s3://bucket/part.parquet"), {
      code: "UNAVAILABLE",
      message: /^Object storage did not answer GET "s3:\/\/bucket\/part\.parquet" within 0\.3 s/,
    });
  } finally {
    listener.close();
    for (const conn of held) conn.close();
    await accepting.catch(() => {});
  }
});
