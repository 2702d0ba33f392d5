/**
 * The issuer's signing keys (JWKS), fetched on first use, cached, refreshed in the
 * background when old, and refetched at once when a token names an unknown key id.
 */
import { LarderError } from "../../engine/mod.ts";

/** Signature algorithms accepted. */
export type JwtAlgorithm = "RS256" | "ES256";

/** A JSON Web Key as published in a JWKS. */
export interface Jwk {
  readonly kty?: string;
  readonly kid?: string;
  readonly alg?: string;
  readonly use?: string;
  readonly crv?: string;
  readonly [key: string]: unknown;
}

/** Options for {@linkcode JwksCache}. */
export interface JwksCacheOptions {
  /** The issuer; its discovery document names the JWKS when `jwksUrl` is not given. */
  readonly issuer: string;
  readonly jwksUrl?: string | undefined;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Keys older than this are refreshed in the background. @default 600_000 */
  readonly maxAgeMs?: number;
  /** An unknown key id refetches at most this often. @default 5_000 */
  readonly minRefetchMs?: number;
  /** @default 5_000 */
  readonly timeoutMs?: number;
}

interface Loaded {
  readonly keys: readonly Jwk[];
  readonly at: number;
}

const IMPORT: Record<
  JwtAlgorithm,
  { kty: string; params: RsaHashedImportParams | EcKeyImportParams }
> = {
  RS256: { kty: "RSA", params: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } },
  ES256: { kty: "EC", params: { name: "ECDSA", namedCurve: "P-256" } },
};

/**
 * Keys of one issuer.
 *
 * @example
 * ```ts
 * import { JwksCache } from "./jwks_cache.ts";
 * const jwks = new JwksCache({ issuer: "https://issuer.example", jwksUrl: "https://issuer.example/jwks" });
 * const key = await jwks.key("key-1", "RS256"); // CryptoKey | undefined
 * ```
 */
export class JwksCache {
  readonly #issuer: string;
  readonly #fetch: typeof fetch;
  readonly #maxAgeMs: number;
  readonly #minRefetchMs: number;
  readonly #timeoutMs: number;
  #jwksUrl: string | undefined;
  #loaded: Loaded | undefined;
  #loading: Promise<Loaded> | undefined;
  readonly #imported = new Map<string, Promise<CryptoKey>>();

  constructor(options: JwksCacheOptions) {
    this.#issuer = options.issuer;
    this.#jwksUrl = options.jwksUrl;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#maxAgeMs = options.maxAgeMs ?? 600_000;
    this.#minRefetchMs = options.minRefetchMs ?? 5_000;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
  }

  /**
   * The verification key for `kid` and `alg`, or `undefined` when the issuer has none.
   * Without a `kid`, the only key of the algorithm's type (if there is exactly one).
   */
  async key(kid: string | undefined, alg: JwtAlgorithm): Promise<CryptoKey | undefined> {
    let loaded: Loaded = this.#loaded ?? await this.#load();
    if (performance.now() - loaded.at > this.#maxAgeMs) {
      this.#load().catch(() => {}); // keep serving the old keys meanwhile
    }
    let jwk = pick(loaded.keys, kid, alg);
    if (!jwk && performance.now() - loaded.at >= this.#minRefetchMs) {
      // A key rotation: refetch once. If the issuer is down, the key stays unknown.
      loaded = await this.#load().catch(() => loaded);
      jwk = pick(loaded.keys, kid, alg);
    }
    if (!jwk) return undefined;
    const cacheKey = `${alg}:${JSON.stringify(jwk)}`;
    let key = this.#imported.get(cacheKey);
    if (!key) {
      const { params } = IMPORT[alg];
      key = crypto.subtle.importKey("jwk", jwk as JsonWebKey, params, false, ["verify"]);
      key.catch(() => this.#imported.delete(cacheKey));
      if (this.#imported.size > 100) this.#imported.clear();
      this.#imported.set(cacheKey, key);
    }
    try {
      return await key;
    } catch (cause) {
      throw new LarderError(
        "UNAUTHENTICATED",
        `Invalid token: the issuer's key "${jwk.kid ?? ""}" cannot be used for ${alg}`,
        { cause },
      );
    }
  }

  #load(): Promise<Loaded> {
    this.#loading ??= this.#fetchKeys().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #getJson(url: string, what: string): Promise<unknown> {
    let response: Response;
    try {
      response = await this.#fetch(url, {
        headers: { accept: "application/json" },
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (cause) {
      throw new LarderError("UNAVAILABLE", `Cannot fetch the ${what} from ${url}`, { cause });
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new LarderError(
        "UNAVAILABLE",
        `Cannot fetch the ${what} from ${url}: HTTP ${response.status}`,
      );
    }
    try {
      return await response.json();
    } catch (cause) {
      throw new LarderError("UNAVAILABLE", `The ${what} at ${url} is not JSON`, { cause });
    }
  }

  async #fetchKeys(): Promise<Loaded> {
    if (this.#jwksUrl === undefined) {
      const url = `${this.#issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
      const discovery = await this.#getJson(url, "OIDC discovery document");
      const uri = (discovery as { jwks_uri?: unknown } | null)?.jwks_uri;
      if (typeof uri !== "string") {
        throw new LarderError(
          "UNAVAILABLE",
          `The OIDC discovery document at ${url} has no jwks_uri`,
        );
      }
      this.#jwksUrl = uri;
    }
    const body = await this.#getJson(this.#jwksUrl, "issuer's keys (JWKS)");
    const keys = (body as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys)) {
      throw new LarderError("UNAVAILABLE", `The JWKS at ${this.#jwksUrl} has no "keys" array`);
    }
    const loaded: Loaded = {
      keys: keys.filter((k): k is Jwk => k !== null && typeof k === "object"),
      at: performance.now(),
    };
    this.#loaded = loaded;
    return loaded;
  }
}

function usable(jwk: Jwk, alg: JwtAlgorithm): boolean {
  if (jwk.kty !== IMPORT[alg].kty) return false;
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  if (jwk.use !== undefined && jwk.use !== "sig") return false;
  if (alg === "ES256" && jwk.crv !== "P-256") return false;
  return true;
}

function pick(keys: readonly Jwk[], kid: string | undefined, alg: JwtAlgorithm): Jwk | undefined {
  if (kid !== undefined) return keys.find((k) => k.kid === kid && usable(k, alg));
  const candidates = keys.filter((k) => usable(k, alg));
  return candidates.length === 1 ? candidates[0] : undefined;
}
