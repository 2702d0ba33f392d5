/**
 * A stream processor that dies (exit 3) the first time it is about to acknowledge entries of
 * `trip_stats`: after every destination took them, before the broker hears of it.
 * Usage: deno run -A _crash_child.ts REPO CONSUMER
 */
import { FeatureStore } from "../../mod.ts";

const [repo, consumer] = Deno.args;
const store = await FeatureStore.open({ repo: repo! });
await store.stream({
  views: ["trip_stats"],
  consumer: consumer!,
  blockMs: 50,
  offlineFlushMs: 100,
  reclaimIdleMs: 1000,
  beforeAck: (view, entries) => {
    if (view === "trip_stats" && entries.length > 0) Deno.exit(3);
  },
});
