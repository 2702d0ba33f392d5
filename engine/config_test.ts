import assert from "node:assert/strict";
import { LarderError } from "../registry/mod.ts";
import { parseConfig } from "./config.ts";

const noEnv = () => undefined;

function configError(text: string, env: (n: string) => string | undefined = noEnv): string {
  try {
    parseConfig(text, { env });
  } catch (err) {
    assert.ok(err instanceof LarderError);
    assert.equal(err.code, "CONFIG_INVALID");
    return err.message;
  }
  assert.fail("expected parseConfig() to throw");
}

Deno.test("parseConfig() fills defaults for embedded stores", () => {
  const config = parseConfig("project: demo\n", { env: noEnv });
  assert.deepEqual(config.registry, {
    type: "file",
    path: "data/registry.json",
    cache_ttl_seconds: 60,
  });
  assert.deepEqual(config.online_store, { type: "sqlite", path: "data/online.sqlite" });
  assert.deepEqual(config.offline_store, { type: "duckdb", engine: "wasm", memory_limit: "2GB" });
  assert.deepEqual(config.auth, { type: "none" });
});

Deno.test("parseConfig() reads the embedded online stores' options", () => {
  const parse = (yaml: string) =>
    parseConfig(`project: demo\nonline_store:\n${yaml}`, { env: noEnv }).online_store;
  assert.deepEqual(parse("  type: sqlite\n  path: state/x.sqlite\n"), {
    type: "sqlite",
    path: "state/x.sqlite",
  });
  assert.deepEqual(parse("  type: deno_kv\n"), {
    type: "deno_kv",
    path: "data/online.kv",
    consistency: "strong",
  });
  assert.deepEqual(parse("  type: deno_kv\n  consistency: eventual\n"), {
    type: "deno_kv",
    path: "data/online.kv",
    consistency: "eventual",
  });
  assert.match(
    configError("project: demo\nonline_store:\n  type: deno_kv\n  consistency: weak\n"),
    /^larder\.yaml: online_store\.consistency: .*"strong".*"eventual".*"weak"/,
  );
  assert.match(
    configError("project: demo\nonline_store:\n  type: sqlite\n  path: ''\n"),
    /^larder\.yaml: online_store\.path: /,
  );
  assert.match(
    configError("project: demo\nonline_store:\n  type: sqlite\n  consistency: eventual\n"),
    /^larder\.yaml: online_store: unknown key "consistency"/,
  );
});

Deno.test("parseConfig() names the key path and the wrong value", () => {
  assert.equal(
    configError("project: demo\nonline_store:\n  type: reddis\n"),
    'larder.yaml: online_store.type: expected "deno_kv", "sqlite" or "redis", got "reddis"',
  );
  assert.equal(
    configError("online_store: {}\n"),
    'larder.yaml: project: is required\nlarder.yaml: online_store.type: expected "deno_kv", "sqlite" or "redis", got nothing',
  );
  assert.equal(
    configError("project: demo\nregistery: {}\n"),
    'larder.yaml: unknown key "registery" (did you mean "registry"?)',
  );
  assert.equal(
    configError("project: demo\noffline_store:\n  memory_limit: lots\n"),
    'larder.yaml: offline_store.memory_limit: expected a size such as "2GB" or "512MiB", got "lots"',
  );
  assert.equal(
    configError("project: demo\nregistry:\n  type: file\n  cache_ttl_seconds: -1\n"),
    "larder.yaml: registry.cache_ttl_seconds: must be at least 0, got -1",
  );
  assert.equal(
    configError("project: my-demo\n"),
    'larder.yaml: project: invalid name "my-demo": use letters, digits and "_", not starting with a digit',
  );
});

Deno.test("parseConfig() reports YAML syntax errors with their position", () => {
  assert.match(configError("project: demo\n  bad: [\n"), /^larder\.yaml: line \d+, column \d+: /);
  assert.equal(
    configError("- a\n- b\n"),
    'larder.yaml: expected a mapping with at least "project"',
  );
});

Deno.test("parseConfig() interpolates ${VAR} and ${VAR:-default}", () => {
  const env = (n: string) =>
    ({ TOKEN: "s3cret", URL: "https://r.example.com" } as Record<string, string>)[n];
  const config = parseConfig(
    "project: demo\nonline_store:\n  type: redis\n  url: ${URL}\n  token: ${TOKEN}\n  key_prefix: ${PREFIX:-lx}\n",
    { env },
  );
  assert.deepEqual(config.online_store, {
    type: "redis",
    url: "https://r.example.com",
    token: "s3cret",
    cluster: false,
    key_prefix: "lx",
  });
  assert.equal(
    configError("project: demo\nonline_store:\n  type: redis\n  token: ${MISSING_TOKEN}\n"),
    'larder.yaml: online_store.token: environment variable "MISSING_TOKEN" is not set',
  );
});

Deno.test("parseConfig() validates auth settings", () => {
  assert.equal(
    configError(
      "project: demo\nauth:\n  type: token\n  tokens:\n    - name: a\n      sha256: abc\n",
    ),
    "larder.yaml: auth.tokens[0].sha256: expected 64 lowercase hex digits",
  );
});

Deno.test("parseConfig() validates the feature server's connection limits", () => {
  assert.deepEqual(parseConfig("project: demo\n", { env: noEnv }).feature_server, {
    metrics: "public",
    strict_bodies: false,
    max_connections: 512,
    header_timeout_seconds: 10,
    idle_timeout_seconds: 75,
    body_timeout_seconds: 30,
    logging: { queue_size: 100_000, batch_size: 10_000, flush_interval_seconds: 10 },
  });
  const set = parseConfig(
    "project: demo\nfeature_server:\n  max_connections: 64\n  idle_timeout_seconds: 0.5\n",
    { env: noEnv },
  ).feature_server;
  assert.equal(set.max_connections, 64);
  assert.equal(set.idle_timeout_seconds, 0.5);
  assert.equal(set.header_timeout_seconds, 10);
  assert.equal(
    configError("project: demo\nfeature_server:\n  max_connections: 1.5\n"),
    "larder.yaml: feature_server.max_connections: expected an integer, got 1.5",
  );
  assert.equal(
    configError("project: demo\nfeature_server:\n  max_connections: 0\n"),
    "larder.yaml: feature_server.max_connections: must be greater than 0, got 0",
  );
  assert.equal(
    configError("project: demo\nfeature_server:\n  header_timeout_seconds: 10s\n"),
    'larder.yaml: feature_server.header_timeout_seconds: expected a number of seconds, got "10s"',
  );
  assert.equal(
    configError("project: demo\nfeature_server:\n  body_timeout_seconds: -1\n"),
    "larder.yaml: feature_server.body_timeout_seconds: must be greater than 0, got -1",
  );
});

Deno.test("parseConfig() reads object_store: and registry type s3", () => {
  const config = parseConfig(
    [
      "project: demo",
      "registry:",
      "  type: s3",
      "  path: s3://features/registry.json",
      "object_store:",
      "  endpoint: http://127.0.0.1:9000",
      "  secret_access_key: ${SECRET}",
      "",
    ].join("\n"),
    { env: (n) => (n === "SECRET" ? "s3cr3t" : undefined) },
  );
  assert.deepEqual(config.registry, {
    type: "s3",
    path: "s3://features/registry.json",
    cache_ttl_seconds: 60,
  });
  assert.deepEqual(config.object_store, {
    endpoint: "http://127.0.0.1:9000",
    secret_access_key: "s3cr3t",
    timeout_seconds: 60,
  });
  assert.equal(parseConfig("project: demo\n", { env: noEnv }).object_store, undefined);
  assert.match(
    configError("project: demo\nregistry:\n  type: s3\n  path: registry.json\n"),
    /^larder\.yaml: registry\.path: expected s3:\/\/bucket\/key/,
  );
  assert.match(
    configError("project: demo\nobject_store:\n  endpoint: ftp://x\n"),
    /^larder\.yaml: object_store\.endpoint: /,
  );
});

Deno.test("parseConfig() validates feature_server.logging", () => {
  const set = parseConfig(
    "project: demo\nfeature_server:\n  logging:\n    queue_size: 500\n    flush_interval_seconds: 0.5\n",
    { env: noEnv },
  ).feature_server.logging;
  assert.deepEqual(set, { queue_size: 500, batch_size: 500, flush_interval_seconds: 0.5 });
  assert.equal(
    configError("project: demo\nfeature_server:\n  logging:\n    queue_size: 0\n"),
    "larder.yaml: feature_server.logging.queue_size: must be greater than 0, got 0",
  );
  assert.equal(
    configError(
      "project: demo\nfeature_server:\n  logging:\n    queue_size: 10\n    batch_size: 20\n",
    ),
    "larder.yaml: feature_server.logging.batch_size: batch_size (20) must not exceed queue_size (10)",
  );
  assert.match(
    configError("project: demo\nfeature_server:\n  logging:\n    flush_every: 3\n"),
    /feature_server\.logging: .*"flush_every"/,
  );
});

Deno.test("parseConfig() reads a Postgres offline store, secrets from the environment", () => {
  const env = (name: string) => (name === "PG_PASSWORD" ? "s3cret" : undefined);
  const config = parseConfig(
    "project: demo\noffline_store:\n  type: postgres\n  host: db.internal\n  port: 6432\n" +
      "  database: analytics\n  user: larder\n  password: ${PG_PASSWORD}\n",
    { env },
  );
  assert.deepEqual(config.offline_store, {
    type: "postgres",
    host: "db.internal",
    port: 6432,
    database: "analytics",
    user: "larder",
    password: "s3cret",
    max_connections: 4,
    connect_timeout_seconds: 10,
    statement_timeout_seconds: 0,
    fetch_rows: 10_000,
    settings: { temp_buffers: "256MB", work_mem: "64MB", maintenance_work_mem: "256MB" },
  });
  const url = parseConfig(
    "project: demo\noffline_store:\n  type: postgres\n  url: postgresql://u@h/db\n",
    { env: noEnv },
  ).offline_store;
  assert.equal(url.type === "postgres" && url.url, "postgresql://u@h/db");
});

Deno.test("parseConfig() keeps duckdb the default offline store and refuses bad Postgres settings", () => {
  const duckdb = parseConfig("project: demo\noffline_store:\n  memory_limit: 1GB\n", {
    env: noEnv,
  });
  assert.deepEqual(duckdb.offline_store, { type: "duckdb", engine: "wasm", memory_limit: "1GB" });
  assert.match(
    configError("project: demo\noffline_store:\n  type: postgres\n  url: mysql://h/db\n"),
    /offline_store\.url: expected a postgres:\/\/ or postgresql:\/\/ URL, got "mysql:\/\/h\/db"/,
  );
  assert.match(
    configError("project: demo\noffline_store:\n  type: postgres\n  memory_limit: 1GB\n"),
    /offline_store.*memory_limit/,
  );
  assert.match(
    configError("project: demo\noffline_store:\n  type: postgres\n  password: ${PGPASS}\n"),
    /environment variable "PGPASS" is not set/,
  );
});

Deno.test("parseConfig() reads the offline engine: native DuckDB with its threads and spill folder", () => {
  const config = parseConfig(
    "project: demo\noffline_store:\n  engine: native\n  memory_limit: 8GB\n  threads: 4\n  temp_directory: data/spill\n",
    { env: noEnv },
  );
  assert.deepEqual(config.offline_store, {
    type: "duckdb",
    engine: "native",
    memory_limit: "8GB",
    threads: 4,
    temp_directory: "data/spill",
  });
  assert.equal(
    configError("project: demo\noffline_store:\n  engine: gpu\n"),
    'larder.yaml: offline_store.engine: expected "wasm" or "native", got "gpu"',
  );
});
