/** Object URLs: `s3://bucket/key` and `http(s)://…`, told apart from local paths. */
import { LarderError } from "../../registry/mod.ts";

/** Where one object (or, for listings, a prefix) lives. */
export type ObjectLocation =
  | {
    readonly scheme: "s3";
    readonly bucket: string;
    /** The key, without a leading `/` (may be empty: the bucket itself). */
    readonly key: string;
    /** `s3://bucket/key`, for messages. */
    readonly href: string;
  }
  | {
    readonly scheme: "http" | "https";
    readonly bucket?: undefined;
    readonly key: string;
    /** The URL without credentials or query string, for messages. */
    readonly href: string;
    /** The URL to fetch. */
    readonly url: string;
  };

const OBJECT_URL = /^(s3|https?):\/\//i;

/** Whether `path` names an object in object storage (`s3://`, `http://`, `https://`). */
export function isObjectUrl(path: string): boolean {
  return OBJECT_URL.test(path);
}

/** `https://user:pass@host/key?token=…` → `https://host/key`: safe for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return url.replace(/\/\/[^/@]*@/, "//").replace(/\?.*$/, "");
  }
}

/**
 * Parses `s3://bucket/key` or an `http(s)://` URL. A bucket name must be 3-63 characters of
 * lowercase letters, digits, dots and hyphens (S3's rule); anything else is `INPUT_INVALID`.
 */
export function parseObjectUrl(text: string): ObjectLocation {
  const scheme = OBJECT_URL.exec(text)?.[1]?.toLowerCase();
  if (scheme === "s3") {
    const rest = text.slice("s3://".length);
    const slash = rest.indexOf("/");
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const key = slash < 0 ? "" : rest.slice(slash + 1);
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new LarderError(
        "INPUT_INVALID",
        `Cannot parse object URL "${text}": bucket "${bucket}" is not a valid bucket name (3-63 lowercase letters, digits, "." or "-")`,
        { details: { url: text } },
      );
    }
    return { scheme: "s3", bucket, key, href: `s3://${bucket}/${key}` };
  }
  if (scheme === "http" || scheme === "https") {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new LarderError("INPUT_INVALID", `Cannot parse object URL "${redactUrl(text)}"`, {
        details: { url: redactUrl(text) },
      });
    }
    return {
      scheme,
      key: decodeURIComponent(url.pathname.replace(/^\//, "")),
      href: redactUrl(text),
      url: url.href,
    };
  }
  throw new LarderError(
    "INPUT_INVALID",
    `Cannot parse object URL "${text}": expected s3://bucket/key or https://…`,
    { details: { url: text } },
  );
}

/** `s3://bucket/` + `key`, or the same URL with its last path segment replaced. */
export function siblingUrl(location: ObjectLocation, key: string): string {
  if (location.scheme === "s3") return `s3://${location.bucket}/${key}`;
  const url = new URL(location.url);
  url.pathname = `/${key.split("/").map(encodeURIComponent).join("/")}`;
  return url.href;
}
