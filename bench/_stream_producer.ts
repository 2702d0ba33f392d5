/**
 * The stream benchmark's producer, in its own process: once it reads "go" on stdin, XADDs
 * events FROM..TO (500 per pipeline) to STREAM, then prints "done".
 * Usage: deno run -A bench/_stream_producer.ts URL STREAM FROM TO KEYS
 */
import { createRedisTransport } from "../engine/online/mod.ts";

const [url, stream, from, to, keys] = Deno.args;
// Each run starts where the last stopped: FROM..TO index the events across rounds.
const KEYS = Number(keys);
const T0 = Date.UTC(2026, 0, 1);
const redis = createRedisTransport({ url: url! });
await redis.pipeline([["PING"]]);
console.log("ready");
const reader = Deno.stdin.readable.getReader();
await reader.read();
for (let i = Number(from); i < Number(to); i += 500) {
  const commands = [];
  for (let j = i; j < Math.min(Number(to), i + 500); j++) {
    commands.push([
      "XADD",
      stream!,
      "*",
      "driver_id",
      String(j % KEYS),
      "ts",
      new Date(T0 + j).toISOString(),
      "fare",
      String(j),
      "trips",
      String(j),
    ]);
  }
  await redis.pipeline(commands);
}
console.log("done");
await redis.close();
