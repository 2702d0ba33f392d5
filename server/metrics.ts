/**
 * Request metrics in the Prometheus text format: request counts by route, method and
 * status, a latency histogram by route, and errors by code. Every label comes from a closed
 * set (route templates, the standard methods, our statuses and error codes), so no caller can
 * add series.
 */

/** Upper bounds of the latency buckets, in seconds. */
const BUCKETS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
] as const;

interface Histogram {
  readonly counts: number[];
  sum: number;
  count: number;
}

/** Methods labelled as themselves; any other method is labelled `other`. */
const METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "OPTIONS",
]);

/** The method's label: one of {@linkcode METHODS}, or `other`. */
export function methodLabel(method: string): string {
  const upper = method.toUpperCase();
  return METHODS.has(upper) ? upper : "other";
}

function label(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/**
 * Collects request metrics and renders them for `GET /metrics`.
 *
 * @example
 * ```ts
 * import { Metrics } from "./metrics.ts";
 * const metrics = new Metrics();
 * metrics.observe({ method: "GET", route: "/health", status: 200, seconds: 0.001 });
 * console.log(metrics.render());
 * ```
 */
export class Metrics {
  readonly #requests = new Map<string, number>();
  readonly #latency = new Map<string, Histogram>();
  readonly #errors = new Map<string, number>();
  readonly #gauges = new Map<string, () => number | undefined>();
  readonly #counters = new Map<string, () => number>();

  /**
   * Records one finished request. `route` must come from a closed set (the route template,
   * never the path); `method` is reduced to a standard method or `other`.
   */
  observe(request: { method: string; route: string; status: number; seconds: number }): void {
    const key = `method="${methodLabel(request.method)}",route="${
      label(request.route)
    }",status="${request.status}"`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    const hkey = `route="${label(request.route)}"`;
    let h = this.#latency.get(hkey);
    if (!h) {
      h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.#latency.set(hkey, h);
    }
    for (let i = 0; i < BUCKETS.length; i++) {
      if (request.seconds <= BUCKETS[i]!) {
        h.counts[i]!++;
        break;
      }
    }
    h.sum += request.seconds;
    h.count++;
  }

  /** Records one error answer by its code. */
  error(code: string): void {
    const key = `code="${label(code)}"`;
    this.#errors.set(key, (this.#errors.get(key) ?? 0) + 1);
  }

  /** Registers a gauge read at render time (`undefined` leaves it out). */
  gauge(name: string, help: string, read: () => number | undefined): void {
    this.#gauges.set(`${name}\n${help}`, read);
  }

  /** Registers a counter kept elsewhere, read at render time (it must never decrease). */
  counter(name: string, help: string, read: () => number): void {
    this.#counters.set(`${name}\n${help}`, read);
  }

  /** The Prometheus text exposition (version 0.0.4). */
  render(): string {
    const out: string[] = [];
    out.push("# HELP larder_http_requests_total HTTP requests by method, route and status.");
    out.push("# TYPE larder_http_requests_total counter");
    for (const [k, v] of this.#requests) out.push(`larder_http_requests_total{${k}} ${v}`);
    out.push("# HELP larder_http_request_duration_seconds HTTP request latency by route.");
    out.push("# TYPE larder_http_request_duration_seconds histogram");
    for (const [k, h] of this.#latency) {
      let cumulative = 0;
      for (let i = 0; i < BUCKETS.length; i++) {
        cumulative += h.counts[i]!;
        out.push(
          `larder_http_request_duration_seconds_bucket{${k},le="${BUCKETS[i]}"} ${cumulative}`,
        );
      }
      out.push(`larder_http_request_duration_seconds_bucket{${k},le="+Inf"} ${h.count}`);
      out.push(`larder_http_request_duration_seconds_sum{${k}} ${h.sum}`);
      out.push(`larder_http_request_duration_seconds_count{${k}} ${h.count}`);
    }
    out.push("# HELP larder_http_errors_total Error answers by error code.");
    out.push("# TYPE larder_http_errors_total counter");
    for (const [k, v] of this.#errors) out.push(`larder_http_errors_total{${k}} ${v}`);
    for (const [key, read] of this.#gauges) {
      const [name, help] = key.split("\n") as [string, string];
      const value = read();
      if (value === undefined) continue;
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`);
    }
    for (const [key, read] of this.#counters) {
      const [name, help] = key.split("\n") as [string, string];
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${read()}`);
    }
    return out.join("\n") + "\n";
  }
}
