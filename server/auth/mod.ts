/**
 * @module
 * Authentication for the feature server: none, static API tokens (stored hashed) or OIDC
 * bearer JWTs verified against the issuer's JWKS.
 *
 * @example
 * ```ts
 * import { createVerifier } from "./mod.ts";
 * const verifier = createVerifier({ type: "none" });
 * const who = await verifier.authenticate(new Request("http://localhost/"));
 * ```
 */
export type { AuthMode, AuthVerifier } from "./verifier.ts";
export { createVerifier, type CreateVerifierOptions } from "./create_verifier.ts";
export { NoAuthVerifier } from "./no_auth_verifier.ts";
export { constantTimeEqual, hashToken, type TokenEntry, TokenVerifier } from "./token_verifier.ts";
export { OidcVerifier, type OidcVerifierOptions } from "./oidc_verifier.ts";
export { type Jwk, JwksCache, type JwksCacheOptions, type JwtAlgorithm } from "./jwks_cache.ts";
