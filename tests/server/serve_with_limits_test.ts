/**
 * `serveWithLimits()` in process, over real TCP connections: the connection cap, the header,
 * idle and 408 closes, graceful shutdown, and the `Deno.serve` fallback. (Accept failures need
 * a process at its file descriptor limit: see `main_limits_test.ts`.)
 */
import assert from "node:assert/strict";
import { type ConnectionLimits, serveWithLimits } from "../../server/serve_with_limits.ts";
import { connect, poll, readResponse, readUntilClosed, send } from "./_raw_http.ts";

const LONG = 600_000;
/** How long a test waits for the server to close a connection: generous, for busy machines. */
const WAIT = { timeoutMs: 30_000 };
const GET = "GET / HTTP/1.1\r\nHost: test\r\n\r\n";

function start(
  limits: Partial<ConnectionLimits>,
  handler: (req: Request) => Response | Promise<Response> = () => new Response("ok"),
) {
  const warnings: string[] = [];
  const server = serveWithLimits(handler, {
    hostname: "127.0.0.1",
    port: 0,
    limits: { maxConnections: 100, headerTimeoutMs: LONG, idleTimeoutMs: LONG, ...limits },
    warn: (text) => warnings.push(text),
  });
  return { server, port: server.addr.port, warnings };
}

Deno.test("serveWithLimits() closes connections that send no request or half a header", async () => {
  const { server, port } = start({ headerTimeoutMs: 200 });
  try {
    const idle = await connect(port);
    const half = await connect(port);
    await send(half, "GET / HTTP/1.1\r\nHost: te");
    const [fromIdle, fromHalf] = await Promise.all([
      readUntilClosed(idle, WAIT),
      readUntilClosed(half, WAIT),
    ]);
    assert.deepEqual(fromIdle, { text: "", closed: true });
    assert.deepEqual(fromHalf, { text: "", closed: true });
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveWithLimits() closes an idle kept-alive connection, never a request in flight", async () => {
  let release = () => {};
  const released = new Promise<void>((resolve) => release = resolve);
  const { server, port } = start({ idleTimeoutMs: 200 }, async (req) => {
    if (new URL(req.url).pathname === "/slow") await released;
    return new Response("done");
  });
  try {
    const kept = await connect(port);
    await send(kept, GET);
    assert.deepEqual(await readResponse(kept), { status: 200, body: "done" });
    assert.deepEqual(await readUntilClosed(kept, WAIT), { text: "", closed: true });

    // A handler running far longer than the idle timeout keeps its connection.
    const slow = await connect(port);
    await send(slow, "GET /slow HTTP/1.1\r\nHost: test\r\n\r\n");
    const answer = readResponse(slow);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    release();
    assert.deepEqual(await answer, { status: 200, body: "done" });
    slow.close();
  } finally {
    await server.shutdown();
  }
});

/** Reads one response whose body is `size` bytes from `conn`, or until the server closes it. */
async function readBody(
  conn: Deno.Conn,
  size: number,
): Promise<{ head: string; bodyBytes: number; closed: boolean }> {
  const buf = new Uint8Array(64 * 1024);
  let head = "";
  let bodyBytes = 0;
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) return { head, bodyBytes, closed: true };
    let chunk = buf.subarray(0, n);
    if (!head.includes("\r\n\r\n")) {
      const text = new TextDecoder("latin1").decode(chunk);
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) {
        head += text;
        continue;
      }
      head += text.slice(0, end + 4);
      chunk = chunk.subarray(end + 4);
    }
    bodyBytes += chunk.byteLength;
    if (bodyBytes >= size) return { head, bodyBytes, closed: false };
  }
}

Deno.test("serveWithLimits() closes a connection whose reader stops taking its response", async () => {
  const bytes = new Uint8Array(32 * 1024 * 1024);
  const { server, port } = start({ idleTimeoutMs: 200 }, () => new Response(bytes));
  try {
    const conn = await connect(port);
    await send(conn, GET);
    // Reads nothing: the idle timeout, which runs from when the handler returned, closes it
    // mid-response, so readers that stall cannot hold connections (and their buffers) forever.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const got = await readBody(conn, bytes.length);
    assert.equal(got.closed, true);
    assert.ok(got.bodyBytes < bytes.length, "cut: the reader stalled");
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveWithLimits() answers 503 over maxConnections and serves again when one closes", async () => {
  const { server, port, warnings } = start({ maxConnections: 2 });
  try {
    const first = await connect(port);
    const second = await connect(port);
    for (const conn of [first, second]) {
      await send(conn, GET);
      assert.equal((await readResponse(conn)).status, 200);
    }
    const third = await connect(port);
    const shed = await readUntilClosed(third, WAIT);
    assert.equal(shed.closed, true);
    assert.match(shed.text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.match(shed.text, /\r\nRetry-After: 1\r\n/);
    assert.deepEqual(
      JSON.parse(shed.text.slice(shed.text.indexOf("\r\n\r\n") + 4)).error.code,
      "UNAVAILABLE",
    );
    assert.deepEqual(warnings, [
      "Connection limit of 2 reached: new connections are answered 503 and closed",
    ]);

    first.close();
    const status = await poll(async () => {
      const conn = await connect(port);
      try {
        await send(conn, GET);
        return (await readResponse(conn)).status === 200 ? 200 : undefined;
      } catch {
        return undefined; // shed: the server has not seen the close yet
      } finally {
        conn.close();
      }
    }, { ...WAIT, what: "a free connection slot" });
    assert.equal(status, 200);
    second.close();
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveWithLimits() closes a connection once it has answered 408", async () => {
  const { server, port } = start({}, () => new Response("too slow", { status: 408 }));
  try {
    const conn = await connect(port);
    // A body that never arrives in full: the server must not wait for the rest of it.
    await send(conn, "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n{");
    const outcome = await readUntilClosed(conn, WAIT);
    assert.equal(outcome.closed, true);
    assert.match(outcome.text, /^HTTP\/1\.1 408 /);
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveWithLimits() shutdown() lets the request in flight finish and closes the rest", async () => {
  let release = () => {};
  const released = new Promise<void>((resolve) => release = resolve);
  let started = () => {};
  const running = new Promise<void>((resolve) => started = resolve);
  const { server, port } = start({}, async () => {
    started();
    await released;
    return new Response("finished");
  });
  const idle = await connect(port);
  const busy = await connect(port);
  await send(busy, GET);
  await running;
  const answer = readResponse(busy);
  const stopped = server.shutdown();
  assert.deepEqual(await readUntilClosed(idle, WAIT), { text: "", closed: true });
  release();
  assert.deepEqual(await answer, { status: 200, body: "finished" });
  await stopped;
  await server.finished;
  busy.close();
  await assert.rejects(connect(port), Deno.errors.ConnectionRefused);
});

Deno.test("serveWithLimits() falls back to Deno.serve, and says the limits are off", async () => {
  const warnings: string[] = [];
  const server = serveWithLimits(() => new Response("plain"), {
    hostname: "127.0.0.1",
    port: 0,
    limits: { maxConnections: 1, headerTimeoutMs: 1, idleTimeoutMs: 1 },
    warn: (text) => warnings.push(text),
    serveConnection: null,
  });
  try {
    const res = await fetch(`http://127.0.0.1:${server.addr.port}/`);
    assert.equal(await res.text(), "plain");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /connection limits and timeouts are not enforced$/);
  } finally {
    await server.shutdown();
  }
});
