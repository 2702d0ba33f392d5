/** Maps `auth.type` to a verifier: the only code that knows every auth mode. */
import type { AuthConfig } from "../../engine/mod.ts";
import { NoAuthVerifier } from "./no_auth_verifier.ts";
import { OidcVerifier, type OidcVerifierOptions } from "./oidc_verifier.ts";
import { TokenVerifier } from "./token_verifier.ts";
import type { AuthVerifier } from "./verifier.ts";

/** Options for {@linkcode createVerifier} beyond `larder.yaml`. */
export type CreateVerifierOptions = Pick<OidcVerifierOptions, "clock" | "fetch" | "leewaySeconds">;

const FACTORIES = {
  none: () => new NoAuthVerifier(),
  token: (config) => new TokenVerifier(config.tokens),
  oidc: (config, options) =>
    new OidcVerifier({
      issuer: config.issuer,
      audience: config.audience,
      jwksUrl: config.jwks_url,
      rolesClaim: config.roles_claim,
      ...options,
    }),
} satisfies {
  [T in AuthConfig["type"]]: (
    config: Extract<AuthConfig, { type: T }>,
    options: CreateVerifierOptions,
  ) => AuthVerifier;
};

/** The verifier for `auth:` in `larder.yaml`. */
export function createVerifier(
  config: AuthConfig,
  options: CreateVerifierOptions = {},
): AuthVerifier {
  switch (config.type) {
    case "none":
      return FACTORIES.none();
    case "token":
      return FACTORIES.token(config);
    case "oidc":
      return FACTORIES.oidc(config, options);
  }
}
