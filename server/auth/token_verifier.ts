/**
 * `auth: {type: token}`: static API keys. `larder.yaml` stores only the SHA-256 of each key;
 * a presented key is hashed and compared with every stored hash in constant time.
 */
import { LarderError, type Principal } from "../../engine/mod.ts";
import { sha256Bytes } from "../_sha256.ts";
import { bearerCredential } from "./_bearer.ts";
import type { AuthVerifier } from "./verifier.ts";

/** One configured key. */
export interface TokenEntry {
  readonly name: string;
  /** SHA-256 of the key, as 64 hex digits. */
  readonly sha256: string;
  readonly roles: readonly string[];
}

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Whether `a` and `b` are equal, taking the same time wherever they differ. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** SHA-256 of a key as 64 lowercase hex digits (what `larder.yaml` stores). */
export function hashToken(token: string): Promise<string> {
  return Promise.resolve(
    Array.from(sha256Bytes(token), (b) => b.toString(16).padStart(2, "0")).join(""),
  );
}

/**
 * Verifies `Authorization: Bearer <key>` against hashed keys.
 *
 * @example
 * ```ts
 * import { hashToken, TokenVerifier } from "./token_verifier.ts";
 * const verifier = new TokenVerifier([
 *   { name: "ci", sha256: await hashToken("s3cret"), roles: ["writer"] },
 * ]);
 * const who = await verifier.authenticate(
 *   new Request("http://x/", { headers: { authorization: "Bearer s3cret" } }),
 * );
 * // who.roles: ["writer"]
 * ```
 */
export class TokenVerifier implements AuthVerifier {
  /** Always `"token"`. */
  readonly mode = "token" as const;
  readonly enforcesPermissions = true;
  readonly #entries: { hash: Uint8Array; principal: Principal }[];

  /** Makes a verifier accepting these tokens (by their SHA-256 hex). */
  constructor(entries: readonly TokenEntry[]) {
    this.#entries = entries.map((e) => {
      if (!/^[0-9a-f]{64}$/.test(e.sha256)) {
        throw new LarderError(
          "CONFIG_INVALID",
          `auth.tokens: "${e.name}": sha256 must be 64 lowercase hex digits`,
        );
      }
      return {
        hash: fromHex(e.sha256),
        principal: Object.freeze({ subject: e.name, roles: Object.freeze([...e.roles]) }),
      };
    });
  }

  /** The caller whose token the request's bearer credential is. */
  authenticate(request: Request): Promise<Principal> {
    try {
      return Promise.resolve(this.#principalOf(bearerCredential(request)));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #principalOf(token: string): Principal {
    const digest = sha256Bytes(token);
    let found: Principal | undefined;
    // Compare with every entry, without stopping early.
    for (const entry of this.#entries) {
      if (constantTimeEqual(digest, entry.hash) && found === undefined) found = entry.principal;
    }
    if (found === undefined) {
      throw new LarderError("UNAUTHENTICATED", "Invalid API token");
    }
    return found;
  }
}
