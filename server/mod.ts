/**
 * @module
 * The feature server: a Hono app with Feast's REST API (online reads, push, writes,
 * materialization), registry reads, Feast's registry REST API (`/api/v1`) and web UI (`/ui`),
 * auth (none, API tokens, OIDC) and permissions, health, Prometheus metrics and an OpenAPI 3.1
 * document. `main.ts` serves it with `serveWithLimits` (Deno's HTTP server behind its own
 * accept loop: a connection cap, header and idle timeouts, retries when accepting fails);
 * `edge.ts` is the entry for Deno Deploy, where the platform owns the connections.
 *
 * @example
 * ```ts ignore
 * import { FeatureStore } from "../engine/mod.ts";
 * import { connectionLimits, createApp, depsFromFeatureStore, serveWithLimits } from "./mod.ts";
 * const store = await FeatureStore.open({ repo: "examples/driver_repo" });
 * const wired = await depsFromFeatureStore(store);
 * serveWithLimits(createApp(wired.deps).fetch, {
 *   hostname: "127.0.0.1",
 *   port: 6566,
 *   limits: connectionLimits(store.config.feature_server),
 * });
 * ```
 */
export { type AppEnv, createApp, type LarderApp } from "./app.ts";
export type { Principal } from "../engine/mod.ts";
export type { OnlineFeaturesResponse as OnlineFeaturesBody, ServingStatus } from "./schemas.ts";
export type { ConnectionServer, ServeConnection } from "./_serve_connection.ts";
export type {
  ColumnData,
  Materialize,
  MaterializeIncremental,
  MaterializeOutcome,
  OnlineReadRequest,
  OnlineWriteOutcome,
  Push,
  ReadOnline,
  ServedRegistry,
  ServerConfig,
  ServerDeps,
  WriteOnline,
} from "./deps.ts";
export {
  ApiError,
  type ApiErrorCode,
  errorAnswer,
  type ErrorBody,
  type ErrorStatus,
  STATUS_OF,
} from "./errors.ts";
export {
  depsFromFeatureStore,
  type FeatureStoreDepsOptions,
  type WiredDeps,
} from "./feature_store_deps.ts";
export { Metrics } from "./metrics.ts";
// Feature logging, as depsFromFeatureStore wires it (the engine's).
export {
  defaultLogSinks,
  FeatureLogger,
  type FeatureLoggerOptions,
  type FeatureLogStats,
  LocalLogSink,
  type LogSink,
  type LogSinkFactory,
  type ServedRead,
} from "../engine/mod.ts";
export { REGISTRY_API_BASE } from "./feast_registry_api.ts";
export { UI_BASE, type UiBundle, type UiBundleSource } from "./ui.ts";
export { openApiDocument, type OpenApiOptions } from "./openapi.ts";
export { ReadBatcher, type ReadBatcherOptions } from "./read_batcher.ts";
export {
  RegistryCache,
  type RegistryCacheOptions,
  type RegistryReader,
  type RegistryRegression,
} from "./registry_cache.ts";
export {
  type ConnectionLimits,
  connectionLimits,
  type LimitedServer,
  serveWithLimits,
  type ServeWithLimitsOptions,
} from "./serve_with_limits.ts";
export {
  type AuthMode,
  type AuthVerifier,
  createVerifier,
  type CreateVerifierOptions,
  hashToken,
  NoAuthVerifier,
  OidcVerifier,
  type OidcVerifierOptions,
  TokenVerifier,
} from "./auth/mod.ts";
