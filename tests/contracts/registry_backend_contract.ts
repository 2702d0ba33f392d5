/**
 * The contract every registry backend passes: read, compare-and-set, conflicts that
 * change nothing, and exactly one winner among concurrent writers.
 */
import assert from "node:assert/strict";
import { LarderError, type RegistryBackend } from "../../registry/mod.ts";

/** A backend under test and how to dispose of it. */
export interface BackendUnderTest {
  readonly backend: RegistryBackend;
  /** Opens a second, independent client on the same storage. */
  readonly openAnother: () => Promise<RegistryBackend>;
  readonly cleanup: () => Promise<void>;
}

const doc = (version: number, marker: string) => ({
  version,
  text: JSON.stringify({ version, marker }),
});

/** Registers the contract tests for one backend. */
export function registryBackendContract(
  name: string,
  open: () => Promise<BackendUnderTest>,
  options: { ignore?: boolean } = {},
): void {
  const test = (what: string, fn: (b: BackendUnderTest) => Promise<void>) =>
    Deno.test({
      name: `${name}: ${what}`,
      ignore: options.ignore ?? false,
      fn: async () => {
        const b = await open();
        try {
          await fn(b);
        } finally {
          await b.cleanup();
        }
      },
    });

  test("read() is null before the first write", async ({ backend }) => {
    assert.equal(await backend.read(), null);
  });

  test("compareAndSet() from version 0 stores the document", async ({ backend }) => {
    await backend.compareAndSet(0, doc(1, "first"));
    assert.deepEqual(await backend.read(), doc(1, "first"));
    await backend.compareAndSet(1, doc(2, "second"));
    assert.deepEqual(await backend.read(), doc(2, "second"));
  });

  test("compareAndSet() with a stale version fails and changes nothing", async ({ backend }) => {
    await backend.compareAndSet(0, doc(1, "first"));
    await backend.compareAndSet(1, doc(2, "second"));
    await assert.rejects(
      () => backend.compareAndSet(1, doc(2, "late")),
      (err: unknown) => {
        assert.ok(err instanceof LarderError);
        assert.equal(err.code, "REGISTRY_CONFLICT");
        assert.match(
          err.message,
          /^The registry changed since it was read \(read version 1, now 2\)/,
        );
        return true;
      },
    );
    await assert.rejects(() => backend.compareAndSet(0, doc(1, "again")), { name: "LarderError" });
    assert.deepEqual(await backend.read(), doc(2, "second"));
  });

  test("concurrent writers from one version: exactly one wins", async ({ backend, openAnother }) => {
    await backend.compareAndSet(0, doc(1, "base"));
    const clients = [backend, ...await Promise.all(Array.from({ length: 5 }, openAnother))];
    const results = await Promise.allSettled(
      clients.map((c, i) => c.compareAndSet(1, doc(2, `writer-${i}`))),
    );
    const winners = results.flatMap((r, i) => r.status === "fulfilled" ? [i] : []);
    assert.equal(winners.length, 1, `expected one winner, got ${winners.length}`);
    for (const r of results) {
      if (r.status === "rejected") {
        assert.equal((r.reason as LarderError).code, "REGISTRY_CONFLICT");
      }
    }
    assert.deepEqual(await backend.read(), doc(2, `writer-${winners[0]}`));
    for (const c of clients.slice(1)) await c.close();
  });
}
