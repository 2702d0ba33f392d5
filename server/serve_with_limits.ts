/**
 * An HTTP server like `Deno.serve` that survives connection floods: it accepts connections
 * itself, caps how many are open, closes connections that are slow to send their headers or
 * that sit idle, and backs off (instead of stopping) when `accept()` fails, e.g. when the
 * process is out of file descriptors.
 */
import type { LarderConfig } from "../engine/mod.ts";
import {
  type ConnectionServer,
  denoServeConnection,
  type ServeConnection,
} from "./_serve_connection.ts";

/** Limits on the connections of a {@linkcode serveWithLimits} server. */
export interface ConnectionLimits {
  /** Most connections open at once; a connection over it is answered 503 and closed. */
  readonly maxConnections: number;
  /** How long a new connection has to deliver the headers of its first request. */
  readonly headerTimeoutMs: number;
  /**
   * How long a connection stays open once a handler has returned its response without the
   * headers of a next request arriving: delivering the response counts (a client still taking
   * it then is cut mid-body), the handler's own run time does not.
   */
  readonly idleTimeoutMs: number;
}

/** The limits `feature_server:` in `larder.yaml` sets. */
export function connectionLimits(config: LarderConfig["feature_server"]): ConnectionLimits {
  return {
    maxConnections: config.max_connections,
    headerTimeoutMs: config.header_timeout_seconds * 1000,
    idleTimeoutMs: config.idle_timeout_seconds * 1000,
  };
}

/** Options for {@linkcode serveWithLimits}. */
export interface ServeWithLimitsOptions {
  /** The address to listen on. */
  readonly hostname: string;
  /** 0 for a free port. */
  readonly port: number;
  /** The connection cap and timeouts. */
  readonly limits: ConnectionLimits;
  /** Called once the server listens. */
  readonly onListen?: (addr: Deno.NetAddr) => void;
  /**
   * The JSON body of the 503 that a connection over `maxConnections` gets.
   * @default the feature server's error shape, code `UNAVAILABLE`
   */
  readonly busyBody?: string;
  /** Where the server reports shed connections and failed accepts. @default console.warn */
  readonly warn?: (message: string) => void;
  /**
   * Serves HTTP on one accepted connection; `null` serves with plain `Deno.serve`, which
   * enforces no limits (what happens on a Deno without a per-connection server).
   * @default Deno's own per-connection server
   */
  readonly serveConnection?: ServeConnection | null;
}

/** A running {@linkcode serveWithLimits} server. */
export interface LimitedServer {
  /** The address listened on (with the port chosen for port 0). */
  readonly addr: Deno.NetAddr;
  /** Settles when the server has shut down and every connection has closed. */
  readonly finished: Promise<void>;
  /** Stops accepting, lets requests in flight finish, and resolves when all is closed. */
  shutdown(): Promise<void>;
}

type Handler = Deno.ServeHandler<Deno.NetAddr>;

/** How long a connection answered 408 gets to deliver that answer before it is closed. */
const CLOSE_GRACE_MS = 1_000;
/** At most one warning of each kind this often. */
const WARN_EVERY_MS = 10_000;
const MAX_BACKOFF_MS = 1_000;

const BUSY_BODY = JSON.stringify({
  error: {
    code: "UNAVAILABLE",
    message: "The server has too many open connections: try again later",
    details: {},
  },
});
/** The whole 503 answer to a connection over the cap, with `body` as its JSON. */
function busyAnswer(body: string): Uint8Array {
  const bytes = new TextEncoder().encode(body);
  return new TextEncoder().encode(
    "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n" +
      `Content-Type: application/json\r\nContent-Length: ${bytes.length}\r\n\r\n${body}`,
  );
}

interface OpenConnection {
  server: ConnectionServer | undefined;
  readonly abort: AbortController;
  inflight: number;
  /** When it is closed if no request is in flight by then (`performance.now()` time). */
  deadline: number;
  /** Answered 408: close once that answer is out. */
  closing: boolean;
}

/**
 * Closes `c` at once. Deno's per-connection server throws `BadResource` from its abort
 * listener when the connection has closed meanwhile, and an error thrown in an event listener
 * ends the process; that one error only says the connection is already closed, so it is
 * swallowed, for the length of this call.
 */
function closeNow(c: OpenConnection): void {
  c.deadline = Infinity;
  const alreadyClosed = (e: ErrorEvent) => {
    if (e.error instanceof Deno.errors.BadResource) e.preventDefault();
  };
  globalThis.addEventListener("error", alreadyClosed);
  try {
    c.abort.abort();
  } finally {
    globalThis.removeEventListener("error", alreadyClosed);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A warning printed at most once per {@linkcode WARN_EVERY_MS}, with a count of the rest. */
function throttled(
  warn: (message: string) => void,
): (text: (repeats: number) => string) => void {
  let last = -Infinity;
  let repeats = 0;
  return (text) => {
    const now = performance.now();
    if (now - last < WARN_EVERY_MS) {
      repeats++;
      return;
    }
    warn(text(repeats));
    last = now;
    repeats = 0;
  };
}

function internalError(err: unknown, warn: (message: string) => void): Response {
  warn(`Unexpected error in a request handler: ${message(err)}`);
  return new Response("Internal server error", { status: 500 });
}

/**
 * Serves `handler` on `options.hostname:options.port` within `options.limits`. Over
 * `maxConnections`, new connections are answered 503 and closed; a connection that does not
 * send its first request's headers within `headerTimeoutMs`, or its next request's within
 * `idleTimeoutMs` of a response, is closed; when `accept()` fails (e.g. out of file
 * descriptors) the server waits and tries again (10 ms, doubling to 1 s) and keeps serving
 * the connections it has. A handler is never cut by these limits, however long it runs; the
 * idle timeout starts when it returns its response, so delivering the response counts against
 * it: a client that has not taken the whole response within `idleTimeoutMs` is cut mid-body.
 * (That bounds readers that stall. Deno says when a response is fully taken only for streamed
 * bodies, and a connection closed gently to finish a delivery can no longer be cut.)
 *
 * On a Deno without a per-connection HTTP server, it serves with `Deno.serve` instead,
 * without the limits (it warns once), restarting the listener when `accept()` fails.
 *
 * @example
 * ```ts ignore
 * const server = serveWithLimits(app.fetch, {
 *   hostname: "127.0.0.1",
 *   port: 6566,
 *   limits: { maxConnections: 512, headerTimeoutMs: 10_000, idleTimeoutMs: 75_000 },
 * });
 * await server.finished;
 * ```
 */
export function serveWithLimits(
  handler: Deno.ServeHandler<Deno.NetAddr>,
  options: ServeWithLimitsOptions,
): LimitedServer {
  const warn = options.warn ?? ((text: string) => console.warn(text));
  const serveOne = options.serveConnection === undefined
    ? denoServeConnection()
    : options.serveConnection ?? undefined;
  if (!serveOne) {
    warn(
      `This Deno (${Deno.version.deno}) cannot serve single connections: connection limits and timeouts are not enforced`,
    );
    return serveWithoutLimits(handler, options, warn);
  }
  const serve: ServeConnection = serveOne;
  const { maxConnections, headerTimeoutMs, idleTimeoutMs } = options.limits;
  const busy = busyAnswer(options.busyBody ?? BUSY_BODY);
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const open = new Set<OpenConnection>();
  const warnShed = throttled(warn);
  const warnAccept = throttled(warn);
  const onError = (err: unknown) => internalError(err, warn);
  let stopping = false;

  const sweepMs = Math.max(50, Math.min(1_000, headerTimeoutMs / 4, idleTimeoutMs / 4));
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const c of open) if (c.inflight === 0 && now >= c.deadline) closeNow(c);
  }, sweepMs);
  Deno.unrefTimer(sweep);

  function track(conn: Deno.TcpConn): void {
    const c: OpenConnection = {
      server: undefined,
      abort: new AbortController(),
      inflight: 0,
      deadline: performance.now() + headerTimeoutMs,
      closing: false,
    };
    const done = (res: Response | undefined) => {
      if (res?.status === 408) c.closing = true;
      if (--c.inflight === 0) {
        c.deadline = performance.now() + (c.closing ? CLOSE_GRACE_MS : idleTimeoutMs);
      }
    };
    // Not async: a handler that answers synchronously keeps Deno's synchronous fast path.
    const handle: Handler = (req, info) => {
      c.inflight++;
      let res: Response | Promise<Response>;
      try {
        res = handler(req, info);
      } catch (err) {
        done(undefined);
        throw err;
      }
      if (!(res instanceof Promise)) {
        done(res);
        return res;
      }
      return res.then((answer) => {
        done(answer);
        return answer;
      }, (err) => {
        done(undefined);
        throw err;
      });
    };
    try {
      c.server = serve(conn, handle, { signal: c.abort.signal, onError });
    } catch (err) {
      warnAccept(() => `Cannot serve a connection: ${message(err)}`);
      try {
        conn.close();
      } catch {
        // already closed
      }
      return;
    }
    open.add(c);
    const forget = () => open.delete(c);
    c.server.finished.then(forget, forget);
  }

  function shed(conn: Deno.TcpConn): void {
    warnShed((repeats) =>
      `Connection limit of ${maxConnections} reached: new connections are answered 503 and closed${
        repeats ? ` (${repeats + 1} since the last warning)` : ""
      }`
    );
    conn.write(busy).catch(() => {}).finally(() => {
      try {
        conn.close();
      } catch {
        // already closed
      }
    });
  }

  async function acceptLoop(): Promise<void> {
    let backoff = 0;
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
        backoff = 0;
      } catch (err) {
        if (stopping || err instanceof Deno.errors.BadResource) return;
        backoff = Math.min(backoff * 2 || 10, MAX_BACKOFF_MS);
        warnAccept((repeats) =>
          `Cannot accept connections: ${message(err)}: retrying${
            repeats ? ` (${repeats + 1} failures since the last warning)` : ""
          }`
        );
        await delay(backoff);
        continue;
      }
      if (open.size >= maxConnections) shed(conn);
      else track(conn);
    }
  }

  const accepting = acceptLoop();
  const finished = (async () => {
    await accepting;
    while (open.size > 0) {
      await Promise.allSettled([...open].map((c) => c.server?.finished));
    }
    clearInterval(sweep);
  })();
  const addr = listener.addr;
  options.onListen?.(addr);
  return {
    addr,
    finished,
    async shutdown() {
      if (!stopping) {
        stopping = true;
        listener.close();
        // Idle connections close at once; a response being sent is sent first.
        await Promise.allSettled([...open].map((c) => c.server?.shutdown()));
      }
      await finished;
    },
  };
}

/** `Deno.serve`, started again on the same port whenever it stops because `accept()` failed. */
function serveWithoutLimits(
  handler: Handler,
  options: ServeWithLimitsOptions,
  warn: (message: string) => void,
): LimitedServer {
  const onError = (err: unknown) => internalError(err, warn);
  const start = (port: number, onListen: (addr: Deno.NetAddr) => void) =>
    Deno.serve({ hostname: options.hostname, port, onListen, onError }, handler);
  let current = start(options.port, (addr) => options.onListen?.(addr));
  const addr = current.addr;
  let stopping = false;
  const finished = (async () => {
    for (;;) {
      try {
        await current.finished;
        return;
      } catch (err) {
        if (stopping) return;
        warn(`Cannot accept connections: ${message(err)}: listening again`);
      }
      for (let backoff = 10;; backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)) {
        await delay(backoff);
        if (stopping) return;
        try {
          current = start(addr.port, () => {});
          break;
        } catch {
          // still out of descriptors, or the port is taken: wait longer
        }
      }
    }
  })();
  return {
    addr,
    finished,
    async shutdown() {
      stopping = true;
      await current.shutdown();
      await finished;
    },
  };
}
