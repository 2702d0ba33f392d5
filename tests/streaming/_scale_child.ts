/**
 * A stream processor of `trip_stats` for the scale-out tests: prints each acknowledgement as a
 * JSON line `{"acking": [[id, deliveries], ...]}` and, on SIGTERM, stops cleanly and prints
 * `{"result": stats}`. With HANG_AT, its HANG_AT-th acknowledgement never happens: it prints
 * `{"holding": [ids]}` (entries written to every store, not acknowledged) and waits to be
 * killed.
 * Usage: deno run -A _scale_child.ts REPO CONSUMER RECLAIM_IDLE_MS [HANG_AT]
 */
import { FeatureStore } from "../../mod.ts";

const [repo, consumer, reclaimIdleMs, hangAt] = Deno.args;
const stop = new AbortController();
Deno.addSignalListener("SIGTERM", () => stop.abort());
let acks = 0;
const store = await FeatureStore.open({ repo: repo! });
const result = await store.stream({
  views: ["trip_stats"],
  consumer: consumer!,
  signal: stop.signal,
  blockMs: 50,
  batchSize: 25,
  reclaimIdleMs: Number(reclaimIdleMs),
  beforeAck: async (_view, entries) => {
    if (entries.length === 0) return;
    if (++acks === Number(hangAt)) {
      console.log(JSON.stringify({ holding: entries.map((e) => e.id) }));
      await new Promise(() => {});
    }
    console.log(JSON.stringify({ acking: entries.map((e) => [e.id, e.deliveries]) }));
  },
});
await store.close();
console.log(JSON.stringify({ result: result.views[0] }));
