/**
 * Fuzzing the JSON endpoints with generated bodies (seeded, so failures replay): random
 * shapes, wrong types, unknown names, huge arrays, deep nesting, invalid UTF-8 and oversized
 * bodies. Every answer must be a 4xx with the error shape and a message; never a 5xx; and the
 * server must keep serving. Bodies whose only fault is an unknown key are valid (unknown keys
 * are ignored, as Feast does): they must succeed, and a `strict_bodies` server must refuse them.
 */
import assert from "node:assert/strict";
import { startServer, statsRows } from "./_harness.ts";
import { generator } from "./_fuzz.ts";

type Body = string | Uint8Array | unknown;

const SEED = Number(Deno.env.get("LARDER_FUZZ_SEED") ?? 20240601);
const CASES_PER_ENDPOINT = Number(Deno.env.get("LARDER_FUZZ_CASES") ?? 150);

const VALID: Record<string, Record<string, unknown>> = {
  "/get-online-features": {
    features: ["driver_hourly_stats:conv_rate"],
    entities: { driver_id: [1001] },
  },
  "/push": { push_source_name: "driver_stats_push", df: statsRows([1001]), to: "online" },
  "/write-to-online-store": { feature_view_name: "driver_hourly_stats", df: statsRows([1001]) },
  "/materialize": {
    start_ts: "2024-01-01T00:00:00Z",
    end_ts: "2024-01-02T00:00:00Z",
    feature_views: ["driver_trips"],
  },
  "/materialize-incremental": { end_ts: "2024-01-02T00:00:00Z", feature_views: ["driver_trips"] },
};

/** Keys of the valid bodies that have a default: without them, the body is still valid. */
const OPTIONAL: Record<string, readonly string[]> = {
  "/push": ["to"],
  "/materialize": ["feature_views"],
  "/materialize-incremental": ["feature_views"],
};

interface Case {
  readonly label: string;
  readonly body: Body;
  /** Set for a body with an unknown key: whether it is otherwise valid. */
  readonly unknownKey?: { readonly otherwiseValid: boolean };
}

function cases(path: string, seed: number): Case[] {
  const g = generator(seed);
  const valid = VALID[path]!;
  const out: Case[] = [];
  for (let i = 0; i < CASES_PER_ENDPOINT; i++) {
    const kind = g.int(11);
    const label = `${path} #${i} (kind ${kind}, seed ${seed})`;
    switch (kind) {
      case 0: { // random shape at the top
        let v = g.value(4);
        if (v !== null && typeof v === "object" && !Array.isArray(v)) v = [v];
        out.push({ label, body: JSON.stringify(v) });
        break;
      }
      case 1: { // one field of a valid body with a wrong type
        const key = g.pick(Object.keys(valid));
        out.push({ label, body: { ...valid, [key]: g.wrong() } });
        break;
      }
      case 2: { // a field missing, and an unknown key
        const key = g.pick(Object.keys(valid));
        const { [key]: _, ...rest } = valid;
        const value = g.value(2);
        // A "__proto__" key anywhere is refused, also inside an unknown key's value.
        const otherwiseValid = (OPTIONAL[path] ?? []).includes(key) &&
          !JSON.stringify(value ?? null).includes('"__proto__":');
        out.push({
          label,
          body: { ...rest, unexpected_key: value },
          unknownKey: { otherwiseValid },
        });
        break;
      }
      case 3: { // unknown names
        const unknown = `nope_${g.int(1e6)}`;
        const body: Record<string, unknown> = { ...valid };
        if ("features" in body) body.features = [`${unknown}:x`];
        if ("push_source_name" in body) body.push_source_name = unknown;
        if ("feature_view_name" in body) body.feature_view_name = unknown;
        if ("feature_views" in body) body.feature_views = [unknown];
        out.push({ label, body });
        break;
      }
      case 4: { // huge arrays
        const n = 10_001 + g.int(200_000);
        const column = new Array(n).fill(g.pick([1, "x", null]));
        const body: Record<string, unknown> = { ...valid };
        if ("entities" in body) body.entities = { driver_id: column };
        if ("df" in body) body.df = { driver_id: new Array(100_001 + g.int(300_000)).fill(1) };
        if ("feature_views" in body) body.feature_views = new Array(5000).fill("driver_trips");
        out.push({ label, body });
        break;
      }
      case 5: { // deep nesting
        const depth = 1000 + g.int(100_000);
        const nested = "[".repeat(depth) + "]".repeat(depth);
        const at = g.pick(["top", "value"]);
        out.push({
          label,
          body: at === "top"
            ? nested
            : `{"entities":{"driver_id":${nested}},"df":{"a":${nested}},"end_ts":${nested}}`,
        });
        break;
      }
      case 6: { // invalid UTF-8 inside otherwise valid JSON text
        const text = new TextEncoder().encode(JSON.stringify(valid));
        const bytes = new Uint8Array(text.length + 2);
        bytes.set(text);
        const at = 1 + g.int(text.length - 2);
        bytes.copyWithin(at + 2, at);
        bytes[at] = g.pick([0xff, 0xc0, 0xed, 0xf8]);
        bytes[at + 1] = g.pick([0xfe, 0x80, 0xa0, 0x41]);
        out.push({ label, body: bytes });
        break;
      }
      case 7: { // oversized
        out.push({ label, body: `{"x":"${"a".repeat(4 * 1024 * 1024 + g.int(1000))}"}` });
        break;
      }
      case 8: { // truncated JSON and random bytes
        const text = JSON.stringify(valid);
        out.push({
          label,
          body: g.rand() < 0.5
            ? text.slice(0, g.int(text.length - 1))
            : crypto.getRandomValues(new Uint8Array(1 + g.int(200))),
        });
        break;
      }
      case 9: { // wrong types inside columns
        const body: Record<string, unknown> = { ...valid };
        if ("entities" in body) body.entities = { driver_id: [g.wrong()] };
        if ("df" in body) {
          body.df = {
            ...(body.df as object),
            [g.pick(["driver_id", "conv_rate", "event_timestamp"])]: [{ x: 1 }],
          };
        }
        if ("start_ts" in body) {
          body.start_ts = g.pick(["2024-13-45", "yesterday", "", "2024-01-01T25:00"]);
        }
        if ("end_ts" in body && !("start_ts" in body)) {
          body.end_ts = g.pick(["2024-02-30x", 0, null]);
        }
        out.push({ label, body });
        break;
      }
      default: { // values that fit the schema but not the view's types
        const body: Record<string, unknown> = { ...valid };
        if ("entities" in body) {
          body.entities = { driver_id: [g.pick(["abc", 1.5, true, "1e400"])] };
        }
        if ("df" in body) {
          body.df = { ...(body.df as object), conv_rate: [g.pick(["abc", true, [1, 2]])] };
        }
        if ("start_ts" in body) body.start_ts = "2025-01-01T00:00:00Z"; // after end_ts
        if ("end_ts" in body && !("start_ts" in body)) body.feature_views = ["driver_activity"];
        out.push({ label, body });
      }
    }
  }
  return out;
}

/** Why an answer that should be an error is not a 4xx with the error shape, if it is not. */
function notAnError(res: { status: number; json: Record<string, unknown> }): boolean {
  const error = res.json.error as { code?: unknown; message?: unknown } | undefined;
  return res.status < 400 || res.status >= 500 || typeof error?.code !== "string" ||
    typeof error.message !== "string" || error.message.length < 10;
}

Deno.test("fuzzed bodies always get a 4xx with a clear message, never a 5xx", async () => {
  const server = await startServer();
  const strict = await startServer({ yaml: "feature_server:\n  strict_bodies: true\n" });
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  let sent = 0;
  let otherwiseValid = 0;
  try {
    for (const [i, path] of Object.keys(VALID).entries()) {
      for (const { label, body, unknownKey } of cases(path, SEED + i)) {
        sent++;
        const res = await server.request("POST", path, { body });
        if (unknownKey) {
          // The strict server refuses every unknown key, whatever else the body holds.
          const refused = await strict.request("POST", path, { body });
          if (notAnError(refused)) {
            failures.push(`${label} (strict): ${refused.status} ${refused.text.slice(0, 300)}`);
          }
        }
        if (unknownKey?.otherwiseValid) {
          otherwiseValid++;
          if (res.status !== 200) {
            failures.push(`${label}: ${res.status} ${res.text.slice(0, 300)}`);
          }
          continue;
        }
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (notAnError(res)) failures.push(`${label}: ${res.status} ${res.text.slice(0, 300)}`);
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${sent} cases failed`);
    assert.ok(otherwiseValid > 0, "some bodies were valid but for an unknown key");
    // Every kind of mistake was generated.
    assert.deepEqual([...statuses.keys()].sort(), [400, 404, 413, 422]);
    assert.equal((await server.request("GET", "/health")).status, 200, "still serving");
    const ok = await server.request("POST", "/get-online-features", {
      body: VALID["/get-online-features"],
    });
    assert.equal(ok.status, 200);
  } finally {
    await server.close();
    await strict.close();
  }
});
