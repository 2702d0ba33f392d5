/**
 * Test helpers for OIDC: signing keys generated with WebCrypto, JWTs signed with them, and a
 * real JWKS (plus discovery document) served on loopback with `Deno.serve`.
 */

/** A signing key with its public JWK. */
export interface TestKey {
  readonly kid: string;
  readonly alg: "RS256" | "ES256";
  readonly privateKey: CryptoKey;
  readonly jwk: JsonWebKey & { kid: string; alg: string; use: string };
}

/** Generates an RS256 or ES256 key pair. */
export async function generateKey(alg: "RS256" | "ES256", kid: string): Promise<TestKey> {
  const pair = alg === "RS256"
    ? await crypto.subtle.generateKey(
      {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256",
      },
      true,
      ["sign", "verify"],
    )
    : await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
      "sign",
      "verify",
    ]);
  const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  return { kid, alg, privateKey: pair.privateKey, jwk: { ...jwk, kid, alg, use: "sig" } };
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

const json64 = (value: unknown) => base64url(new TextEncoder().encode(JSON.stringify(value)));

/** Signs `claims` with `key` (header `kid` overridable, e.g. to name an unknown key). */
export async function signJwt(
  key: TestKey,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  const head = json64({ alg: key.alg, typ: "JWT", kid: key.kid, ...header });
  const body = json64(claims);
  const algorithm = key.alg === "RS256"
    ? { name: "RSASSA-PKCS1-v1_5" }
    : { name: "ECDSA", hash: "SHA-256" };
  const signature = await crypto.subtle.sign(
    algorithm,
    key.privateKey,
    new TextEncoder().encode(`${head}.${body}`),
  );
  return `${head}.${body}.${base64url(new Uint8Array(signature))}`;
}

/** How the loopback issuer answers for its JWKS. */
export type JwksAnswer = "keys" | "http_500" | "not_json";

/** A JWKS and discovery document served on loopback. */
export interface JwksServer {
  /** The issuer URL (`http://127.0.0.1:<port>`). */
  readonly issuer: string;
  readonly jwksUrl: string;
  /** Replaces the published keys (a plain object is published as it is, e.g. a broken JWK). */
  setKeys(keys: readonly (TestKey | Record<string, unknown>)[]): void;
  /** What the JWKS URL answers from now on, after `delayMs`. */
  answer(what: JwksAnswer, delayMs?: number): void;
  /** Requests for the JWKS so far. */
  readonly fetches: number;
  close(): Promise<void>;
}

const publish = (keys: readonly (TestKey | Record<string, unknown>)[]) =>
  keys.map((k) => "privateKey" in k ? (k as TestKey).jwk : k);

/** Serves `keys` at `/jwks.json` and a discovery document at `/.well-known/openid-configuration`. */
export function serveJwks(keys: readonly (TestKey | Record<string, unknown>)[]): JwksServer {
  let published = publish(keys);
  let fetches = 0;
  let issuer = "";
  let mode: JwksAnswer = "keys";
  let delay = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req): Promise<Response> => {
      const path = new URL(req.url).pathname;
      if (path === "/jwks.json") {
        fetches++;
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        if (mode === "http_500") return new Response("boom", { status: 500 });
        if (mode === "not_json") {
          return new Response("<html>", { headers: { "content-type": "application/json" } });
        }
        return Response.json({ keys: published });
      }
      if (path === "/.well-known/openid-configuration") {
        return Response.json({ issuer, jwks_uri: `${issuer}/jwks.json` });
      }
      return new Response("not found", { status: 404 });
    },
  );
  issuer = `http://127.0.0.1:${server.addr.port}`;
  return {
    issuer,
    jwksUrl: `${issuer}/jwks.json`,
    setKeys(next) {
      published = publish(next);
    },
    answer(what, delayMs = 0) {
      mode = what;
      delay = delayMs;
    },
    get fetches() {
      return fetches;
    },
    close: () => server.shutdown(),
  };
}
