/**
 * `server/main.ts` as a process under connection floods and slow clients, with the limits of
 * `feature_server:` in `larder.yaml`: at its file descriptor limit (`ulimit -n`), over
 * `max_connections`, and against idle, half-sent and slow-body connections.
 */
import assert from "node:assert/strict";
import { FeatureStore } from "../../engine/mod.ts";
import { tempRepo } from "../support/repo.ts";
import { connect, poll, readUntilClosed, send } from "./_raw_http.ts";

const MAIN = new URL("../../server/main.ts", import.meta.url).pathname;
/** How long a test waits for the server to do something: generous, for busy machines. */
const WAIT = { timeoutMs: 60_000 };

interface Child {
  readonly url: string;
  readonly port: number;
  /** Whether the process is still running. */
  alive(): boolean;
  /** What the process wrote to stderr so far. */
  stderr(): string;
  stop(): Promise<void>;
}

/** `server/main.ts` on a new applied repo with `featureServer` as its `feature_server:`. */
async function startServer(featureServer: string, options: { fdLimit?: number } = {}) {
  const repo = await tempRepo({
    "larder.yaml": `project: test_project\nfeature_server:\n${featureServer}`,
  });
  const store = await FeatureStore.open({ repo: repo.dir });
  await store.apply({ skipSourceValidation: true });
  await store.close();
  const serve = [Deno.execPath(), "run", "-A", MAIN, "--repo", repo.dir, "--port", "0"];
  const child = new Deno.Command("bash", {
    args: options.fdLimit
      ? ["-c", `ulimit -n ${options.fdLimit} && exec "$@"`, "serve", ...serve]
      : ["-c", `exec "$@"`, "serve", ...serve],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let running = true;
  const exited = child.status.then((status) => {
    running = false;
    return status;
  });
  let errors = "";
  const draining = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (errors += chunk) }),
  );
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  const url = /(http:\/\/\S+)/.exec(text)?.[1];
  if (!url) {
    child.kill();
    await exited;
    throw new Error(`No URL in the server's first line: ${text}${errors}`);
  }
  return {
    url,
    port: Number(new URL(url).port),
    alive: () => running,
    stderr: () => errors,
    async stop() {
      if (running) child.kill("SIGTERM");
      await exited;
      await reader.cancel().catch(() => {});
      await draining.catch(() => {});
      await repo.remove();
    },
  } satisfies Child;
}

/** GET /health: its status, or `undefined` when it cannot connect or does not answer soon. */
async function health(url: string): Promise<number | undefined> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5_000) });
    await res.body?.cancel();
    return res.status;
  } catch {
    return undefined;
  }
}

/** Waits until GET /health answers 200. */
async function healthy(url: string, when: string): Promise<void> {
  await poll(async () => (await health(url)) === 200 || undefined, {
    ...WAIT,
    what: `/health ${when}`,
  });
}

/** Opens up to `count` idle connections (some may be refused once the backlog is full). */
async function flood(port: number, count: number): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < count; i++) {
    try {
      conns.push(await connect(port));
    } catch {
      // refused: the server's listen queue is full
    }
  }
  return conns;
}

function closeAll(conns: readonly Deno.Conn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // the server closed it
    }
  }
}

Deno.test("serve survives a flood of idle connections past its file descriptor limit", async () => {
  const server = await startServer(
    "  max_connections: 2000\n  header_timeout_seconds: 3\n  idle_timeout_seconds: 3\n",
    { fdLimit: 256 },
  );
  let conns: Deno.TcpConn[] = [];
  try {
    conns = await flood(server.port, 400);
    // Out of descriptors, the server waits and accepts again once its timeouts free some.
    await healthy(server.url, "during the flood");
    assert.ok(server.alive());
    assert.match(server.stderr(), /serve: Cannot accept connections: Too many open files/);
    closeAll(conns);
    conns = [];
    assert.equal(await health(server.url), 200);
    assert.ok(server.alive());
  } finally {
    closeAll(conns);
    await server.stop();
  }
});

Deno.test("serve answers 503 over feature_server.max_connections, then serves again", async () => {
  const server = await startServer("  max_connections: 20\n", { fdLimit: 256 });
  let conns: Deno.TcpConn[] = [];
  try {
    conns = await flood(server.port, 100);
    const shed = await readUntilClosed(conns.at(-1)!, WAIT);
    assert.match(shed.text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.ok(server.alive());
    assert.match(server.stderr(), /serve: Connection limit of 20 reached/);
    closeAll(conns);
    conns = [];
    await healthy(server.url, "after the flood");
  } finally {
    closeAll(conns);
    await server.stop();
  }
});

Deno.test("serve closes idle, half-sent and slow-body connections after its timeouts", async () => {
  const server = await startServer(
    "  header_timeout_seconds: 1\n  idle_timeout_seconds: 1\n  body_timeout_seconds: 1\n",
  );
  try {
    const idle = await connect(server.port);
    const half = await connect(server.port);
    await send(half, "POST /get-online-features HTTP/1.1\r\nHost: test\r\nContent-Ty");
    const kept = await connect(server.port);
    await send(kept, "GET /health HTTP/1.1\r\nHost: test\r\n\r\n");
    const slowBody = await connect(server.port);
    await send(
      slowBody,
      "POST /get-online-features HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n" +
        'Content-Length: 200\r\n\r\n{"features": [',
    );
    const [fromIdle, fromHalf, fromKept, fromSlowBody] = await Promise.all([
      readUntilClosed(idle, WAIT),
      readUntilClosed(half, WAIT),
      readUntilClosed(kept, WAIT),
      readUntilClosed(slowBody, WAIT),
    ]);
    assert.deepEqual(fromIdle, { text: "", closed: true });
    assert.deepEqual(fromHalf, { text: "", closed: true });
    assert.equal(fromKept.closed, true);
    assert.match(fromKept.text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(fromSlowBody.closed, true);
    assert.match(fromSlowBody.text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    const body = JSON.parse(fromSlowBody.text.slice(fromSlowBody.text.indexOf("\r\n\r\n") + 4));
    assert.deepEqual(body.error, {
      code: "REQUEST_TIMEOUT",
      message: "Request body was not received within 1 s",
      details: { timeoutSeconds: 1 },
    });
    assert.ok(server.alive());
  } finally {
    await server.stop();
  }
});
