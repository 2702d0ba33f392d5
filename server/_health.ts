/**
 * The answer of `GET /health` from what its checks found: which component fails for every
 * caller, and why only for callers with valid credentials (the reasons name paths and store
 * URLs).
 */
import type { HealthResponse } from "./schemas.ts";

/** What the checks of `/health` found. */
export interface HealthChecks {
  /** The served version, or why the registry cannot be read. */
  readonly registry: { readonly version?: number | undefined; readonly error?: string | undefined };
  /** Set while the registry holds an older document than the one served. */
  readonly regression: string | undefined;
  /** Why the online store does not answer. */
  readonly onlineStore: { readonly error?: string | undefined };
}

/**
 * The body (`ok` or `degraded`: 200), or for `unavailable` the message of the 503, with
 * each reason only when `detailed`.
 */
export function healthAnswer(
  checks: HealthChecks,
  detailed: boolean,
): { readonly health: HealthResponse; readonly unhealthy?: string } {
  const registryError = checks.registry.error ?? checks.regression;
  const onlineError = checks.onlineStore.error;
  const reason = (error: string | undefined) => detailed && error !== undefined ? { error } : {};
  const health: HealthResponse = {
    status: checks.registry.error !== undefined || onlineError !== undefined
      ? "unavailable"
      : checks.regression !== undefined
      ? "degraded"
      : "ok",
    registry: {
      ok: registryError === undefined,
      ...(checks.registry.version !== undefined ? { version: checks.registry.version } : {}),
      ...reason(registryError),
    },
    online_store: { ok: onlineError === undefined, ...reason(onlineError) },
  };
  if (health.status !== "unavailable") return { health };
  const problems = [
    ...(registryError !== undefined
      ? [[
        checks.registry.error !== undefined
          ? "the registry cannot be read"
          : "the registry went back to an older version",
        registryError,
      ]]
      : []),
    ...(onlineError !== undefined ? [["the online store does not answer", onlineError]] : []),
  ];
  const unhealthy = problems.map(([what, why]) => detailed ? `${what} (${why})` : what)
    .join("; ");
  return { health, unhealthy: `Unhealthy: ${unhealthy}` };
}
