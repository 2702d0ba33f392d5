/** `auth: {type: none}`: every caller is anonymous and permissions are not enforced. */
import type { Principal } from "../../engine/mod.ts";
import type { AuthVerifier } from "./verifier.ts";

const ANONYMOUS: Principal = Object.freeze({ subject: "anonymous", roles: Object.freeze([]) });

/**
 * No authentication. As in Feast's `no_auth`, permissions are not enforced: without
 * credentials there are no roles to check them against.
 */
export class NoAuthVerifier implements AuthVerifier {
  /** Always `"none"`. */
  readonly mode = "none" as const;
  readonly enforcesPermissions = false;

  /** Every caller is anonymous, with no roles. */
  authenticate(_request: Request): Promise<Principal> {
    return Promise.resolve(ANONYMOUS);
  }
}
