/**
 * Fairness of the Redis HTTP bridge: how long a small `GET` waits while a big pipeline from
 * another client runs, against the same `GET` with nothing beside it (the baseline, measured
 * in the same run just before). The bridge runs as its own process (as deployed) in front of
 * a throwaway `redis-server`; this process sends one big pipeline and, beside it, `GET`s one
 * after the other until the pipeline is answered.
 *
 * Run: `deno task bench bridge [--commands 10000] [--value-bytes 1000] [--runs 3]`
 * (`--value-bytes 0`: `INCR n` commands, else `SET k<i> <value>`).
 */
import { parseArgs } from "node:util";
import { startRedisStack } from "./_redis_stack.ts";

const { values: flags } = parseArgs({
  options: {
    commands: { type: "string", default: "10000" },
    "value-bytes": { type: "string", default: "1000" },
    runs: { type: "string", default: "3" },
  },
});
const COMMANDS = Number(flags.commands);
const VALUE_BYTES = Number(flags["value-bytes"]);
const RUNS = Number(flags.runs);

const stack = await startRedisStack("process");
const headers = { authorization: `Bearer ${stack.token}` };
const value = "x".repeat(VALUE_BYTES);
const body = JSON.stringify(
  Array.from(
    { length: COMMANDS },
    (_, i) => VALUE_BYTES === 0 ? ["INCR", "n"] : ["SET", `k${i}`, value],
  ),
);
const ms = (n: number) => `${n.toFixed(1)} ms`;

async function post(path: string, text: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`${stack.url}${path}`, { method: "POST", headers, body: text });
  return { status: res.status, text: await res.text() };
}

try {
  await post("/", JSON.stringify(["SET", "small", "v"]));
  console.log(
    `big pipeline: ${COMMANDS} x ${VALUE_BYTES === 0 ? "INCR" : `SET of ${VALUE_BYTES} B`} ` +
      `(${(body.length / 1e6).toFixed(1)} MB body); ${navigator.hardwareConcurrency} CPUs`,
  );
  const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  for (let run = 1; run <= RUNS; run++) {
    await post("/", JSON.stringify(["DEL", "n"]));
    const alone: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      await post("/", JSON.stringify(["GET", "small"]));
      alone.push(performance.now() - t);
    }
    const started = performance.now();
    let done = false;
    let bigMs = 0;
    const big = post("/pipeline", body).then((answer) => {
      bigMs = performance.now() - started;
      done = true;
      return answer;
    });
    const waits: number[] = [];
    // GETs one after the other while the pipeline runs (at least one).
    do {
      const t = performance.now();
      const answer = await post("/", JSON.stringify(["GET", "small"]));
      if (answer.status !== 200) throw new Error(`GET answered ${answer.status}: ${answer.text}`);
      waits.push(performance.now() - t);
    } while (!done);
    const answer = await big;
    const sorted = [...waits].sort((a, b) => a - b);
    console.log(
      `run ${run}: pipeline ${answer.status} in ${ms(bigMs)} (${answer.text.slice(0, 80)}…); ` +
        `GET alone: median ${ms(median(alone))}; ${waits.length} GETs beside it: first ${
          ms(waits[0]!)
        }, median ${ms(median(sorted))}, max ${ms(sorted.at(-1)!)} ` +
        `(median beside / alone: ${(median(sorted) / median(alone)).toFixed(1)}x)`,
    );
  }
} finally {
  await stack.stop();
}
