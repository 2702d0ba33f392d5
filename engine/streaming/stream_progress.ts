/** `streamTerminalProgress`: the stream processor's one-line status for terminals. */
import type { ProgressOutput } from "../materialize/terminal_progress.ts";
import { type StreamMetrics, streamProgressLine } from "./stream_metrics.ts";

const encoder = new TextEncoder();

/**
 * A progress callback for the stream processor that redraws one line (events/s, lag, batch
 * latency, dead letters) on a terminal; `undefined` when `output` is not a terminal, so that
 * logs stay clean. It draws only when called.
 */
export function streamTerminalProgress(
  options: { readonly output?: ProgressOutput; readonly columns?: number } = {},
): ((metrics: StreamMetrics) => void) | undefined {
  const output = options.output ?? Deno.stderr;
  if (!output.isTerminal()) return undefined;
  let width = options.columns;
  if (width === undefined) {
    try {
      width = Deno.consoleSize().columns;
    } catch {
      width = 80;
    }
  }
  const columns = width > 10 ? width - 1 : 79;
  return (metrics) => {
    const line = streamProgressLine(metrics).slice(0, columns);
    output.writeSync(encoder.encode(`\r\x1b[2K${line}`));
  };
}
