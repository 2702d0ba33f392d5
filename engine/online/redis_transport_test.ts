import assert from "node:assert/strict";
import { createRedisTransport, isTcpRedisUrl, redactRedisUrl } from "./redis_transport.ts";

Deno.test("redactRedisUrl() hides the password, keeps the user, host, port and database", () => {
  assert.equal(redactRedisUrl("redis://:s3cret@10.0.0.5:6379"), "redis://:***@10.0.0.5:6379");
  assert.equal(redactRedisUrl("rediss://app:s3cret@h:6380/2"), "rediss://app:***@h:6380/2");
  assert.equal(redactRedisUrl("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
  assert.equal(redactRedisUrl("http://127.0.0.1:8079"), "http://127.0.0.1:8079");
});

Deno.test("isTcpRedisUrl() is true for redis:// and rediss:// only", () => {
  assert.deepEqual(
    ["redis://h", "REDISS://h", "http://h", "https://h", "ftp://h"].map(isTcpRedisUrl),
    [true, true, false, false, false],
  );
});

Deno.test("createRedisTransport() needs a token for http(s) URLs only, and connects lazily", async () => {
  assert.throws(() => createRedisTransport({ url: "http://127.0.0.1:1" }), {
    code: "CONFIG_INVALID",
    message: "Cannot reach Redis at http://127.0.0.1:1: an http(s) URL needs a REST token",
  });
  // Nothing is dialled until the first command, so closing an unused transport is instant.
  const tcp = createRedisTransport({ url: "redis://:pw@127.0.0.1:1" });
  assert.equal(tcp.url, "redis://:***@127.0.0.1:1");
  await tcp.close();
  await assert.rejects(tcp.pipeline([["GET", "k"]]), { code: "UNAVAILABLE" });
});
