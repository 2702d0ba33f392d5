/**
 * One client for S3, S3-compatible storage and plain HTTPS objects: every object read or
 * written by Larder (sources, the registry, retrieval output, pushed rows) goes through it.
 * Requests are signed with AWS Signature V4 by `aws4fetch` (fetch only: it runs at the edge).
 */
import { AwsClient } from "aws4fetch";
import { isLarderError, LarderError, type LarderErrorCode } from "../../registry/mod.ts";
import { type ObjectLocation, parseObjectUrl } from "./object_url.ts";
import { type ObjectStoreSettings, objectStoreSettings } from "./settings.ts";

/** What a HEAD or a listing says about one object. */
export interface ObjectInfo {
  /** `s3://bucket/key` (or the `https://` URL). */
  readonly url: string;
  readonly size: number;
  /** The entity tag, quotes included (`"9b2c…"`), as S3 sends it. */
  readonly etag: string | undefined;
}

/** Options for {@linkcode ObjectStore.get}. */
export interface GetOptions {
  /** Read only `length` bytes from `offset` (an explicit range, never a suffix range). */
  readonly range?: { readonly offset: number; readonly length: number };
  /** Fail with `CONFLICT` when the object's ETag is no longer this one. */
  readonly ifMatch?: string;
  readonly signal?: AbortSignal;
}

/** An object's bytes and its ETag. */
export interface ObjectBody {
  readonly bytes: Uint8Array<ArrayBuffer>;
  readonly etag: string | undefined;
}

/** Options for {@linkcode ObjectStore.put}. */
export interface PutOptions {
  /** Write only if the stored object's ETag is this one (compare-and-set). */
  readonly ifMatch?: string;
  /** `"*"`: write only if no object exists under the key (create). */
  readonly ifNoneMatch?: "*";
  /** @default {"application/octet-stream"} */
  readonly contentType?: string;
  readonly signal?: AbortSignal;
}

/** What an {@linkcode ObjectStore} has sent and received, for benchmarks and `/metrics`. */
export interface ObjectStoreStats {
  /** Requests sent (retries included). */
  requests: number;
  /** Body bytes received by GET requests. */
  bytesFetched: number;
  /** Body bytes sent by PUT requests. */
  bytesSent: number;
}

/**
 * A client for `s3://bucket/key` URLs (signed, on AWS S3 or the configured endpoint) and
 * `http(s)://` URLs (fetched as they are, unsigned). Failures are `LarderError`s naming the
 * URL (never a credential): `UNAUTHENTICATED` (bad or missing credentials), `FORBIDDEN`
 * (access denied), `NOT_FOUND` (no such bucket or key), `CONFLICT` (a conditional write or
 * read whose condition failed), `UNAVAILABLE` (network, timeout, 5xx).
 *
 * @example
 * ```ts ignore
 * const store = ObjectStore.fromEnv();
 * await store.put("s3://features/hello.txt", new TextEncoder().encode("hi"));
 * const { bytes } = await store.get("s3://features/hello.txt", { range: { offset: 0, length: 1 } });
 * ```
 */
export class ObjectStore {
  readonly settings: ObjectStoreSettings;
  readonly stats: ObjectStoreStats = { requests: 0, bytesFetched: 0, bytesSent: 0 };
  readonly #signer: AwsClient | undefined;

  constructor(settings: ObjectStoreSettings) {
    this.settings = settings;
    const { accessKeyId, secretAccessKey } = settings;
    this.#signer = accessKeyId && secretAccessKey
      ? new AwsClient({
        accessKeyId,
        secretAccessKey,
        ...(settings.sessionToken ? { sessionToken: settings.sessionToken } : {}),
        service: "s3",
        region: settings.region,
        retries: 0,
      })
      : undefined;
  }

  /** A client configured from the `AWS_*` environment variables only. */
  static fromEnv(env: (name: string) => string | undefined = (n) => Deno.env.get(n)): ObjectStore {
    return new ObjectStore(objectStoreSettings(undefined, env));
  }

  /** The HTTP URL of an object (or of a bucket, with `key` empty). */
  httpUrl(location: ObjectLocation): string {
    if (location.scheme !== "s3") return location.url;
    const key = location.key.split("/").map(encodeURIComponent).join("/");
    const { endpoint, pathStyle, region } = this.settings;
    const base = endpoint ?? `https://s3.${region}.amazonaws.com`;
    if (pathStyle) return `${base}/${location.bucket}${key || location.key ? `/${key}` : ""}`;
    const url = new URL(base);
    url.hostname = `${location.bucket}.${url.hostname}`;
    url.pathname = `/${key}`;
    return url.href;
  }

  /** The whole object, or `options.range` of it. */
  async get(url: string, options: GetOptions = {}): Promise<ObjectBody> {
    const headers: Record<string, string> = {};
    if (options.range) {
      const { offset, length } = options.range;
      if (length <= 0) return { bytes: new Uint8Array(0), etag: undefined };
      headers.range = `bytes=${offset}-${offset + length - 1}`;
    }
    if (options.ifMatch) headers["if-match"] = options.ifMatch;
    return await this.#send(url, "GET", {
      headers,
      signal: options.signal,
      read: async (res) => {
        const bytes = new Uint8Array(await res.arrayBuffer());
        this.stats.bytesFetched += bytes.length;
        if (options.range && res.status === 200 && bytes.length > options.range.length) {
          // A server that ignored the range: keep what was asked for.
          const { offset, length } = options.range;
          return { bytes: bytes.slice(offset, offset + length), etag: etagOf(res) };
        }
        return { bytes, etag: etagOf(res) };
      },
    });
  }

  /**
   * The object's size and ETag, or `null` when there is no object under the key. An `https://`
   * server that refuses `HEAD` (a pre-signed URL is signed for `GET` only) is asked with a
   * two-byte ranged `GET` instead.
   */
  async head(url: string, options: { signal?: AbortSignal } = {}): Promise<ObjectInfo | null> {
    try {
      return await this.#send(url, "HEAD", {
        signal: options.signal,
        read: (res) => {
          const size = Number(res.headers.get("content-length") ?? NaN);
          return Promise.resolve({ url, size, etag: etagOf(res) });
        },
      });
    } catch (err) {
      if (isLarderError(err) && err.code === "NOT_FOUND") return null;
      const refused = isLarderError(err) &&
        (err.details?.status === 403 || err.details?.status === 405);
      if (!refused || parseObjectUrl(url).scheme === "s3") throw err;
    }
    try {
      return await this.#send(url, "GET", {
        headers: { range: "bytes=0-1" },
        signal: options.signal,
        read: async (res) => {
          const bytes = new Uint8Array(await res.arrayBuffer());
          this.stats.bytesFetched += bytes.length;
          const total = /\/(\d+)$/.exec(res.headers.get("content-range") ?? "")?.[1];
          const size = res.status === 206 && total !== undefined ? Number(total) : bytes.length;
          return { url, size, etag: etagOf(res) };
        },
      });
    } catch (err) {
      if (isLarderError(err) && err.code === "NOT_FOUND") return null;
      throw err;
    }
  }

  /** Stores `bytes` under the key; conditional with `ifMatch` / `ifNoneMatch`. Returns the new ETag. */
  async put(
    url: string,
    bytes: Uint8Array,
    options: PutOptions = {},
  ): Promise<{ etag: string | undefined }> {
    const headers: Record<string, string> = {
      "content-type": options.contentType ?? "application/octet-stream",
    };
    if (options.ifMatch) headers["if-match"] = options.ifMatch;
    if (options.ifNoneMatch) headers["if-none-match"] = options.ifNoneMatch;
    return await this.#send(url, "PUT", {
      headers,
      body: bytes,
      signal: options.signal,
      write: true,
      read: async (res) => {
        await res.body?.cancel();
        this.stats.bytesSent += bytes.length;
        return { etag: etagOf(res) };
      },
    });
  }

  /** Deletes the object (nothing happens when there is none). */
  async delete(url: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#send(url, "DELETE", {
      signal: options.signal,
      write: true,
      read: async (res) => void await res.body?.cancel(),
    });
  }

  /**
   * Every object whose key starts with the URL's key (`s3://bucket/prefix/`), sorted by key,
   * through ListObjectsV2 one page (1000 keys) at a time. Only for `s3://` URLs.
   */
  async list(
    prefixUrl: string,
    options: { signal?: AbortSignal; /** @default {1000} */ pageSize?: number } = {},
  ): Promise<ObjectInfo[]> {
    const location = parseObjectUrl(prefixUrl);
    if (location.scheme !== "s3") {
      throw new LarderError(
        "INPUT_INVALID",
        `Cannot list "${location.href}": listing needs an s3:// URL (an HTTP server has no listing)`,
        { details: { url: location.href } },
      );
    }
    const found: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const query = new URLSearchParams({ "list-type": "2", prefix: location.key });
      if (options.pageSize) query.set("max-keys", String(options.pageSize));
      if (token) query.set("continuation-token", token);
      const page = await this.#send(`s3://${location.bucket}/`, "GET", {
        query,
        signal: options.signal,
        shown: prefixUrl,
        read: (res) => res.text(),
      });
      for (const body of xmlElements(page, "Contents")) {
        const key = xmlText(body, "Key");
        if (key === undefined) continue;
        found.push({
          url: `s3://${location.bucket}/${key}`,
          size: Number(xmlText(body, "Size") ?? NaN),
          etag: xmlText(body, "ETag"),
        });
      }
      token = xmlText(page, "IsTruncated") === "true"
        ? xmlText(page, "NextContinuationToken")
        : undefined;
    } while (token);
    return found.sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
  }

  async #send<T>(
    url: string,
    method: "GET" | "HEAD" | "PUT" | "DELETE",
    request: {
      headers?: Record<string, string>;
      body?: Uint8Array;
      query?: URLSearchParams;
      signal?: AbortSignal | undefined;
      /** Whether the request changes state (HTTP objects are read-only). */
      write?: boolean;
      /** The URL to name in messages, when not `url`. */
      shown?: string;
      read: (res: Response) => Promise<T>;
    },
  ): Promise<T> {
    const location = parseObjectUrl(url);
    const shown = request.shown ?? location.href;
    if (request.write && location.scheme !== "s3") {
      throw new LarderError(
        "INPUT_INVALID",
        `Cannot write "${shown}": Larder writes only to s3:// URLs (an https:// URL is read-only)`,
        { details: { url: shown } },
      );
    }
    let target = this.httpUrl(location);
    if (request.query) target += `?${request.query}`;
    const retries = this.settings.retries ?? 2;
    for (let attempt = 0;; attempt++) {
      const timeout = AbortSignal.timeout(this.settings.timeoutMs);
      const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
      const init: RequestInit = { method, headers: request.headers ?? {}, signal };
      if (request.body) init.body = request.body as Uint8Array<ArrayBuffer>;
      let retry = false;
      try {
        const signed = location.scheme === "s3" && this.#signer
          ? await this.#signer.sign(target, init)
          : new Request(target, init);
        this.stats.requests++;
        const res = await fetch(signed);
        if (res.ok || res.status === 304) return await request.read(res);
        const failure = await answerError(res, { method, url: shown, settings: this.settings });
        retry = failure.code === "UNAVAILABLE" && attempt < retries;
        if (!retry) throw failure;
      } catch (err) {
        if (isLarderError(err)) throw err;
        if (timeout.aborted) {
          throw new LarderError(
            "UNAVAILABLE",
            `Object storage did not answer ${method} "${shown}" within ${
              this.settings.timeoutMs / 1000
            } s: check the endpoint or raise object_store.timeout_seconds`,
            { cause: err, details: { url: shown, method } },
          );
        }
        if (request.signal?.aborted) throw err;
        if (attempt >= retries) {
          throw new LarderError(
            "UNAVAILABLE",
            `Cannot reach object storage for ${method} "${shown}": ${
              err instanceof Error ? err.message : String(err)
            }`,
            { cause: err, details: { url: shown, method } },
          );
        }
        retry = true;
      }
      if (retry) await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
    }
  }
}

function etagOf(res: Response): string | undefined {
  return res.headers.get("etag") ?? undefined;
}

/** The elements named `name` in an XML text (no nesting of the same name). */
function xmlElements(xml: string, name: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>`, "g");
  for (const m of xml.matchAll(re)) out.push(m[1]!);
  return out;
}

/** The text of the first element named `name`, entities decoded. */
function xmlText(xml: string, name: string): string | undefined {
  const body = xmlElements(xml, name)[0];
  if (body === undefined) return undefined;
  return body.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-f]+);/gi, (_m, e: string) => {
    const named: Record<string, string> = { lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" };
    if (e[0] === "#") {
      return String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1)));
    }
    return named[e.toLowerCase()] ?? _m;
  });
}

/** The `LarderError` for a non-2xx answer, from its status and S3's `<Code>`. */
async function answerError(
  res: Response,
  request: { method: string; url: string; settings: ObjectStoreSettings },
): Promise<LarderError> {
  const text = await res.text().catch(() => "");
  const s3Code = xmlText(text, "Code");
  const s3Message = xmlText(text, "Message");
  const { method, url } = request;
  const said = s3Code ? `${s3Code}${s3Message ? ` (${s3Message})` : ""}` : `HTTP ${res.status}`;
  const details = { url, method, status: res.status, ...(s3Code ? { s3Code } : {}) };
  let code: LarderErrorCode;
  let message: string;
  const credentials = request.settings.accessKeyId
    ? "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or object_store: in larder.yaml)"
    : "no credentials are set: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or object_store: in larder.yaml)";
  if (res.status === 404) {
    code = "NOT_FOUND";
    const what = s3Code === "NoSuchBucket"
      ? "the bucket does not exist"
      : s3Code === "NoSuchKey"
      ? "no object has this key"
      : "no such bucket or key";
    message = `Cannot find "${url}" in object storage: ${what}`;
  } else if (
    res.status === 401 ||
    (res.status === 403 &&
      /^(InvalidAccessKeyId|SignatureDoesNotMatch|InvalidToken|ExpiredToken|AuthorizationHeaderMalformed)$/
        .test(s3Code ?? "")) ||
    (res.status === 403 && !request.settings.accessKeyId)
  ) {
    code = "UNAUTHENTICATED";
    message =
      `Object storage refused the credentials for ${method} "${url}": ${said}: ${credentials}`;
  } else if (res.status === 403) {
    code = "FORBIDDEN";
    message =
      `Object storage denied ${method} "${url}": ${said}: the credentials lack the permission`;
  } else if (res.status === 412 || res.status === 409) {
    code = "CONFLICT";
    message =
      `Object storage refused ${method} "${url}": ${said}: the object changed (a condition failed)`;
  } else if (res.status === 416) {
    code = "INPUT_INVALID";
    message = `Object storage refused the byte range of ${method} "${url}": ${said}`;
  } else if (res.status >= 500 || res.status === 429) {
    code = "UNAVAILABLE";
    message = `Object storage failed ${method} "${url}": ${said}`;
  } else {
    code = "INPUT_INVALID";
    message = `Object storage refused ${method} "${url}": ${said}`;
  }
  return new LarderError(code, message, { details });
}
