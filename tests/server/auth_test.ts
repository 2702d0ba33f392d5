import assert from "node:assert/strict";
import {
  constantTimeEqual,
  createVerifier,
  hashToken,
  JwksCache,
  OidcVerifier,
  TokenVerifier,
} from "../../server/auth/mod.ts";
import { generateKey, serveJwks, signJwt } from "./_jwt.ts";

const bearer = (token: string) =>
  new Request("http://localhost/x", { headers: { authorization: `Bearer ${token}` } });

Deno.test("TokenVerifier.authenticate() maps a hashed token to its roles", async () => {
  const verifier = new TokenVerifier([
    { name: "reader", sha256: await hashToken("read-key"), roles: ["model"] },
    { name: "writer", sha256: await hashToken("write-key"), roles: ["etl", "model"] },
  ]);
  assert.deepEqual(await verifier.authenticate(bearer("write-key")), {
    subject: "writer",
    roles: ["etl", "model"],
  });
  assert.deepEqual((await verifier.authenticate(bearer("read-key"))).roles, ["model"]);
  await assert.rejects(() => verifier.authenticate(bearer("wrong")), {
    code: "UNAUTHENTICATED",
    message: "Invalid API token",
  });
  await assert.rejects(() => verifier.authenticate(new Request("http://localhost/")), {
    code: "UNAUTHENTICATED",
    message: 'Missing credentials: send "Authorization: Bearer <token>"',
  });
  await assert.rejects(
    () =>
      verifier.authenticate(
        new Request("http://localhost/", { headers: { authorization: "Basic abc" } }),
      ),
    { code: "UNAUTHENTICATED", message: 'Invalid Authorization header: expected "Bearer <token>"' },
  );
});

Deno.test("hashToken() is the SHA-256 hex that larder.yaml stores", async () => {
  assert.equal(
    await hashToken("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

Deno.test("constantTimeEqual() compares bytes", () => {
  assert.equal(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])), true);
  assert.equal(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])), false);
  assert.equal(constantTimeEqual(new Uint8Array([1]), new Uint8Array([1, 2])), false);
});

Deno.test("OidcVerifier verifies RS256 and ES256 tokens against a real JWKS", async (t) => {
  const rsa = await generateKey("RS256", "rsa-1");
  const ec = await generateKey("ES256", "ec-1");
  const jwks = serveJwks([rsa, ec]);
  const verifier = new OidcVerifier({
    issuer: jwks.issuer,
    audience: "larder",
    jwksUrl: jwks.jwksUrl,
    rolesClaim: "realm_access.roles",
    leewaySeconds: 0,
  });
  const now = Math.floor(Date.now() / 1000);
  const good = {
    iss: jwks.issuer,
    aud: "larder",
    sub: "svc-model",
    exp: now + 600,
    nbf: now - 10,
    realm_access: { roles: ["model", 7, "reader"] },
  };
  const reject = async (token: string, message: string | RegExp) =>
    await assert.rejects(() => verifier.authenticate(bearer(token)), {
      code: "UNAUTHENTICATED",
      message,
    });
  try {
    await t.step("valid RS256 and ES256", async () => {
      for (const key of [rsa, ec]) {
        const who = await verifier.authenticate(bearer(await signJwt(key, good)));
        assert.deepEqual(who, { subject: "svc-model", roles: ["model", "reader"] });
      }
    });
    await t.step("aud as an array", async () => {
      const token = await signJwt(ec, { ...good, aud: ["other", "larder"] });
      assert.equal((await verifier.authenticate(bearer(token))).subject, "svc-model");
    });
    await t.step("expired", async () => {
      await reject(await signJwt(rsa, { ...good, exp: now - 60 }), /^Invalid token: expired at /);
    });
    await t.step("no exp", async () => {
      const { exp: _, ...noExp } = good;
      await reject(await signJwt(rsa, noExp), 'Invalid token: no "exp" claim');
    });
    await t.step("not yet valid", async () => {
      await reject(
        await signJwt(ec, { ...good, nbf: now + 600 }),
        /^Invalid token: not valid before /,
      );
    });
    await t.step("wrong issuer", async () => {
      await reject(
        await signJwt(rsa, { ...good, iss: "http://evil.example" }),
        `Invalid token: issuer "http://evil.example" is not the configured "${jwks.issuer}"`,
      );
    });
    await t.step("wrong audience", async () => {
      await reject(
        await signJwt(rsa, { ...good, aud: "someone-else" }),
        'Invalid token: audience "someone-else" does not include "larder"',
      );
    });
    await t.step("bad signature", async () => {
      const token = await signJwt(rsa, good);
      const [h, , s] = token.split(".");
      const forged = btoa(JSON.stringify({ ...good, realm_access: { roles: ["admin"] } }))
        .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
      await reject(`${h}.${forged}.${s}`, "Invalid token: bad signature");
    });
    await t.step("signed by a key that is not the issuer's, under its kid", async () => {
      const impostor = await generateKey("RS256", "rsa-1");
      await reject(await signJwt(impostor, good), "Invalid token: bad signature");
    });
    await t.step("unknown kid", async () => {
      const other = await generateKey("ES256", "ec-unknown");
      await reject(await signJwt(other, good), 'Invalid token: unknown key id "ec-unknown"');
    });
    await t.step("alg none and HS256 are refused", async () => {
      const none = `${btoa('{"alg":"none"}').replace(/=+$/, "")}.${
        btoa(JSON.stringify(good)).replace(/=+$/, "")
      }.`;
      await reject(none, 'Invalid token: algorithm "none" is not accepted (use RS256 or ES256)');
      const hs = await signJwt(rsa, good, { alg: "HS256" });
      await reject(hs, 'Invalid token: algorithm "HS256" is not accepted (use RS256 or ES256)');
    });
    await t.step("an RSA kid claimed as ES256 does not verify", async () => {
      await reject(
        await signJwt(ec, good, { kid: "rsa-1" }),
        'Invalid token: unknown key id "rsa-1"',
      );
    });
    await t.step("garbage", async () => {
      await reject("abc", "Invalid token: not a JWT (expected three dot-separated parts)");
      await reject("YQ.b.c", "Invalid token: the header is not JSON");
      await reject("!!.b.c", "Invalid token: not a JWT (bad base64url)");
    });
  } finally {
    await jwks.close();
  }
});

Deno.test("OidcVerifier refetches the JWKS for an unknown kid (key rotation)", async () => {
  const first = await generateKey("RS256", "k1");
  const second = await generateKey("ES256", "k2");
  const jwks = serveJwks([first]);
  const verifier = new OidcVerifier({
    issuer: jwks.issuer,
    audience: "larder",
    jwksUrl: jwks.jwksUrl,
    minRefetchMs: 0,
  });
  const claims = { iss: jwks.issuer, aud: "larder", sub: "a", exp: Date.now() / 1000 + 60 };
  try {
    await verifier.authenticate(bearer(await signJwt(first, claims)));
    assert.equal(jwks.fetches, 1);
    await verifier.authenticate(bearer(await signJwt(first, claims)));
    assert.equal(jwks.fetches, 1, "keys are cached");
    jwks.setKeys([first, second]);
    const who = await verifier.authenticate(bearer(await signJwt(second, claims)));
    assert.equal(who.subject, "a");
    assert.equal(jwks.fetches, 2, "one refetch for the new kid");
    assert.deepEqual(who.roles, []);
  } finally {
    await jwks.close();
  }
});

Deno.test("OidcVerifier finds the JWKS through the discovery document", async () => {
  const key = await generateKey("ES256", "only");
  const jwks = serveJwks([key]);
  const verifier = createVerifier({
    type: "oidc",
    issuer: jwks.issuer,
    audience: "larder",
    roles_claim: "groups",
  });
  try {
    const token = await signJwt(key, {
      iss: jwks.issuer,
      aud: "larder",
      sub: "x",
      groups: "model reader",
      exp: Date.now() / 1000 + 60,
    });
    assert.deepEqual(await verifier.authenticate(bearer(token)), {
      subject: "x",
      roles: ["model", "reader"],
    });
    // Without a kid, the issuer's only ES256 key is used.
    const noKid = await signJwt(key, {
      iss: jwks.issuer,
      aud: "larder",
      sub: "y",
      exp: Date.now() / 1000 + 60,
    }, { kid: undefined });
    assert.equal((await verifier.authenticate(bearer(noKid))).subject, "y");
  } finally {
    await jwks.close();
  }
});

Deno.test("OidcVerifier answers UNAVAILABLE when the issuer's keys cannot be fetched", async () => {
  const key = await generateKey("RS256", "k");
  const jwks = serveJwks([key]);
  const issuer = jwks.issuer;
  await jwks.close();
  const verifier = new OidcVerifier({ issuer, audience: "larder", jwksUrl: `${issuer}/jwks.json` });
  const token = await signJwt(key, { iss: issuer, aud: "larder", exp: Date.now() / 1000 + 60 });
  await assert.rejects(() => verifier.authenticate(bearer(token)), {
    code: "UNAVAILABLE",
    message: new RegExp(`^Cannot fetch the issuer's keys \\(JWKS\\) from ${issuer}/jwks.json`),
  });
});

/** A clock the test moves (milliseconds). */
function fakeClock(start = Date.now()) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

Deno.test("OidcVerifier fetches the JWKS at most once per 5 s when the issuer answers 500 or garbage", async (t) => {
  const good = await generateKey("RS256", "good");
  const stranger = await generateKey("RS256", "rotated-in");
  for (const failure of ["http_500", "not_json"] as const) {
    await t.step(failure, async () => {
      const jwks = serveJwks([good]);
      const clock = fakeClock();
      const verifier = new OidcVerifier({
        issuer: jwks.issuer,
        audience: "larder",
        jwksUrl: jwks.jwksUrl,
        clock: clock.now,
      });
      const claims = { iss: jwks.issuer, aud: "larder", sub: "a", exp: clock.now() / 1000 + 600 };
      const unknown = await signJwt(stranger, claims);
      try {
        await verifier.authenticate(bearer(await signJwt(good, claims)));
        assert.equal(jwks.fetches, 1);
        jwks.answer(failure);
        clock.advance(5_000);
        for (let i = 0; i < 100; i++) {
          await assert.rejects(() => verifier.authenticate(bearer(unknown)), {
            code: "UNAUTHENTICATED",
            message: 'Invalid token: unknown key id "rotated-in"',
          });
        }
        assert.equal(jwks.fetches, 2, "one refetch for 100 unknown-kid requests");
        assert.equal(
          (await verifier.authenticate(bearer(await signJwt(good, claims)))).subject,
          "a",
          "the cached keys keep working",
        );
        clock.advance(4_999);
        await assert.rejects(() => verifier.authenticate(bearer(unknown)));
        assert.equal(jwks.fetches, 2);
        clock.advance(1);
        await Promise.all(
          Array.from(
            { length: 50 },
            () => assert.rejects(() => verifier.authenticate(bearer(unknown))),
          ),
        );
        assert.equal(jwks.fetches, 3, "the next window: one fetch for 50 concurrent requests");
        // The issuer recovers and publishes the new key: found at the next window.
        jwks.answer("keys");
        jwks.setKeys([good, stranger]);
        await assert.rejects(() => verifier.authenticate(bearer(unknown)));
        clock.advance(5_000);
        assert.equal((await verifier.authenticate(bearer(unknown))).subject, "a");
        assert.equal(jwks.fetches, 4);
      } finally {
        await jwks.close();
      }
    });
  }
});

Deno.test("OidcVerifier does not refetch at every unknown kid while the issuer answers 500 (real time)", async () => {
  const good = await generateKey("ES256", "good");
  const stranger = await generateKey("ES256", "stranger");
  const jwks = serveJwks([good]);
  const verifier = new OidcVerifier({
    issuer: jwks.issuer,
    audience: "larder",
    jwksUrl: jwks.jwksUrl,
    minRefetchMs: 2_000,
  });
  const claims = { iss: jwks.issuer, aud: "larder", exp: Date.now() / 1000 + 600 };
  try {
    const loadedAt = Date.now();
    await verifier.authenticate(bearer(await signJwt(good, claims)));
    // Let the first window pass, so that an unknown kid may refetch once.
    while (Date.now() - loadedAt < 2_100) await new Promise((r) => setTimeout(r, 50));
    jwks.answer("http_500");
    const unknown = await signJwt(stranger, claims);
    for (let i = 0; i < 100; i++) {
      await assert.rejects(() => verifier.authenticate(bearer(unknown)), {
        code: "UNAUTHENTICATED",
      });
    }
    // One refetch; a second only if these 100 requests took longer than a window.
    assert.ok(jwks.fetches - 1 <= 2, `${jwks.fetches - 1} refetches`);
  } finally {
    await jwks.close();
  }
});

Deno.test("OidcVerifier does not fetch at every request when the first fetch fails", async () => {
  const key = await generateKey("ES256", "k");
  const jwks = serveJwks([key]);
  jwks.answer("http_500");
  const clock = fakeClock();
  const verifier = new OidcVerifier({
    issuer: jwks.issuer,
    audience: "larder",
    jwksUrl: jwks.jwksUrl,
    clock: clock.now,
  });
  const token = await signJwt(key, {
    iss: jwks.issuer,
    aud: "larder",
    exp: clock.now() / 1000 + 60,
  });
  try {
    for (let i = 0; i < 100; i++) {
      await assert.rejects(() => verifier.authenticate(bearer(token)), {
        code: "UNAVAILABLE",
        message: `Cannot fetch the issuer's keys (JWKS) from ${jwks.jwksUrl}: HTTP 500`,
      });
    }
    assert.equal(jwks.fetches, 1);
    jwks.answer("keys");
    clock.advance(5_000);
    await verifier.authenticate(bearer(token));
    assert.equal(jwks.fetches, 2);
  } finally {
    await jwks.close();
  }
});

Deno.test("JwksCache shares one fetch among concurrent requests and counts a timeout as a fetch", async () => {
  const key = await generateKey("RS256", "k");
  const jwks = serveJwks([key]);
  const clock = fakeClock(0);
  const cache = new JwksCache({
    issuer: jwks.issuer,
    jwksUrl: jwks.jwksUrl,
    timeoutMs: 200,
    clock: clock.now,
  });
  try {
    jwks.answer("keys", 100); // slow, but in time
    const first = await Promise.all(Array.from({ length: 50 }, () => cache.key("k", "RS256")));
    assert.ok(first.every((k) => k === first[0] && k !== undefined));
    assert.equal(jwks.fetches, 1);
    clock.advance(5_000);
    jwks.answer("keys", 1_000); // slower than the timeout
    const unknown = await Promise.all(
      Array.from({ length: 50 }, () => cache.key("other", "RS256")),
    );
    assert.ok(unknown.every((k) => k === undefined));
    assert.equal(jwks.fetches, 2, "50 concurrent unknown-kid requests, one fetch");
    for (let i = 0; i < 100; i++) assert.equal(await cache.key("other", "RS256"), undefined);
    assert.equal(jwks.fetches, 2, "the timed-out fetch counts for the window");
    assert.ok(await cache.key("k", "RS256"), "the known key is still served");
  } finally {
    await jwks.close();
  }
});

Deno.test("OidcVerifier refuses tokens of a malformed published key (401) and keeps the others", async () => {
  const rsa = await generateKey("RS256", "rsa-good");
  const ec = await generateKey("ES256", "ec-good");
  const ecJwk = ec.jwk;
  const broken: Record<string, unknown>[] = [
    { kty: "RSA", kid: "short-n", use: "sig", n: "AAAA", e: "AQAB" },
    { kty: "RSA", kid: "no-n", e: "AQAB" },
    { kty: "RSA", kid: "bad-e", n: rsa.jwk.n, e: 42 },
    { kty: "EC", kid: "short-x", crv: "P-256", x: "AAAA", y: "AAAA" },
    { kty: "EC", kid: "wrong-crv", crv: "P-384", x: ecJwk.x, y: ecJwk.y },
    { kty: "EC", kid: "rsa-as-ec", n: rsa.jwk.n, e: "AQAB" },
    { kty: "oct", kid: "secret", k: "c2VjcmV0" },
    { kty: "RSA", kid: "overlong-n", n: `${rsa.jwk.n}!`, e: "AQAB" },
  ];
  const jwks = serveJwks([...broken, rsa, ec]);
  const verifier = new OidcVerifier({
    issuer: jwks.issuer,
    audience: "larder",
    jwksUrl: jwks.jwksUrl,
  });
  const claims = { iss: jwks.issuer, aud: "larder", sub: "s", exp: Date.now() / 1000 + 600 };
  try {
    for (const jwk of broken) {
      const signer = jwk.kty === "EC" ? ec : rsa;
      const token = await signJwt(signer, claims, { kid: jwk.kid });
      await assert.rejects(() => verifier.authenticate(bearer(token)), (err: unknown) => {
        assert.equal((err as { code?: string }).code, "UNAUTHENTICATED", String(err));
        assert.match(
          (err as Error).message,
          new RegExp(
            `^Invalid token: (the issuer's key "${jwk.kid}" cannot be used: |unknown key id)`,
          ),
        );
        return true;
      });
    }
    const shortN = await signJwt(rsa, claims, { kid: "short-n" });
    await assert.rejects(() => verifier.authenticate(bearer(shortN)), {
      message:
        'Invalid token: the issuer\'s key "short-n" cannot be used: "n" is not a base64url modulus of at least 2048 bits',
    });
    assert.equal((await verifier.authenticate(bearer(await signJwt(rsa, claims)))).subject, "s");
    assert.equal((await verifier.authenticate(bearer(await signJwt(ec, claims)))).subject, "s");
    // Without a kid: the one usable ES256 key, the malformed EC keys do not count.
    const noKid = await signJwt(ec, claims, { kid: undefined });
    assert.equal((await verifier.authenticate(bearer(noKid))).subject, "s");
  } finally {
    await jwks.close();
  }
});
