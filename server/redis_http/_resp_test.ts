import assert from "node:assert/strict";
import { DROPPED, encodeCommands, RespError, RespReader, type RespValue } from "./_resp.ts";

const encoder = new TextEncoder();
const text = (value: RespValue | typeof DROPPED): unknown =>
  value instanceof Uint8Array
    ? new TextDecoder().decode(value)
    : Array.isArray(value)
    ? value.map(text)
    : value;

/** Feeds `wire` to a reader in chunks of `size` bytes; returns the replies and their sizes. */
function read(wire: string, size: number, budget = Infinity): [unknown, number][] {
  const out: [unknown, number][] = [];
  const reader = new RespReader({
    budget: () => budget,
    reply: (value, bytes) => out.push([text(value), bytes]),
  });
  const bytes = encoder.encode(wire);
  for (let i = 0; i < bytes.length; i += size) reader.feed(bytes.slice(i, i + size));
  return out;
}

const WIRE = "+OK\r\n-ERR bad\r\n:42\r\n$4\r\nhé!\r\n$-1\r\n*0\r\n*-1\r\n" +
  "*3\r\n$1\r\na\r\n*2\r\n:1\r\n$0\r\n\r\n:-7\r\n";

Deno.test("RespReader() reads every RESP2 type whatever the chunk boundaries", () => {
  const expected: [unknown, number][] = [
    ["OK", 5],
    [new RespError("ERR bad"), 10],
    [42, 5],
    ["hé!", 10],
    [null, 5],
    [[], 4],
    [null, 5],
    [["a", [1, ""], -7], 30],
  ];
  for (const size of [1, 2, 3, 7, 16, 1000]) assert.deepEqual(read(WIRE, size), expected);
});

Deno.test("RespReader() throws away a reply over its budget without keeping it", () => {
  const wire = `$10\r\n0123456789\r\n*2\r\n$3\r\nabc\r\n$3\r\ndef\r\n:1\r\n`;
  for (const size of [1, 5, 100]) {
    assert.deepEqual(read(wire, size, 25), [["0123456789", 17], [["abc", "def"], 22], [1, 4]]);
    assert.deepEqual(read(wire, size, 20), [["0123456789", 17], [DROPPED, 22], [1, 4]]);
    assert.deepEqual(read(wire, size, 16), [[DROPPED, 17], [DROPPED, 22], [1, 4]]);
    assert.deepEqual(read(wire, size, 0), [[DROPPED, 17], [DROPPED, 22], [DROPPED, 4]]);
  }
});

Deno.test("RespReader() refuses bytes that are not RESP2", () => {
  assert.throws(() => read("HTTP/1.1 400\r\n", 100), /unexpected "HTTP\/1.1 400\\r\\n"/);
  assert.throws(() => read("$x\r\n", 100), /bad length "x"/);
  assert.throws(() => read(":12abc\r\n", 100), /bad integer "12abc"/);
  assert.throws(() => read(":\r\n", 100), /bad integer ""/);
});

Deno.test("RespReader() keeps the exact digits of integers beyond 2^53", () => {
  const wire = ":9007199254740991\r\n:9007199254740993\r\n:-9223372036854775808\r\n" +
    "*2\r\n:18446744073709551615\r\n:-1\r\n";
  for (const size of [1, 5, 1000]) {
    assert.deepEqual(read(wire, size).map(([value]) => value), [
      9007199254740991,
      9007199254740993n,
      -9223372036854775808n,
      [18446744073709551615n, -1],
    ]);
  }
});

Deno.test("RespReader() keeps no view of a chunk: the caller may reuse its buffer", () => {
  // Replies split at every boundary, fed from one buffer overwritten after each feed.
  for (const size of [1, 2, 3, 7, 16]) {
    const out: unknown[] = [];
    const reader = new RespReader({
      budget: () => Infinity,
      reply: (value) => out.push(text(value)),
    });
    const bytes = encoder.encode(WIRE);
    const buffer = new Uint8Array(size);
    for (let i = 0; i < bytes.length; i += size) {
      const n = Math.min(size, bytes.length - i);
      buffer.set(bytes.subarray(i, i + n));
      reader.feed(buffer.subarray(0, n));
      buffer.fill(0x3f); // "?"
    }
    assert.deepEqual(out, read(WIRE, 1000).map(([value]) => value), `chunks of ${size}`);
  }
});

Deno.test("encodeCommands() writes arrays of bulk strings with byte lengths", () => {
  const wire = new TextDecoder().decode(encodeCommands([["SET", "k", "héllo 🍞"], ["GET", ""]]));
  assert.equal(
    wire,
    "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$11\r\nhéllo 🍞\r\n*2\r\n$3\r\nGET\r\n$0\r\n\r\n",
  );
  const big = "x".repeat(100_000);
  assert.equal(
    encodeCommands([["ECHO", big]]).length,
    `*2\r\n$4\r\nECHO\r\n$100000\r\n`.length + 100_002,
  );
});
