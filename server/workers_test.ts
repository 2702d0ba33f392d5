import assert from "node:assert/strict";
import { isLarderError } from "../engine/mod.ts";
import { createWorkersHandler, workersConfig } from "./workers.ts";

const REDIS = { type: "redis", url: "${URL}", token: "t" };

function rejects(fn: () => unknown, message: RegExp): void {
  assert.throws(
    fn,
    (err) => isLarderError(err) && err.code === "CONFIG_INVALID" && message.test(err.message),
  );
}

Deno.test("workersConfig() validates an object as larder.yaml, with ${VAR} from text bindings", () => {
  const config = workersConfig({ URL: "http://127.0.0.1:1", OTHER: 1 }, {
    config: { project: "p", registry: REDIS, online_store: REDIS },
  });
  assert.equal(config.registry.type === "redis" && config.registry.url, "http://127.0.0.1:1");
  assert.equal(config.online_store.type === "redis" && config.online_store.key_prefix, "larder");
  rejects(
    () =>
      workersConfig({ URL: "x" }, {
        config: { project: "p", registry: REDIS, online_store: REDIS },
      }),
    /^config: registry\.url: /,
  );
  rejects(
    () => workersConfig({}, { config: { project: "p", registry: REDIS, online_store: REDIS } }),
    /^config: registry\.url: environment variable "URL" is not set/,
  );
  rejects(
    () =>
      workersConfig({ URL: "http://h" }, {
        config: { project: "p", registry: REDIS, online_store: REDIS, extra: 1 },
      }),
    /^config: /,
  );
});

Deno.test("workersConfig() reads LARDER_CONFIG as YAML or JSON, and refuses stores a Worker cannot reach", () => {
  const json = JSON.stringify({ project: "p", registry: REDIS, online_store: REDIS });
  assert.equal(workersConfig({ LARDER_CONFIG: json, URL: "http://h" }).project, "p");
  rejects(() => workersConfig({}), /Cannot find the settings: set the "LARDER_CONFIG" binding/);
  rejects(
    () => workersConfig({ LARDER_CONFIG: "project: p\n" }),
    /^LARDER_CONFIG: registry\.type: expected "redis" on Cloudflare Workers \(no file system\), got "file"/,
  );
  rejects(
    () => workersConfig({ LARDER_CONFIG: `project: p\nregistry: {type: redis}\n` }),
    /^LARDER_CONFIG: online_store\.type: expected "redis" on Cloudflare Workers \(Deno KV is Deno's\)/,
  );
});

Deno.test("createWorkersHandler() answers 503 without settings, and the reason goes to the log", async () => {
  const logged: unknown[] = [];
  const error = console.error;
  console.error = (...args: unknown[]) => void logged.push(...args);
  let res: Response;
  try {
    res = await createWorkersHandler().fetch(new Request("http://w/health"), {});
  } finally {
    console.error = error;
  }
  assert.equal(res.status, 503);
  assert.equal((await res.json()).error.code, "UNAVAILABLE");
  assert.match(String(logged[0]), /^larder workers: Cannot find the settings/);
});

Deno.test("workersConfig() refuses Redis over TCP: Workers reach Redis over HTTP only", () => {
  const tcp = { type: "redis", url: "redis://:pw@127.0.0.1:6379" };
  rejects(
    () =>
      workersConfig({ URL: "https://h" }, {
        config: { project: "p", registry: REDIS, online_store: tcp },
      }),
    /^config: online_store\.url: Cloudflare Workers reaches Redis over HTTP only \(the Upstash REST protocol\): use an https:\/\/ REST URL and token, got "redis:\/\/:\*\*\*@127\.0\.0\.1:6379"$/,
  );
  rejects(
    () =>
      workersConfig({ URL: "https://h", UPSTASH_REDIS_REST_URL: "rediss://h:6380" }, {
        config: { project: "p", registry: { type: "redis" }, online_store: REDIS },
      }),
    /^config: registry\.url: Cloudflare Workers reaches Redis over HTTP only/,
  );
  rejects(
    () =>
      workersConfig({ URL: "https://h" }, {
        config: {
          project: "p",
          registry: REDIS,
          online_store: { type: "redis", nodes: ["redis://10.0.0.5:7000"] },
        },
      }),
    /^config: online_store\.nodes: Cloudflare Workers reaches Redis over HTTP only .*a Redis Cluster needs a bridge in front of it \(redis-http --redis-cluster\)/,
  );
});
