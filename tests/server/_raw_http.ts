/** HTTP/1.1 by hand over a TCP connection: half-sent requests, idle connections, floods. */

/** A TCP connection to `port` on the loopback interface. */
export function connect(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

/** Writes `text` to `conn`. */
export async function send(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/** What the server sent until it closed the connection, or until `timeoutMs` passed. */
export interface ReadOutcome {
  readonly text: string;
  /** Whether the server closed the connection (end of stream or reset). */
  readonly closed: boolean;
}

/**
 * Reads until the server closes `conn` (or `timeoutMs` passes; then the connection is closed
 * here). Generous timeouts keep this robust on a busy machine: it returns as soon as the
 * server closes.
 */
export async function readUntilClosed(
  conn: Deno.Conn,
  options: { timeoutMs: number },
): Promise<ReadOutcome> {
  const decoder = new TextDecoder();
  let text = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), options.timeoutMs);
  });
  const buf = new Uint8Array(16 * 1024);
  try {
    for (;;) {
      const n = await Promise.race([conn.read(buf).catch(() => null), timedOut]);
      if (n === "timeout") {
        conn.close();
        return { text, closed: false };
      }
      if (n === null) {
        try {
          conn.close();
        } catch {
          // already closed
        }
        return { text, closed: true };
      }
      text += decoder.decode(buf.subarray(0, n), { stream: true });
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Reads one response (headers and a `Content-Length` body) from `conn`, leaving it open. */
export async function readResponse(conn: Deno.Conn): Promise<{ status: number; body: string }> {
  const decoder = new TextDecoder();
  const buf = new Uint8Array(16 * 1024);
  let text = "";
  for (;;) {
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
      if (text.length - end - 4 >= length) {
        return {
          status: Number(text.slice(9, 12)),
          body: text.slice(end + 4, end + 4 + length),
        };
      }
    }
    const n = await conn.read(buf);
    if (n === null) throw new Error(`The connection closed mid-response: ${JSON.stringify(text)}`);
    text += decoder.decode(buf.subarray(0, n), { stream: true });
  }
}

/** Calls `probe` until it returns something other than `undefined`, or fails after `timeoutMs`. */
export async function poll<T>(
  probe: () => Promise<T | undefined>,
  options: { timeoutMs: number; what: string },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${options.what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
