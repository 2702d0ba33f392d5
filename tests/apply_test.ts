import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore, LarderError } from "../mod.ts";
import { FileRegistryBackend, type RegistryBackend, type StoredText } from "../registry/mod.ts";
import { DRIVER_FEATURES, tempRepo } from "./support/repo.ts";

const skip = { skipSourceValidation: true } as const;

Deno.test("FeatureStore.apply() writes once and is idempotent", async () => {
  const repo = await tempRepo();
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    const first = await store.apply(skip);
    assert.equal(first.written, true);
    assert.equal(first.version, 1);
    assert.deepEqual(first.plan.changes.map((c) => c.action), [
      "create",
      "create",
      "create",
      "create",
    ]);
    const bytes = await repo.read("data/registry.json");
    const second = await store.apply(skip);
    assert.equal(second.written, false);
    assert.equal(second.version, 1);
    assert.ok(second.plan.changes.every((c) => c.action === "unchanged"));
    assert.equal(await repo.read("data/registry.json"), bytes);
    const views = await store.registry.listFeatureViews();
    assert.deepEqual(views.map((v) => v.name), ["driver_hourly_stats"]);
    assert.equal(views[0]!.spec.ttlSeconds, 7200);
    assert.match(views[0]!.meta.hash, /^[0-9a-f]{64}$/);
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("FeatureStore.plan() shows updates with fields and deletions, writing nothing", async () => {
  const repo = await tempRepo();
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply(skip);
    const before = await repo.read("data/registry.json");
    await repo.write(
      "features.ts",
      DRIVER_FEATURES.replace('ttl: "2h"', 'ttl: "3h", description: "changed"')
        .replace(/export const activity = .*\n/, ""),
    );
    const { plan } = await store.plan();
    const byName = Object.fromEntries(plan.changes.map((c) => [c.name, c]));
    assert.equal(byName.driver_hourly_stats?.action, "update");
    assert.deepEqual(byName.driver_hourly_stats?.fields, ["description", "ttlSeconds"]);
    assert.equal(byName.driver_activity?.action, "delete");
    assert.equal(byName.driver?.action, "unchanged");
    assert.equal(await repo.read("data/registry.json"), before);
    const applied = await store.apply(skip);
    assert.equal(applied.version, 2);
    assert.deepEqual((await store.registry.listFeatureServices()).map((s) => s.name), []);
    const view = await store.registry.get("featureView", "driver_hourly_stats");
    assert.notEqual(view.meta.createdAt, view.meta.updatedAt);
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("FeatureStore.apply() with invalid definitions leaves the registry byte-identical", async () => {
  const repo = await tempRepo();
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply(skip);
    const before = await repo.read("data/registry.json");
    await repo.write("features.ts", DRIVER_FEATURES.replace('ttl: "2h"', "ttl: -60"));
    await assert.rejects(() => store.apply(skip), {
      name: "LarderError",
      code: "DEFINITION_INVALID",
      message:
        'features.ts:10:22: Feature view "driver_hourly_stats": ttl: must not be negative, got -60',
    });
    await repo.write(
      "extra.ts",
      'import { entity } from "larder";\nexport const d = entity({ name: "driver" });\n',
    );
    await repo.write("features.ts", DRIVER_FEATURES);
    await assert.rejects(() => store.apply(skip), {
      code: "DEFINITION_INVALID",
      message: 'features.ts: Entity "driver" is defined twice (also in extra.ts)',
    });
    assert.equal(await repo.read("data/registry.json"), before);
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("FeatureStore.apply() reports a module that cannot be imported", async () => {
  const repo = await tempRepo({ "broken.ts": "export const x = ;\n" });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await assert.rejects(() => store.plan(), (err: unknown) => {
      assert.ok(err instanceof LarderError);
      assert.equal(err.code, "DEFINITION_INVALID");
      assert.match(err.message, /^broken\.ts:1:18: syntax error: Expression expected/);
      return true;
    });
  } finally {
    await store.close();
    await repo.remove();
  }
});

/** A real file backend whose reads wait until `n` readers have read, to force a race. */
class RacingBackend implements RegistryBackend {
  static waiting: (() => void)[] = [];
  readonly location: string;
  readonly #inner: FileRegistryBackend;
  readonly #n: number;
  #reads = 0;
  constructor(path: string, n: number) {
    this.#inner = new FileRegistryBackend(path);
    this.location = this.#inner.location;
    this.#n = n;
  }
  async read(): Promise<StoredText | null> {
    const result = await this.#inner.read();
    if (this.#reads++ === 0) {
      await new Promise<void>((resolve) => {
        RacingBackend.waiting.push(resolve);
        if (RacingBackend.waiting.length === this.#n) {
          RacingBackend.waiting.splice(0).forEach((r) => r());
        }
      });
    }
    return result;
  }
  compareAndSet(expected: number, next: StoredText): Promise<void> {
    return this.#inner.compareAndSet(expected, next);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

Deno.test("FeatureStore.apply(): of two concurrent appliers exactly one wins", async () => {
  const shared = await Deno.makeTempDir({ prefix: "larder-shared-" });
  const registryPath = join(shared, "registry.json");
  const yaml = `project: shared\nregistry:\n  type: file\n  path: ${registryPath}\n`;
  const a = await tempRepo({ "larder.yaml": yaml });
  const b = await tempRepo({
    "larder.yaml": yaml,
    "features.ts": DRIVER_FEATURES.replace('ttl: "2h"', 'ttl: "5h"'),
  });
  const storeA = await FeatureStore.open({
    repo: a.dir,
    registryBackend: new RacingBackend(registryPath, 2),
  });
  const storeB = await FeatureStore.open({
    repo: b.dir,
    registryBackend: new RacingBackend(registryPath, 2),
  });
  try {
    const results = await Promise.allSettled([storeA.apply(skip), storeB.apply(skip)]);
    const won = results.findIndex((r) => r.status === "fulfilled");
    const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
    assert.ok(
      won >= 0 && lost,
      `expected one winner and one loser: ${results.map((r) => r.status)}`,
    );
    assert.equal((lost.reason as LarderError).code, "REGISTRY_CONFLICT");
    assert.match(
      (lost.reason as Error).message,
      /^The registry changed since it was read \(read version 0, now 1\)/,
    );
    const stored = JSON.parse(await Deno.readTextFile(registryPath));
    assert.equal(stored.version, 1);
    assert.equal(
      stored.objects.featureView.driver_hourly_stats.spec.ttlSeconds,
      won === 0 ? 7200 : 18000,
    );
    // The loser's change is not lost: applying again (on the new version) succeeds.
    const retry = await (won === 0 ? storeB : storeA).apply(skip);
    assert.equal(retry.version, 2);
  } finally {
    await storeA.close();
    await storeB.close();
    await a.remove();
    await b.remove();
    await Deno.remove(shared, { recursive: true });
  }
});

Deno.test("FeatureStore.teardown() empties the registry and keeps counting versions", async () => {
  const repo = await tempRepo();
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply(skip);
    const { version } = await store.teardown();
    assert.equal(version, 2);
    const doc = await store.registry.read({ fresh: true });
    assert.deepEqual(Object.values(doc.objects).map((o) => Object.keys(o).length), [
      0,
      0,
      0,
      0,
      0,
      0,
    ]);
    assert.equal((await store.apply(skip)).version, 3);
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("FeatureStore.open() refuses a registry of another project", async () => {
  const repo = await tempRepo();
  const store = await FeatureStore.open({ repo: repo.dir });
  await store.apply(skip);
  await store.close();
  await repo.write("larder.yaml", "project: other\n");
  const other = await FeatureStore.open({ repo: repo.dir });
  try {
    await assert.rejects(() => other.plan(), {
      code: "CONFIG_INVALID",
      message: /belongs to project "test_project", but larder.yaml names "other"$/,
    });
  } finally {
    await other.close();
    await repo.remove();
  }
});

Deno.test("Registry.get() names what exists when an object is missing", async () => {
  const repo = await tempRepo();
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply(skip);
    await assert.rejects(() => store.registry.get("featureView", "driver_stats"), {
      code: "NOT_FOUND",
      message: 'Cannot find feature view "driver_stats": the registry has "driver_hourly_stats"',
    });
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("FeatureStore.apply() validates source files and writes nothing when they do not match", async () => {
  const { writeTable } = await import("../mod.ts");
  const repo = await tempRepo();
  const store = await FeatureStore.open({ repo: repo.dir });
  const file = join(repo.dir, "data", "driver_stats.parquet");
  const base = {
    driver_id: [1001, 1002],
    event_timestamp: [new Date("2026-01-01T00:00:00Z"), new Date("2026-01-01T01:00:00Z")],
    created: [new Date("2026-01-01T00:00:00Z"), new Date("2026-01-01T01:00:00Z")],
    conv_rate: [0.5, 0.25],
  };
  try {
    // The source file is missing.
    await assert.rejects(() => store.apply(), (err: unknown) => {
      assert.ok(err instanceof LarderError);
      assert.equal(err.code, "SOURCE_INVALID");
      assert.match(err.message, /driver_stats_source/);
      assert.match(err.message, /data\/driver_stats\.parquet/);
      return true;
    });
    assert.equal(await repo.read("data/registry.json"), null);

    // A feature column is missing.
    await writeTable(file, base, {
      driver_id: "int64",
      event_timestamp: "timestamp",
      created: "timestamp",
      conv_rate: "float32",
    });
    await assert.rejects(() => store.apply(), (err: unknown) => {
      assert.ok(err instanceof LarderError);
      assert.equal(err.code, "SOURCE_INVALID");
      assert.match(err.message, /"acc_rate"/);
      assert.match(err.message, /skip-source-validation/);
      return true;
    });
    assert.equal(await repo.read("data/registry.json"), null);

    // A feature column has an incompatible type.
    await writeTable(file, { ...base, acc_rate: ["high", "low"] }, {
      driver_id: "int64",
      event_timestamp: "timestamp",
      created: "timestamp",
      conv_rate: "float32",
      acc_rate: "string",
    });
    await assert.rejects(() => store.apply(), (err: unknown) => {
      assert.ok(err instanceof LarderError);
      assert.equal(err.code, "SOURCE_INVALID");
      assert.match(err.message, /"acc_rate"/);
      assert.match(err.message, /float32/);
      return true;
    });
    assert.equal(await repo.read("data/registry.json"), null);

    // A matching file applies; a later mismatch leaves the registry byte-identical.
    await writeTable(file, { ...base, acc_rate: [0.9, 0.8] }, {
      driver_id: "int64",
      event_timestamp: "timestamp",
      created: "timestamp",
      conv_rate: "float64",
      acc_rate: "float32",
    });
    assert.equal((await store.apply()).written, true);
    const before = await repo.read("data/registry.json");
    await repo.write(
      "features.ts",
      DRIVER_FEATURES.replace('acc_rate: "float32"', 'acc_rate: "float32", speed: "float32"'),
    );
    await assert.rejects(() => store.apply(), { code: "SOURCE_INVALID" });
    assert.equal(await repo.read("data/registry.json"), before);
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("FeatureStore.apply() reads every CSV value as declared and names the bad one", async () => {
  const repo = await tempRepo({
    "features.ts": DRIVER_FEATURES.replace("data/driver_stats.parquet", "data/driver_stats.csv"),
  });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    const rows = ["driver_id,event_timestamp,created,conv_rate,acc_rate"];
    for (let i = 0; i < 100; i++) rows.push(`${i},2026-01-01T00:00:00Z,,0.5,0.25`);
    rows.push("7,31/01/2026,,0.5,0.25");
    await repo.write("data/driver_stats.csv", `${rows.join("\n")}\n`);
    await assert.rejects(() => store.apply(), {
      code: "SOURCE_INVALID",
      message: `Data source "driver_stats_source": file "${
        join(repo.dir, "data/driver_stats.csv")
      }", line 102: column "event_timestamp": "31/01/2026" is not a valid ISO 8601 timestamp\n(apply --skip-source-validation skips this check)`,
    });
    assert.equal(await repo.read("data/registry.json"), null);
    await repo.write("data/driver_stats.csv", `${rows.slice(0, -1).join("\n")}\n`);
    assert.equal((await store.apply()).written, true);
  } finally {
    await store.close();
    await repo.remove();
  }
});

/** Two views over one CSV source, and a service over one of them. */
const CSV_VIEWS = DRIVER_FEATURES.replace("data/driver_stats.parquet", "data/driver_stats.csv") +
  `
export const rates = featureView({
  name: "driver_rates",
  entities: [driver],
  schema: { acc_rate: "float64" },
  source,
});
`;

Deno.test("FeatureStore.apply() checks only the sources of what the plan changes, each once, or all when asked", async () => {
  const repo = await tempRepo({ "features.ts": CSV_VIEWS });
  const store = await FeatureStore.open({ repo: repo.dir });
  const path = join(repo.dir, "data/driver_stats.csv");
  // The two views read acc_rate as float32 and float64: either type names the bad value.
  const bad = (line: number) =>
    new RegExp(
      `^Data source "driver_stats_source": file "${path}", line ${line}: column "acc_rate": "x" is not a valid float(32|64)\n\\(apply --skip-source-validation skips this check\\)$`,
    );
  try {
    const good = "driver_id,event_timestamp,created,conv_rate,acc_rate\n1,2026-01-01,,0.5,0.25\n";
    await repo.write("data/driver_stats.csv", good);
    assert.equal((await store.apply()).written, true);
    await repo.write("data/driver_stats.csv", `${good}2,2026-01-01,,0.5,x\n`);
    // Nothing changed: no source is read (before, every CSV row was read, once per view).
    assert.equal((await store.apply()).written, false);
    // Asked for: every source, read once for both views (one problem, not one per view).
    await assert.rejects(() => store.apply({ validateAllSources: true }), {
      code: "SOURCE_INVALID",
      message: bad(3),
    });
    // A change to a service reads no source either.
    await repo.write(
      "features.ts",
      `${CSV_VIEWS}\nexport const both = featureService({ name: "both", features: [rates] });\n`,
    );
    assert.equal((await store.apply()).written, true);
    // A changed view reads its source.
    await repo.write(
      "features.ts",
      CSV_VIEWS.replace(
        'schema: { acc_rate: "float64" }',
        'schema: { acc_rate: "float64", conv_rate: "float64" }',
      ),
    );
    await assert.rejects(() => store.apply(), {
      code: "SOURCE_INVALID",
      message: /line 3: column "acc_rate": "x" is not a valid float/,
    });
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("FeatureStore.apply() warns when rows pushed to a file are no longer read by any source", async () => {
  const features = (path: string) =>
    DRIVER_FEATURES.replace('path: "data/driver_stats.parquet"', `path: "${path}"`) +
    `
import { pushSource } from "larder";
export const push = pushSource({ name: "push", batchSource: source });
`;
  const repo = await tempRepo({ "features.ts": features("data/driver_stats.parquet") });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    assert.deepEqual((await store.apply(skip)).warnings, []);
    const folder = join(repo.dir, "data/.driver_stats.parquet.pushed");
    await Deno.mkdir(folder, { recursive: true });
    await Deno.writeTextFile(join(folder, "push-1.parquet"), "");
    await Deno.writeTextFile(join(folder, "push-2.parquet"), "");
    // The source moves from the file to a folder: the parts beside the file are left behind.
    await repo.write("features.ts", features("data/stats"));
    const moved = await store.apply(skip);
    assert.equal(moved.written, true);
    assert.deepEqual(moved.warnings, [
      `Rows pushed to "data/driver_stats.parquet" are no longer read: data source "driver_stats_source" read that file before this apply, and no data source names it now; its 2 pushed parts stay in "${folder}": move them where the source reads now, or delete the folder`,
    ]);
    // Back to the file: its parts are read again, nothing to say.
    await repo.write("features.ts", features("data/driver_stats.parquet"));
    assert.deepEqual((await store.apply(skip)).warnings, []);
  } finally {
    await store.close();
    await repo.remove();
  }
});
