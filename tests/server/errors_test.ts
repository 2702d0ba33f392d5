import assert from "node:assert/strict";
import { errorAnswer, STATUS_OF } from "../../server/mod.ts";
import { LarderError } from "../../engine/mod.ts";
import { startServer } from "./_harness.ts";

Deno.test("errorAnswer() takes the status from the one table and hides unknown failures", () => {
  assert.deepEqual(errorAnswer(new LarderError("CONFLICT", "busy", { details: { view: "v" } })), {
    status: 409,
    body: { error: { code: "CONFLICT", message: "busy", details: { view: "v" } } },
  });
  const hidden = errorAnswer(new TypeError("x is undefined at foo.ts:12"));
  assert.deepEqual(hidden, {
    status: 500,
    body: { error: { code: "INTERNAL", message: "Internal server error", details: {} } },
  });
  assert.deepEqual(
    Object.values(STATUS_OF).filter((s) => s !== 500).sort(),
    [400, 401, 403, 404, 405, 408, 409, 409, 413, 422, 422, 422, 503, 503, 503, 503, 503],
  );
  // Definitions that differ from the registry are the deployment's problem, not the caller's.
  assert.equal(STATUS_OF.DRIFT, 503);
});

Deno.test("the server answers errors as JSON with the right status", async (t) => {
  const server = await startServer();
  const shape = (json: Record<string, unknown>) => {
    const error = json.error as Record<string, unknown>;
    assert.deepEqual(Object.keys(json), ["error"]);
    assert.deepEqual(Object.keys(error).sort(), ["code", "details", "message"]);
    assert.equal(typeof error.message, "string");
    assert.doesNotMatch(error.message as string, /\bat .*\.ts:\d+/, "no stack trace");
  };
  try {
    await t.step("unknown route: 404", async () => {
      const res = await server.request("GET", "/nope");
      assert.equal(res.status, 404);
      shape(res.json);
      assert.equal(res.json.error.message, "No route for GET /nope: see /docs for the API");
      const wrongMethod = await server.request("GET", "/get-online-features");
      assert.equal(wrongMethod.status, 404);
    });
    await t.step("malformed JSON: 400", async () => {
      const res = await server.request("POST", "/get-online-features", { body: '{"features": [' });
      assert.equal(res.status, 400);
      shape(res.json);
      assert.equal(res.json.error.code, "MALFORMED_REQUEST");
      assert.match(res.json.error.message, /^Request body is not valid JSON: /);
    });
    await t.step("empty body: 400", async () => {
      const res = await server.request("POST", "/push", { body: "" });
      assert.equal(res.status, 400);
      assert.equal(res.json.error.message, "Request body is empty: expected a JSON object");
    });
    await t.step("invalid UTF-8: 400", async () => {
      const res = await server.request("POST", "/push", {
        body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
      });
      assert.equal(res.status, 400);
      assert.equal(res.json.error.message, "Request body is not valid UTF-8");
    });
    await t.step("schema violations: 422 naming the fields", async () => {
      const res = await server.request("POST", "/get-online-features", {
        body: { features: "x", entities: { driver_id: [{}] }, extra: 1 },
      });
      assert.equal(res.status, 422);
      shape(res.json);
      assert.equal(res.json.error.code, "INPUT_INVALID");
      assert.match(res.json.error.message, /^Invalid request body: /);
      assert.match(res.json.error.message, /features: expected array, got "x"/);
      // Unknown keys are ignored, as Feast does (`feature_server.strict_bodies` refuses them).
      assert.doesNotMatch(res.json.error.message, /extra/);
      assert.ok(Array.isArray(res.json.error.details.issues));
      const notObject = await server.request("POST", "/materialize", { body: "[1,2]" });
      assert.equal(notObject.status, 422);
      assert.equal(
        notObject.json.error.message,
        "Invalid request body: expected object, got an array",
      );
    });
    await t.step("body over the limit: 413, with or without Content-Length", async () => {
      const big = JSON.stringify({
        push_source_name: "x",
        df: { a: new Array(3_000_000).fill(1) },
      });
      const res = await server.request("POST", "/push", { body: big });
      assert.equal(res.status, 413);
      shape(res.json);
      assert.equal(res.json.error.code, "TOO_LARGE");
      assert.equal(res.json.error.message, "Request body is over the limit of 4194304 bytes");
      const chunks = new TextEncoder().encode(big);
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < chunks.length; i += 65536) {
            controller.enqueue(chunks.subarray(i, i + 65536));
          }
          controller.close();
        },
      });
      const streamed = await server.request("POST", "/push", { body: stream });
      assert.equal(streamed.status, 413);
      // A Request built in process may declare less than it holds: the bytes are what count.
      const lying = await server.request("POST", "/push", {
        body: big,
        headers: { "content-length": "10" },
      });
      assert.equal(lying.status, 413);
      assert.equal(lying.json.error.message, "Request body is over the limit of 4194304 bytes");
    });
    await t.step("too many rows: 413", async () => {
      const res = await server.request("POST", "/get-online-features", {
        body: {
          features: ["driver_hourly_stats:conv_rate"],
          entities: { driver_id: new Array(10_001).fill(1) },
        },
      });
      assert.equal(res.status, 413);
      assert.equal(
        res.json.error.message,
        'Too many entity rows: column "driver_id" has 10001 values, the limit is 10000',
      );
    });
    await t.step("the server keeps serving", async () => {
      assert.equal((await server.request("GET", "/health")).status, 200);
    });
  } finally {
    await server.close();
  }
});

Deno.test("a failure inside the engine is a 500 without details, reported to the log", async () => {
  const logged: unknown[] = [];
  const server = await startServer({
    deps: (deps) => ({
      ...deps,
      readOnline: () => Promise.reject(new TypeError("secret internals at engine.ts:42")),
      logError: (err) => logged.push(err),
    }),
  });
  try {
    const res = await server.request("POST", "/get-online-features", {
      body: { features: ["driver_hourly_stats:conv_rate"], entities: { driver_id: [1] } },
    });
    assert.equal(res.status, 500);
    assert.deepEqual(res.json, {
      error: { code: "INTERNAL", message: "Internal server error", details: {} },
    });
    assert.equal(logged.length, 1);
  } finally {
    await server.close();
  }
});
