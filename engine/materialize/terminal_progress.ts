/** `terminalProgress`: a one-line materialization progress display for terminals. */
import type { MaterializeProgress } from "./materialize.ts";

/** Where progress is drawn: `Deno.stderr` or anything shaped like it. */
export interface ProgressOutput {
  isTerminal(): boolean;
  writeSync(bytes: Uint8Array): number;
}

/** Options for {@linkcode terminalProgress}. */
export interface TerminalProgressOptions {
  /**
   * Where to draw.
   * @default {Deno.stderr}
   */
  readonly output?: ProgressOutput;
  /**
   * Least time between two redraws, in milliseconds.
   * @default {100}
   */
  readonly intervalMs?: number;
  /** Terminal width; default: asked from the terminal (80 when it does not say). */
  readonly columns?: number;
}

const encoder = new TextEncoder();

function count(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** The progress line of one event: view, rows, rows/s and ETA (or elapsed time when done). */
export function progressLine(p: MaterializeProgress): string {
  const seconds = p.elapsedMs / 1000;
  const rate = seconds > 0 ? p.rows / seconds : 0;
  const pct = p.totalRows > 0 ? Math.floor((100 * p.rows) / p.totalRows) : 100;
  const head = `[${p.viewIndex}/${p.viewCount}] ${p.view}: ${count(p.rows)}/${
    count(p.totalRows)
  } rows (${pct}%)`;
  if (p.phase === "done") return `${head}, ${count(rate)} rows/s, done in ${duration(seconds)}`;
  const eta = rate > 0 ? duration((p.totalRows - p.rows) / rate) : "?";
  return `${head}, ${count(rate)} rows/s, ETA ${eta}`;
}

/**
 * A progress callback for `materialize` that redraws one line per view on a terminal (rows,
 * rows/s, ETA), at most every `intervalMs`; `undefined` when the output is not a terminal, so
 * that pipes and logs stay clean. It draws only when called: nothing spins.
 *
 * @example
 * ```ts ignore
 * await materialize(deps, { start, end, onProgress: terminalProgress() });
 * ```
 */
export function terminalProgress(
  options: TerminalProgressOptions = {},
): ((progress: MaterializeProgress) => void) | undefined {
  const output = options.output ?? Deno.stderr;
  if (!output.isTerminal()) return undefined;
  const intervalMs = options.intervalMs ?? 100;
  let width = options.columns;
  if (width === undefined) {
    try {
      width = Deno.consoleSize().columns;
    } catch {
      width = 80;
    }
  }
  const columns = width > 10 ? width - 1 : 79;
  let last = -Infinity;
  return (p) => {
    const at = performance.now();
    if (p.phase === "rows" && at - last < intervalMs) return;
    last = at;
    const line = progressLine(p).slice(0, columns);
    output.writeSync(encoder.encode(`\r\x1b[2K${line}${p.phase === "done" ? "\n" : ""}`));
  };
}
