/**
 * `auth: {type: oidc}`: a bearer JWT signed by the issuer (RS256 or ES256), verified with
 * WebCrypto against the issuer's JWKS; `exp`, `nbf`, `iss` and `aud` are checked and the
 * roles come from a configurable claim.
 */
import { LarderError, type Principal } from "../../engine/mod.ts";
import { bearerCredential } from "./_bearer.ts";
import { JwksCache, type JwtAlgorithm } from "./jwks_cache.ts";
import type { AuthVerifier } from "./verifier.ts";

/** Options for {@linkcode OidcVerifier}. */
export interface OidcVerifierOptions {
  /** The expected `iss`. */
  readonly issuer: string;
  /** The value `aud` must be or contain. */
  readonly audience: string;
  /** Default: the `jwks_uri` of the issuer's discovery document. */
  readonly jwksUrl?: string | undefined;
  /** The claim holding the roles: a name, or a dotted path such as `realm_access.roles`. @default "roles" */
  readonly rolesClaim?: string;
  /** Tolerated clock difference for `exp` and `nbf`. @default 30 */
  readonly leewaySeconds?: number;
  /**
   * Current time in milliseconds, for `exp` and `nbf` and for when to refetch the keys.
   * @default Date.now (the key cache uses performance.now)
   */
  readonly clock?: () => number;
  /** @default globalThis.fetch */
  /** How the discovery document and the keys are fetched. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** The JWKS is fetched at most once in this long (unknown key ids, failures alike). @default 5_000 */
  readonly minRefetchMs?: number;
  /** Keys older than this are refreshed in the background. @default 600_000 */
  readonly maxKeyAgeMs?: number;
}

const ALGORITHMS: Record<JwtAlgorithm, AlgorithmIdentifier | EcdsaParams> = {
  RS256: { name: "RSASSA-PKCS1-v1_5" },
  ES256: { name: "ECDSA", hash: "SHA-256" },
};

function invalid(reason: string): LarderError {
  return new LarderError("UNAUTHENTICATED", `Invalid token: ${reason}`);
}

function base64UrlDecode(part: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) throw invalid("not a JWT (bad base64url)");
  const base64 = part.replaceAll("-", "+").replaceAll("_", "/");
  const padded = base64 + "=".repeat((4 - base64.length % 4) % 4);
  let binary: string;
  try {
    binary = atob(padded);
  } catch {
    throw invalid("not a JWT (bad base64url)");
  }
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

function decodeJson(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(base64UrlDecode(part)));
  } catch (err) {
    if (err instanceof LarderError) throw err;
    throw invalid(`the ${what} is not JSON`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw invalid(`the ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  let current: unknown = claims;
  for (const key of path.split(".")) {
    if (current === null || typeof current !== "object" || !Object.hasOwn(current, key)) {
      return undefined;
    }
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function rolesFrom(value: unknown): string[] {
  if (typeof value === "string") return value.split(/[\s,]+/).filter((r) => r !== "");
  if (Array.isArray(value)) return value.filter((r): r is string => typeof r === "string");
  return [];
}

const trimSlash = (s: string): string => s.replace(/\/+$/, "");

/**
 * Verifies OIDC bearer tokens.
 *
 * @example
 * ```ts
 * import { OidcVerifier } from "./oidc_verifier.ts";
 * const verifier = new OidcVerifier({
 *   issuer: "https://login.example.com/realms/ml",
 *   audience: "larder",
 *   rolesClaim: "realm_access.roles",
 * });
 * ```
 */
export class OidcVerifier implements AuthVerifier {
  /** Always `"oidc"`. */
  readonly mode = "oidc" as const;
  readonly enforcesPermissions = true;
  readonly #issuer: string;
  readonly #audience: string;
  readonly #rolesClaim: string;
  readonly #leeway: number;
  readonly #clock: () => number;
  readonly #jwks: JwksCache;

  /** Makes a verifier for one issuer and audience. */
  constructor(options: OidcVerifierOptions) {
    this.#issuer = options.issuer;
    this.#audience = options.audience;
    this.#rolesClaim = options.rolesClaim ?? "roles";
    this.#leeway = options.leewaySeconds ?? 30;
    this.#clock = options.clock ?? Date.now;
    this.#jwks = new JwksCache({
      issuer: options.issuer,
      jwksUrl: options.jwksUrl,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.minRefetchMs !== undefined ? { minRefetchMs: options.minRefetchMs } : {}),
      ...(options.maxKeyAgeMs !== undefined ? { maxAgeMs: options.maxKeyAgeMs } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
    });
  }

  /** The caller a valid bearer JWT names, with the roles of its roles claim. */
  async authenticate(request: Request): Promise<Principal> {
    const token = bearerCredential(request);
    const claims = await this.verify(token);
    const subject = typeof claims.sub === "string" ? claims.sub : "unknown";
    return { subject, roles: rolesFrom(claimAt(claims, this.#rolesClaim)) };
  }

  /** Verifies a compact JWT and returns its claims; throws `UNAUTHENTICATED` saying why not. */
  async verify(token: string): Promise<Record<string, unknown>> {
    if (token.length > 16_384) throw invalid("longer than 16384 characters");
    const parts = token.split(".");
    if (parts.length !== 3) throw invalid("not a JWT (expected three dot-separated parts)");
    const [h, p, s] = parts as [string, string, string];
    const header = decodeJson(h, "header");
    const alg = header.alg;
    if (alg !== "RS256" && alg !== "ES256") {
      throw invalid(`algorithm ${JSON.stringify(alg)} is not accepted (use RS256 or ES256)`);
    }
    const kid = typeof header.kid === "string" ? header.kid : undefined;
    const claims = decodeJson(p, "payload");
    const key = await this.#jwks.key(kid, alg);
    if (!key) {
      throw invalid(
        kid === undefined
          ? "no key id, and the issuer does not have exactly one key for " + alg
          : `unknown key id ${JSON.stringify(kid)}`,
      );
    }
    const signature = base64UrlDecode(s);
    const signed = new TextEncoder().encode(`${h}.${p}`);
    let ok: boolean;
    try {
      ok = await crypto.subtle.verify(ALGORITHMS[alg], key, signature, signed);
    } catch {
      // WebCrypto accepts some keys at import that it cannot verify with.
      throw invalid(`the issuer's key ${JSON.stringify(kid ?? "")} cannot verify it`);
    }
    if (!ok) throw invalid("bad signature");
    this.#checkClaims(claims);
    return claims;
  }

  #checkClaims(claims: Record<string, unknown>): void {
    const now = this.#clock() / 1000;
    const { exp, nbf, iss, aud } = claims;
    if (typeof exp !== "number") throw invalid('no "exp" claim');
    if (now > exp + this.#leeway) {
      throw invalid(`expired at ${new Date(exp * 1000).toISOString()}`);
    }
    if (nbf !== undefined) {
      if (typeof nbf !== "number") throw invalid('"nbf" is not a number');
      if (now + this.#leeway < nbf) {
        throw invalid(`not valid before ${new Date(nbf * 1000).toISOString()}`);
      }
    }
    if (typeof iss !== "string" || trimSlash(iss) !== trimSlash(this.#issuer)) {
      throw invalid(
        `issuer ${JSON.stringify(iss)} is not the configured ${JSON.stringify(this.#issuer)}`,
      );
    }
    const audiences = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud : [];
    if (!audiences.includes(this.#audience)) {
      throw invalid(`audience ${JSON.stringify(aud)} does not include "${this.#audience}"`);
    }
  }
}
