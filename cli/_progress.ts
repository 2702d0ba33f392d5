/** A one-line progress display (rows, rows/s, then a summary) drawn only on a terminal. */

const encoder = new TextEncoder();

/** A progress line; every method is a no-op when stderr is not a terminal. */
export interface RowProgress {
  /** Sets the number of rows done so far. */
  update(rows: number): void;
  /** Shows what is being done before rows come (e.g. "joining driver_stats (view 1 of 3)"). */
  status(text: string): void;
  /** Ends the line with a summary. */
  done(rows: number): void;
}

function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/** Starts a progress line for `label`: rows, rows/s, and a status before rows come. */
export function rowProgress(
  label: string,
  options: {
    output?: { isTerminal(): boolean; writeSync(b: Uint8Array): number };
  } = {},
): RowProgress {
  const out = options.output ?? Deno.stderr;
  if (!out.isTerminal()) return { update() {}, status() {}, done() {} };
  const started = performance.now();
  let last = 0;
  const line = (rows: number, final: boolean) => {
    const seconds = (performance.now() - started) / 1000;
    const rate = seconds > 0 ? rows / seconds : 0;
    let text = `${label}: ${rows.toLocaleString("en-US")} rows, ${
      Math.round(rate).toLocaleString("en-US")
    } rows/s`;
    if (final) text += `, done in ${duration(seconds)}`;
    out.writeSync(encoder.encode(`\r\x1b[2K${text}${final ? "\n" : ""}`));
  };
  return {
    update(rows) {
      const now = performance.now();
      if (now - last < 100) return;
      last = now;
      line(rows, false);
    },
    status(text) {
      const seconds = (performance.now() - started) / 1000;
      out.writeSync(encoder.encode(`\r\x1b[2K${label}: ${text}, ${duration(seconds)}`));
    },
    done(rows) {
      line(rows, true);
    },
  };
}
