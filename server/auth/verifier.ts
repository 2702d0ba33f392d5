/** The plug-in point for authentication: who is calling, from the request's credentials. */
import type { Principal } from "../../engine/mod.ts";

/** How a deployment identifies callers (`auth.type` in `larder.yaml`). */
export type AuthMode = "none" | "token" | "oidc";

/**
 * Establishes who sent a request. Implementations throw an `UNAUTHENTICATED` error for
 * missing or invalid credentials, and `UNAVAILABLE` when they cannot check them (e.g. the
 * issuer's keys cannot be fetched).
 */
export interface AuthVerifier {
  /** Which kind of authentication this is. */
  readonly mode: AuthMode;
  /** Whether permissions are enforced for the callers this verifier identifies. */
  readonly enforcesPermissions: boolean;
  /** Who sent `request`; rejects with `UNAUTHENTICATED` or `UNAVAILABLE`. */
  authenticate(request: Request): Promise<Principal>;
}
