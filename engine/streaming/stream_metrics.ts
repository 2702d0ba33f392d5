/**
 * `StreamMetrics`: what the stream processor counts, per feature view — events read, rows
 * written online and offline, dead letters, redelivered events, batch latency, and the
 * consumer group's lag — rendered as Prometheus text and as a one-line progress summary.
 * Labels are the view names the processor was started with: a closed set.
 */

/** Upper bounds of the batch latency buckets, in seconds. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The counters of one view. */
export interface ViewStreamStats {
  /** The stream feature view. */
  readonly view: string;
  /** Entries read from the broker (redeliveries included). */
  events: number;
  /** Entries that were delivered more than once. */
  redelivered: number;
  /** Rows offered to the online store. */
  onlineRows: number;
  /** Rows the online store took (newer than what it held). */
  onlineWritten: number;
  /** Rows appended to the batch source. */
  offlineRows: number;
  /** Part files appended to the batch source. */
  offlineParts: number;
  /** Redelivered entries whose rows a part already held (not written again). */
  offlineDuplicatesSkipped: number;
  /** Entries sent to the dead-letter stream. */
  deadLetters: number;
  /** Batches processed. */
  batches: number;
  /** Entries acknowledged. */
  acked: number;
  /** Failed attempts to write a batch (retried). */
  errors: number;
  /** Entries of the stream the group has not been given yet, as last read. */
  undelivered: number;
  /** Entries given to the group's consumers and not acknowledged, as last read. */
  pending: number;
  /** Batch latency histogram: read to acknowledged (or to online-written, for offline-held). */
  readonly latency: { counts: number[]; sum: number; count: number };
  /** Recent batch latencies in ms, for percentiles on the progress line. */
  readonly recent: number[];
}

function label(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/** A snapshot-free accumulator of every view's stats. */
export class StreamMetrics {
  /** Each view's stats, by view name. */
  readonly views: Map<string, ViewStreamStats> = new Map();
  readonly #started = performance.now();
  #lastRate = { at: performance.now(), events: 0, rate: 0 };

  /** The stats of `view`, created on first use. */
  of(view: string): ViewStreamStats {
    let s = this.views.get(view);
    if (!s) {
      s = {
        view,
        events: 0,
        redelivered: 0,
        onlineRows: 0,
        onlineWritten: 0,
        offlineRows: 0,
        offlineParts: 0,
        offlineDuplicatesSkipped: 0,
        deadLetters: 0,
        batches: 0,
        acked: 0,
        errors: 0,
        undelivered: 0,
        pending: 0,
        latency: { counts: BUCKETS.map(() => 0), sum: 0, count: 0 },
        recent: [],
      };
      this.views.set(view, s);
    }
    return s;
  }

  /** Records one batch's latency. */
  observeBatch(view: string, ms: number): void {
    const s = this.of(view);
    s.batches++;
    const seconds = ms / 1000;
    s.latency.sum += seconds;
    s.latency.count++;
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) s.latency.counts[i]!++;
    s.recent.push(ms);
    if (s.recent.length > 512) s.recent.splice(0, s.recent.length - 512);
  }

  /** Events per second over the time since the last call (at least a second apart). */
  eventsPerSecond(): number {
    const now = performance.now();
    const events = [...this.views.values()].reduce((n, s) => n + s.events, 0);
    const dt = (now - this.#lastRate.at) / 1000;
    if (dt >= 1) {
      this.#lastRate = { at: now, events, rate: (events - this.#lastRate.events) / dt };
    }
    return this.#lastRate.rate;
  }

  /** Seconds since the processor started. */
  uptimeSeconds(): number {
    return (performance.now() - this.#started) / 1000;
  }

  /** The metrics in the Prometheus text format. */
  render(): string {
    const views = [...this.views.values()];
    const lines: string[] = [];
    const series = (
      name: string,
      type: "counter" | "gauge",
      help: string,
      value: (s: ViewStreamStats) => number,
    ) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const s of views) lines.push(`${name}{view="${label(s.view)}"} ${value(s)}`);
    };
    series(
      "larder_stream_events_total",
      "counter",
      "Entries read from the broker",
      (s) => s.events,
    );
    series(
      "larder_stream_redelivered_total",
      "counter",
      "Entries delivered more than once",
      (s) => s.redelivered,
    );
    series(
      "larder_stream_online_rows_total",
      "counter",
      "Rows offered to the online store",
      (s) => s.onlineRows,
    );
    series(
      "larder_stream_online_written_total",
      "counter",
      "Rows the online store took (newer than what it held)",
      (s) => s.onlineWritten,
    );
    series(
      "larder_stream_offline_rows_total",
      "counter",
      "Rows appended to the batch source",
      (s) => s.offlineRows,
    );
    series(
      "larder_stream_offline_parts_total",
      "counter",
      "Part files appended to the batch source",
      (s) => s.offlineParts,
    );
    series(
      "larder_stream_offline_duplicates_skipped_total",
      "counter",
      "Redelivered entries a part already held",
      (s) => s.offlineDuplicatesSkipped,
    );
    series(
      "larder_stream_dead_letters_total",
      "counter",
      "Entries sent to the dead-letter stream",
      (s) => s.deadLetters,
    );
    series("larder_stream_acked_total", "counter", "Entries acknowledged", (s) => s.acked);
    series(
      "larder_stream_batch_errors_total",
      "counter",
      "Failed attempts to write a batch (retried)",
      (s) => s.errors,
    );
    series(
      "larder_stream_lag_undelivered",
      "gauge",
      "Entries of the stream the consumer group has not been given yet",
      (s) => s.undelivered,
    );
    series(
      "larder_stream_lag_pending",
      "gauge",
      "Entries given to the group's consumers and not acknowledged",
      (s) => s.pending,
    );
    const h = "larder_stream_batch_duration_seconds";
    lines.push(
      `# HELP ${h} Time from reading a batch to acknowledging it`,
      `# TYPE ${h} histogram`,
    );
    for (const s of views) {
      const v = `view="${label(s.view)}"`;
      BUCKETS.forEach((b, i) => lines.push(`${h}_bucket{${v},le="${b}"} ${s.latency.counts[i]}`));
      lines.push(`${h}_bucket{${v},le="+Inf"} ${s.latency.count}`);
      lines.push(`${h}_sum{${v}} ${s.latency.sum}`, `${h}_count{${v}} ${s.latency.count}`);
    }
    return `${lines.join("\n")}\n`;
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function count(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** The progress line: events/s, lag, batch latency and dead letters, summed over the views. */
export function streamProgressLine(metrics: StreamMetrics): string {
  const views = [...metrics.views.values()];
  const sum = (f: (s: ViewStreamStats) => number) => views.reduce((n, s) => n + f(s), 0);
  const recent = views.flatMap((s) => s.recent).sort((a, b) => a - b);
  return `stream ${views.length} ${views.length === 1 ? "view" : "views"}: ${
    count(metrics.eventsPerSecond())
  } events/s, ${count(sum((s) => s.events))} events, lag ${count(sum((s) => s.undelivered))} (+${
    count(sum((s) => s.pending))
  } pending), batch p50 ${percentile(recent, 0.5).toFixed(1)} ms p99 ${
    percentile(recent, 0.99).toFixed(1)
  } ms, ${count(sum((s) => s.deadLetters))} dead letters`;
}
