import assert from "node:assert/strict";
import { rowProgress } from "../cli/_progress.ts";

function fakeTerminal(isTerminal: boolean) {
  const written: string[] = [];
  return {
    written,
    output: {
      isTerminal: () => isTerminal,
      writeSync: (b: Uint8Array) => {
        written.push(new TextDecoder().decode(b));
        return b.byteLength;
      },
    },
  };
}

Deno.test("rowProgress draws stages and rows on one terminal line, and nothing elsewhere", () => {
  const term = fakeTerminal(true);
  const progress = rowProgress("Writing out.parquet", { output: term.output });
  progress.status("joining stats (view 1 of 2)");
  progress.update(10);
  progress.done(20);
  const CLEAR = "\r\x1b[2K";
  assert.equal(term.written[0], `${CLEAR}Writing out.parquet: joining stats (view 1 of 2), 0s`);
  assert.match(term.written.at(-1)!, /Writing out\.parquet: 20 rows, .* done in 0s\n$/);
  assert.ok(term.written.every((w) => w.startsWith(CLEAR)), "each draw replaces the line");

  const pipe = fakeTerminal(false);
  const quiet = rowProgress("Writing out.parquet", { output: pipe.output });
  quiet.status("joining stats (view 1 of 2)");
  quiet.update(10);
  quiet.done(20);
  assert.deepEqual(pipe.written, []);
});
