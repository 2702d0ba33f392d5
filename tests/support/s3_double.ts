/**
 * A small S3 test double for the operations Larder uses, implementing AWS's documented
 * semantics where the npm servers (s3rver, fauxqs) do not: conditional writes. It serves
 * path-style requests (`/<bucket>/<key>`) on a free loopback port, in memory:
 *
 * - `PUT` with `If-None-Match: *` → 412 `PreconditionFailed` when the key exists; with
 *   `If-Match: <etag>` → 404 `NoSuchKey` when there is no object, 412 when the ETag differs;
 *   a conditional write that arrives while another conditional write on the same key is in
 *   flight → 409 `ConditionalRequestConflict` (AWS: "retry the request").
 * - `GET`/`HEAD`: `ETag` (MD5 in quotes), `Range` (`bytes=a-b`, `bytes=a-`, `bytes=-n`) → 206
 *   with `Content-Range`, 416 `InvalidRange` when unsatisfiable; `If-Match` → 412,
 *   `If-None-Match` → 304.
 * - `GET /<bucket>?list-type=2` (ListObjectsV2): `prefix`, `max-keys`, `continuation-token`.
 * - `DELETE` → 204. Unknown bucket → 404 `NoSuchBucket`.
 *
 * Signatures are not checked (s3rver tests cover signing). `stall` makes chosen requests hang.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { ObjectStoreSettings } from "../../engine/object_store/mod.ts";

/** A running double. */
export interface S3Double {
  readonly endpoint: string;
  readonly settings: ObjectStoreSettings;
  /** Requests received, by method. */
  readonly requests: Record<string, number>;
  /**
   * When set and true for a request, the double never answers it (until `stop`): a server
   * that hangs mid-operation, for timeout tests.
   */
  stall: ((req: Request) => boolean) | undefined;
  stop(): Promise<void>;
}

interface Stored {
  readonly bytes: Uint8Array;
  readonly etag: string;
}

function xmlError(status: number, code: string, message: string): Response {
  return new Response(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`,
    { status, headers: { "content-type": "application/xml" } },
  );
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** `[start, end]` (inclusive) of a `Range` header over `size` bytes; `null`: unsatisfiable. */
function byteRange(header: string, size: number): [number, number] | null | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, a, b] = m as unknown as [string, string, string];
  if (a === "" && b === "") return undefined;
  if (a === "") {
    const n = Number(b);
    if (n === 0) return null;
    return [Math.max(0, size - n), size - 1];
  }
  const start = Number(a);
  if (start >= size) return null;
  return [start, b === "" ? size - 1 : Math.min(Number(b), size - 1)];
}

/** Starts the double with `buckets` (empty) on a free port. */
export function startS3Double(options: { buckets: readonly string[] }): Promise<S3Double> {
  const buckets = new Map(options.buckets.map((b) => [b, new Map<string, Stored>()]));
  const inFlight = new Set<string>();
  const requests: Record<string, number> = {};

  let release: () => void = () => {};
  const stopped = new Promise<void>((resolve) => (release = resolve));
  let double: S3Double;

  async function handle(req: Request): Promise<Response> {
    requests[req.method] = (requests[req.method] ?? 0) + 1;
    if (double.stall?.(req)) {
      await stopped;
      return xmlError(503, "SlowDown", "Stopped");
    }
    const url = new URL(req.url);
    const [bucketName = "", ...rest] = url.pathname.slice(1).split("/");
    const key = rest.map(decodeURIComponent).join("/");
    const bucket = buckets.get(bucketName);
    if (!bucket) {
      await req.body?.cancel();
      return xmlError(404, "NoSuchBucket", "The specified bucket does not exist");
    }
    if (key === "" && req.method === "GET") return list(bucketName, bucket, url.searchParams);
    const found = bucket.get(key);
    if (req.method === "PUT") {
      const ifMatch = req.headers.get("if-match");
      const ifNoneMatch = req.headers.get("if-none-match");
      const conditional = ifMatch !== null || ifNoneMatch !== null;
      const slot = `${bucketName}/${key}`;
      if (conditional && inFlight.has(slot)) {
        await req.body?.cancel();
        return xmlError(
          409,
          "ConditionalRequestConflict",
          "A conflicting conditional operation is currently in progress against this resource. Please try again.",
        );
      }
      if (conditional) inFlight.add(slot);
      try {
        const bytes = new Uint8Array(await req.arrayBuffer());
        // The condition is evaluated when the write completes, as S3 does.
        const current = bucket.get(key);
        if (ifNoneMatch === "*" && current) {
          return xmlError(
            412,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
          );
        }
        if (ifMatch !== null) {
          if (!current) return xmlError(404, "NoSuchKey", "The specified key does not exist.");
          if (ifMatch !== current.etag && ifMatch !== "*") {
            return xmlError(
              412,
              "PreconditionFailed",
              "At least one of the pre-conditions you specified did not hold",
            );
          }
        }
        const etag = `"${createHash("md5").update(bytes).digest("hex")}"`;
        bucket.set(key, { bytes, etag });
        return new Response(null, { status: 200, headers: { etag } });
      } finally {
        if (conditional) inFlight.delete(slot);
      }
    }
    if (req.method === "DELETE") {
      bucket.delete(key);
      return new Response(null, { status: 204 });
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return xmlError(405, "MethodNotAllowed", "The specified method is not allowed");
    }
    if (!found) {
      return req.method === "HEAD"
        ? new Response(null, { status: 404 })
        : xmlError(404, "NoSuchKey", "The specified key does not exist.");
    }
    const ifMatch = req.headers.get("if-match");
    if (ifMatch !== null && ifMatch !== found.etag && ifMatch !== "*") {
      return xmlError(
        412,
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
      );
    }
    if (req.headers.get("if-none-match") === found.etag) {
      return new Response(null, { status: 304, headers: { etag: found.etag } });
    }
    const size = found.bytes.length;
    const headers: Record<string, string> = {
      etag: found.etag,
      "accept-ranges": "bytes",
      "content-type": "application/octet-stream",
    };
    const rangeHeader = req.headers.get("range");
    const range = rangeHeader === null ? undefined : byteRange(rangeHeader, size);
    if (range === null) {
      return xmlError(416, "InvalidRange", "The requested range is not satisfiable");
    }
    if (range) {
      const [start, end] = range;
      const body = found.bytes.slice(start, end + 1);
      headers["content-range"] = `bytes ${start}-${end}/${size}`;
      headers["content-length"] = String(body.length);
      return new Response(req.method === "HEAD" ? null : body, { status: 206, headers });
    }
    headers["content-length"] = String(size);
    return new Response(req.method === "HEAD" ? null : found.bytes.slice(), {
      status: 200,
      headers,
    });
  }

  function list(name: string, bucket: Map<string, Stored>, query: URLSearchParams): Response {
    const prefix = query.get("prefix") ?? "";
    const maxKeys = Math.min(1000, Number(query.get("max-keys") ?? 1000));
    const after = query.get("continuation-token") ?? "";
    const keys = [...bucket.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
    const page = keys.slice(0, maxKeys);
    const truncated = keys.length > page.length;
    const contents = page.map((k) =>
      `<Contents><Key>${escapeXml(k)}</Key><Size>${bucket.get(k)!.bytes.length}</Size><ETag>${
        escapeXml(bucket.get(k)!.etag)
      }</ETag></Contents>`
    ).join("");
    const next = truncated
      ? `<NextContinuationToken>${escapeXml(page[page.length - 1]!)}</NextContinuationToken>`
      : "";
    return new Response(
      `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult><Name>${name}</Name><Prefix>${
        escapeXml(prefix)
      }</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${contents}${next}</ListBucketResult>`,
      { headers: { "content-type": "application/xml" } },
    );
  }

  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: () => {},
    }, handle);
    const endpoint = `http://127.0.0.1:${server.addr.port}`;
    double = {
      endpoint,
      requests,
      stall: undefined,
      settings: {
        endpoint,
        region: "us-east-1",
        pathStyle: true,
        accessKeyId: "test",
        secretAccessKey: "test",
        timeoutMs: 10_000,
        retries: 0,
      },
      stop: () => {
        release();
        return server.shutdown();
      },
    };
    resolve(double);
  });
}
