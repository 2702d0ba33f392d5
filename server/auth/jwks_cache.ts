/**
 * The issuer's signing keys (JWKS), fetched on first use, cached, refreshed in the
 * background when old, and refetched at once when a token names an unknown key id: at most
 * one fetch at a time, and none within `minRefetchMs` of the last one, whatever the issuer
 * answered.
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
  /**
   * At most one fetch of the keys starts in this long after the last one ended, whatever its
   * outcome (an unknown key id, a failed or a slow answer alike). @default 5_000
   */
  readonly minRefetchMs?: number;
  /** @default 5_000 */
  readonly timeoutMs?: number;
  /** Current time in milliseconds, for the two intervals above. @default performance.now */
  readonly clock?: () => number;
}

/** A published key that can verify tokens. */
interface UsableKey {
  readonly kid: string | undefined;
  readonly alg: JwtAlgorithm;
  readonly key: CryptoKey;
}

interface Loaded {
  readonly keys: readonly UsableKey[];
  /** Key id -> why the published key with that id cannot be used. */
  readonly skipped: ReadonlyMap<string, string>;
  readonly at: number;
}

const IMPORT: Record<
  JwtAlgorithm,
  { kty: string; params: RsaHashedImportParams | EcKeyImportParams }
> = {
  RS256: { kty: "RSA", params: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } },
  ES256: { kty: "EC", params: { name: "ECDSA", namedCurve: "P-256" } },
};

/** Bytes of a base64url member, or `undefined` when it is missing or not base64url. */
function bytesOf(jwk: Jwk, member: string): number | undefined {
  const value = jwk[member];
  if (typeof value !== "string" || !/^[A-Za-z0-9_-]+$/.test(value) || value.length % 4 === 1) {
    return undefined;
  }
  return Math.floor(value.length * 3 / 4);
}

/**
 * The algorithm a published key is for, `undefined` for keys this verifier does not use
 * (encryption keys, other algorithms), or why a signing key of a supported type is malformed.
 */
function algorithmOf(jwk: Jwk): JwtAlgorithm | undefined | { malformed: string } {
  if (jwk.use !== undefined && jwk.use !== "sig") return undefined;
  const alg = (Object.keys(IMPORT) as JwtAlgorithm[]).find((a) => IMPORT[a].kty === jwk.kty);
  if (alg === undefined || (jwk.alg !== undefined && jwk.alg !== alg)) return undefined;
  const need = (member: string, test: (bytes: number) => boolean, what: string) =>
    test(bytesOf(jwk, member) ?? -1) ? undefined : `"${member}" ${what}`;
  const problem = alg === "RS256"
    ? need("n", (b) => b >= 256, "is not a base64url modulus of at least 2048 bits") ??
      need("e", (b) => b >= 1 && b <= 8, "is not a base64url exponent")
    : jwk.crv !== "P-256"
    ? `"crv" is ${JSON.stringify(jwk.crv)}, not "P-256"`
    : need("x", (b) => b === 32, "is not a base64url P-256 coordinate") ??
      need("y", (b) => b === 32, "is not a base64url P-256 coordinate");
  return problem === undefined ? alg : { malformed: problem };
}

/**
 * Keys of one issuer. Keys are imported when fetched; a malformed one is skipped (tokens
 * naming it are refused) and the others keep working.
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
  readonly #clock: () => number;
  #jwksUrl: string | undefined;
  #loaded: Loaded | undefined;
  #loading: Promise<Loaded> | undefined;
  /** When the last fetch ended, and its failure if it failed. */
  #last: { readonly at: number; readonly failure?: unknown } | undefined;

  constructor(options: JwksCacheOptions) {
    this.#issuer = options.issuer;
    this.#jwksUrl = options.jwksUrl;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#maxAgeMs = options.maxAgeMs ?? 600_000;
    this.#minRefetchMs = options.minRefetchMs ?? 5_000;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#clock = options.clock ?? (() => performance.now());
  }

  /**
   * The verification key for `kid` and `alg`, or `undefined` when the issuer has none.
   * Without a `kid`, the only key of the algorithm (if there is exactly one). Throws
   * `UNAUTHENTICATED` when the issuer's key of that id is malformed, `UNAVAILABLE` when the
   * keys cannot be fetched.
   */
  async key(kid: string | undefined, alg: JwtAlgorithm): Promise<CryptoKey | undefined> {
    let loaded: Loaded = this.#loaded ?? await this.#load();
    if (this.#clock() - loaded.at > this.#maxAgeMs) {
      this.#load().catch(() => {}); // keep serving the old keys meanwhile
    }
    let found = pick(loaded, kid, alg);
    if (!found) {
      // A key rotation: refetch (at most once per minRefetchMs). If the issuer is down, the
      // key stays unknown.
      loaded = await this.#load().catch(() => loaded);
      found = pick(loaded, kid, alg);
    }
    if (!found && kid !== undefined && loaded.skipped.has(kid)) {
      throw new LarderError(
        "UNAUTHENTICATED",
        `Invalid token: the issuer's key "${kid}" cannot be used: ${loaded.skipped.get(kid)}`,
      );
    }
    return found?.key;
  }

  /**
   * The keys fetched now, or by the fetch under way. Within `minRefetchMs` of the last fetch,
   * nothing is fetched: the keys in memory, or the last fetch's failure.
   */
  #load(): Promise<Loaded> {
    if (this.#loading) return this.#loading;
    const last = this.#last;
    if (last && this.#clock() - last.at < this.#minRefetchMs) {
      return this.#loaded ? Promise.resolve(this.#loaded) : Promise.reject(last.failure);
    }
    this.#loading = this.#fetchKeys().then(
      (loaded) => {
        this.#loaded = loaded;
        this.#last = { at: this.#clock() };
        return loaded;
      },
      (failure: unknown) => {
        this.#last = { at: this.#clock(), failure };
        throw failure;
      },
    ).finally(() => {
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
    const published = (body as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(published)) {
      throw new LarderError("UNAVAILABLE", `The JWKS at ${this.#jwksUrl} has no "keys" array`);
    }
    const keys: UsableKey[] = [];
    const skipped = new Map<string, string>();
    for (const jwk of published.slice(0, 100) as unknown[]) {
      if (jwk === null || typeof jwk !== "object" || Array.isArray(jwk)) continue;
      const { kid } = jwk as Jwk;
      const id = typeof kid === "string" ? kid : undefined;
      const alg = algorithmOf(jwk as Jwk);
      if (alg === undefined) continue;
      if (typeof alg === "object") {
        if (id !== undefined) skipped.set(id, alg.malformed);
        continue;
      }
      try {
        const key = await crypto.subtle.importKey(
          "jwk",
          jwk as JsonWebKey,
          IMPORT[alg].params,
          false,
          ["verify"],
        );
        keys.push({ kid: id, alg, key });
      } catch (err) {
        if (id !== undefined) {
          skipped.set(id, `it cannot be imported (${err instanceof Error ? err.message : err})`);
        }
      }
    }
    return { keys, skipped, at: this.#clock() };
  }
}

function pick(
  loaded: Loaded,
  kid: string | undefined,
  alg: JwtAlgorithm,
): UsableKey | undefined {
  if (kid !== undefined) return loaded.keys.find((k) => k.kid === kid && k.alg === alg);
  const candidates = loaded.keys.filter((k) => k.alg === alg);
  return candidates.length === 1 ? candidates[0] : undefined;
}
