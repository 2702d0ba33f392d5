/** An on-demand view gives the same outputs online and offline for the same inputs. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FeatureStore, writeTable } from "../mod.ts";
import { tempRepo } from "./support/repo.ts";

const FEATURES = `
import { entity, featureView, fileSource, onDemandFeatureView, requestSource } from "larder";
export const user = entity({ name: "user", joinKeys: ["user_id"], valueType: "int64" });
export const source = fileSource({ name: "users_source", path: "data/users.parquet", timestampField: "ts" });
export const users = featureView({
  name: "users",
  entities: [user],
  schema: { score: "float32", visits: "int64", tier: "string", active: "bool", ratio: "float64" },
  source,
});
export const req = requestSource({ name: "req", schema: { amount: "float64", coupon: "string" } });
export const derived = onDemandFeatureView({
  name: "derived",
  sources: [users, req],
  schema: { weighted: "float64", label: "string", eligible: "bool", bucket: "int64", parts: "string[]" },
  transform: (c) => ({
    weighted: c.score.map((s, i) => {
      const a = c.amount[i];
      return s === null || a == null ? null : s * a + (c.ratio[i] ?? 0);
    }),
    label: c.tier.map((t, i) => t === null ? null : \`\${t}:\${c.coupon[i] ?? "none"}\`),
    eligible: c.active.map((a, i) => a === null ? null : a && (c.visits[i] ?? 0) > 2),
    bucket: c.visits.map((v) => v === null ? null : Math.min(v, 10) - (v % 3)),
    parts: c.tier.map((t, i) => t === null ? null : [t, String(c.amount[i])]),
  }),
});
`;

Deno.test("on-demand views: identical inputs give identical outputs online and offline, nulls included", async () => {
  const repo = await tempRepo({ "features.ts": FEATURES });
  const day = new Date("2026-03-01T00:00:00Z");
  const n = 40;
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  // Deterministic values with nulls sprinkled through every column; user 40 has no row at all.
  const rows = ids.slice(0, n - 1);
  await writeTable(join(repo.dir, "data", "users.parquet"), {
    user_id: rows,
    ts: rows.map(() => day),
    score: rows.map((i) => (i % 7 === 0 ? null : (i * 37 % 100) / 100 + 0.001)),
    visits: rows.map((i) => (i % 5 === 0 ? null : i * 3 % 17)),
    tier: rows.map((i) => (i % 6 === 0 ? null : ["gold", "silver", "bronze"][i % 3]!)),
    active: rows.map((i) => (i % 4 === 0 ? null : i % 2 === 0)),
    ratio: rows.map((i) => (i % 9 === 0 ? null : i / 7)),
  }, {
    user_id: "int64",
    ts: "timestamp",
    score: "float32",
    visits: "int64",
    tier: "string",
    active: "bool",
    ratio: "float64",
  });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply();
    await store.materialize({ start: new Date("2026-02-01T00:00:00Z"), end: day });
    const amount = ids.map((i) => (i % 8 === 0 ? null : i * 1.25));
    const coupon = ids.map((i) => (i % 3 === 0 ? null : `c${i}`));
    const features = [
      "derived:weighted",
      "derived:label",
      "derived:eligible",
      "derived:bucket",
      "derived:parts",
    ];

    const online =
      (await store.getOnlineFeatures({ features, entities: { user_id: ids, amount, coupon } }))
        .toRows();
    const offline = await (await store.getHistoricalFeatures({
      features,
      entities: ids.map((id, i) => ({
        user_id: id,
        ts: new Date("2026-03-02T00:00:00Z"),
        amount: amount[i],
        coupon: coupon[i],
      })),
    })).toRows();

    const pick = (r: Record<string, unknown>) => ({
      weighted: r.weighted,
      label: r.label,
      eligible: r.eligible,
      bucket: r.bucket,
      parts: r.parts,
    });
    assert.equal(online.length, n);
    assert.equal(offline.length, n);
    for (let i = 0; i < n; i++) {
      assert.deepEqual(pick(online[i]!), pick(offline[i]!), `row ${i} (user ${ids[i]})`);
    }
    // The data really exercises nulls and values on both sides.
    const weighted = online.map((r) => r.weighted);
    assert.ok(weighted.some((v) => v === null) && weighted.some((v) => typeof v === "number"));
    assert.deepEqual(pick(online[n - 1]!), {
      weighted: null,
      label: null,
      eligible: null,
      bucket: null,
      parts: null,
    });
    assert.equal(online[0]!.label, "silver:c1");
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("on-demand views: a source value older than the view's ttl is a null input online, as offline", async () => {
  const repo = await tempRepo({
    "features.ts": `
import { entity, featureView, fileSource, onDemandFeatureView, requestSource } from "larder";
export const user = entity({ name: "user", joinKeys: ["user_id"], valueType: "int64" });
export const source = fileSource({ name: "s", path: "data/s.parquet", timestampField: "ts" });
export const stats = featureView({ name: "stats", entities: [user], ttl: "1d", schema: { x: "float64" }, source });
export const req = requestSource({ name: "req", schema: { k: "float64" } });
export const scaled = onDemandFeatureView({
  name: "scaled",
  sources: [stats, req],
  schema: { y: "float64" },
  transform: (c) => ({ y: c.x.map((x, i) => (x === null ? -1 : x * c.k[i]!)) }),
});
`,
  });
  const now = Date.now();
  // User 1's value is fresh; user 2's is three days old, outside the one-day ttl.
  await writeTable(join(repo.dir, "data", "s.parquet"), {
    user_id: [1, 2],
    ts: [new Date(now - 600_000), new Date(now - 3 * 86_400_000)],
    x: [2, 5],
  }, { user_id: "int64", ts: "timestamp", x: "float64" });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply();
    await store.materialize({ start: new Date(now - 7 * 86_400_000), end: new Date(now) });
    const features = ["stats:x", "scaled:y"];
    const online = (await store.getOnlineFeatures({
      features,
      entities: { user_id: [1, 2], k: [10, 10] },
    })).toRows();
    const offline = await (await store.getHistoricalFeatures({
      features: ["scaled:y"],
      entities: [1, 2].map((id) => ({ user_id: id, ts: new Date(now), k: 10 })),
    })).toRows();
    assert.deepEqual(offline.map((r) => r.y), [20, -1]);
    assert.deepEqual(online.map((r) => r.y), offline.map((r) => r.y));
    // The view's own column still shows the stale value, flagged (Feast's Go server does so).
    const response = await store.getOnlineFeatures({
      features: ["stats:x"],
      entities: { user_id: [2] },
    });
    assert.equal(response.toRows()[0]!.x, 5);
  } finally {
    await store.close();
    await repo.remove();
  }
});

Deno.test("on-demand views: request data is read as its declared types by one rule, online and offline", async () => {
  const repo = await tempRepo({
    "features.ts": `
import { entity, featureView, fileSource, onDemandFeatureView, requestSource } from "larder";
export const user = entity({ name: "user", joinKeys: ["user_id"], valueType: "int64" });
export const source = fileSource({ name: "s", path: "data/s.parquet", timestampField: "ts" });
export const stats = featureView({ name: "stats", entities: [user], schema: { x: "float64" }, source });
export const req = requestSource({ name: "req", schema: { k: "float64", n: "int64", tag: "string" } });
export const described = onDemandFeatureView({
  name: "described",
  sources: [stats, req],
  schema: { text: "string" },
  transform: (c) => ({
    text: c.k.map((k, i) => \`\${typeof k}:\${k + 1}|\${typeof c.n[i]}:\${c.n[i]}|\${typeof c.tag[i]}:\${c.tag[i]}\`),
  }),
});
`,
  });
  const day = new Date("2026-03-01T00:00:00Z");
  await writeTable(join(repo.dir, "data", "s.parquet"), {
    user_id: [1, 2],
    ts: [day, day],
    x: [2, 5],
  }, { user_id: "int64", ts: "timestamp", x: "float64" });
  const store = await FeatureStore.open({ repo: repo.dir });
  try {
    await store.apply();
    await store.materialize({ start: new Date("2026-02-01T00:00:00Z"), end: day });
    const k = ["1.5", "2"];
    const n = ["7", "8"];
    const tag = [3, 4];
    const online = (await store.getOnlineFeatures({
      features: ["described:text"],
      entities: { user_id: [1, 2], k, n, tag },
    })).toRows();
    const offline = await (await store.getHistoricalFeatures({
      features: ["described:text"],
      entities: [0, 1].map((i) => ({
        user_id: i + 1,
        ts: new Date("2026-03-02T00:00:00Z"),
        k: k[i],
        n: n[i],
        tag: tag[i],
      })),
    })).toRows();
    assert.deepEqual(online.map((r) => r.text), [
      "number:2.5|number:7|string:3",
      "number:3|number:8|string:4",
    ]);
    assert.deepEqual(offline.map((r) => r.text), online.map((r) => r.text));

    // A value that cannot be read as the type is refused the same way on both paths.
    const bad = /Request field "k" row 1: expected float64, got "abc"/;
    await assert.rejects(
      store.getOnlineFeatures({
        features: ["described:text"],
        entities: { user_id: [1, 2], k: ["1", "abc"], n, tag },
      }),
      bad,
    );
    await assert.rejects(
      (async () =>
        await (await store.getHistoricalFeatures({
          features: ["described:text"],
          entities: [0, 1].map((i) => ({
            user_id: i + 1,
            ts: new Date("2026-03-02T00:00:00Z"),
            k: ["1", "abc"][i],
            n: n[i],
            tag: tag[i],
          })),
        })).toRows())(),
      bad,
    );
  } finally {
    await store.close();
    await repo.remove();
  }
});
