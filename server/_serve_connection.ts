/**
 * Deno's own HTTP server (the one behind `Deno.serve`) on one accepted connection.
 *
 * `Deno.serve` owns its listener: it offers no connection limit, no timeouts, and stops for
 * good when `accept()` fails. Deno serves single connections with the same code, but only
 * through an internal function (`serveHttpOnConnection`), not a public API. This file is the
 * one place that reaches for it, so that a Deno release that moves it breaks nothing else:
 * {@linkcode denoServeConnection} then answers `undefined` and the caller falls back.
 */

/** One connection's HTTP server: the part of `Deno.HttpServer` a connection has. */
export interface ConnectionServer {
  /** Settles when the connection has closed. */
  readonly finished: Promise<void>;
  /** Stops taking requests on the connection, lets the one in flight finish, then closes. */
  shutdown(): Promise<void>;
}

/** Serves HTTP on `conn`; aborting `signal` closes the connection at once. */
export type ServeConnection = (
  conn: Deno.TcpConn,
  handler: Deno.ServeHandler<Deno.NetAddr>,
  options: { readonly signal: AbortSignal; readonly onError: (err: unknown) => Response },
) => ConnectionServer;

type Internal = (
  conn: Deno.Conn,
  signal: AbortSignal,
  handler: Deno.ServeHandler<Deno.NetAddr>,
  onError: (err: unknown) => Response,
  onListen: (scheme: string) => void,
) => ConnectionServer;

/** Deno's per-connection server, or `undefined` when this Deno does not have it. */
export function denoServeConnection(): ServeConnection | undefined {
  const deno = Deno as unknown as Record<symbol | string, unknown>;
  const key = deno.internal;
  const internal = typeof key === "symbol" || typeof key === "string"
    ? deno[key] as Record<string, unknown> | undefined
    : undefined;
  const serve = internal?.serveHttpOnConnection;
  if (typeof serve !== "function" || serve.length !== 5) return undefined;
  return (conn, handler, { signal, onError }) =>
    (serve as Internal)(conn, signal, handler, onError, () => {});
}
