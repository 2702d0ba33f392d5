/**
 * RESP2, the protocol of `redis-server`: commands out as arrays of bulk strings, replies in
 * through a streaming reader that counts the bytes of each reply as they arrive and stops
 * keeping a reply once it passes its byte budget (the rest is read and thrown away, never
 * buffered), so that one huge reply cannot exhaust the bridge's memory.
 *
 * @module
 */

/** An error reply (`-ERR …`). */
export class RespError {
  readonly message: string;
  constructor(message: string) {
    this.message = message;
  }
}

/**
 * A RESP2 reply: bulk strings stay bytes, so that binary values round-trip exactly; integers
 * are numbers, or bigints beyond 2^53 so that their digits stay exact.
 */
export type RespValue = string | number | bigint | Uint8Array | RespError | null | RespValue[];

/** Stands for a reply that went over its budget (or was not wanted) and was thrown away. */
export const DROPPED: unique symbol = Symbol("dropped");

/** Where {@linkcode RespReader} delivers replies. */
export interface ReplySink {
  /** Bytes the next reply may take before it is thrown away (0: throw it away). */
  budget(): number;
  /** One whole reply, or `DROPPED`, and its size on the wire. */
  reply(value: RespValue | typeof DROPPED, bytes: number): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CR = 13;
const LF = 10;

/** `commands` as one RESP2 request (each an array of bulk strings), ready to write. */
export function encodeCommands(commands: readonly (readonly string[])[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let length = 0;
  let text = "";
  const flush = () => {
    if (text === "") return;
    const bytes = encoder.encode(text);
    parts.push(bytes);
    length += bytes.length;
    text = "";
  };
  for (const command of commands) {
    text += `*${command.length}\r\n`;
    for (const arg of command) {
      // Text with no multi-byte characters has as many UTF-8 bytes as UTF-16 code units.
      if (isAscii(arg)) {
        text += `$${arg.length}\r\n${arg}\r\n`;
      } else {
        const bytes = encoder.encode(arg);
        text += `$${bytes.length}\r\n`;
        flush();
        parts.push(bytes);
        length += bytes.length;
        text = "\r\n";
      }
    }
    if (text.length > 65536) flush();
  }
  flush();
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

// deno-lint-ignore no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

function isAscii(text: string): boolean {
  return !NON_ASCII.test(text);
}

const INTEGER = /^-?\d+$/;

interface Frame {
  readonly items: RespValue[] | null;
  remaining: number;
}

/**
 * Reads a stream of RESP2 replies fed in chunks of any size, handing each whole reply to the
 * sink. Throws on bytes that are not RESP2 (the connection must then be closed).
 */
export class RespReader {
  readonly #sink: ReplySink;
  /** Pieces of the header or simple line read so far. */
  #line: Uint8Array[] = [];
  #lineBytes = 0;
  /** The bulk string being read: its buffer (null when thrown away) and bytes still to come. */
  #bulk: Uint8Array | null = null;
  #bulkFilled = 0;
  #bulkRemaining = -1;
  readonly #stack: Frame[] = [];
  /** Whether a reply is under way, its size so far, its budget and whether it is kept. */
  #inReply = false;
  #bytes = 0;
  #budget = 0;
  #keep = true;

  constructor(sink: ReplySink) {
    this.#sink = sink;
  }

  /** Reads `chunk`; keeps no view of it, so the caller may reuse its buffer at once. */
  feed(chunk: Uint8Array): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (!this.#inReply) {
        this.#inReply = true;
        this.#bytes = 0;
        this.#budget = this.#sink.budget();
        this.#keep = this.#budget > 0;
      }
      if (this.#bulkRemaining >= 0) {
        const take = Math.min(this.#bulkRemaining, chunk.length - pos);
        const data = this.#bulkRemaining - 2; // bytes of data still to come, before CRLF
        if (this.#bulk !== null && data > 0) {
          const n = Math.min(take, data);
          this.#bulk.set(chunk.subarray(pos, pos + n), this.#bulkFilled);
          this.#bulkFilled += n;
        }
        pos += take;
        this.#bulkRemaining -= take;
        this.#count(take);
        if (this.#bulkRemaining === 0) {
          const value = this.#bulk;
          this.#bulk = null;
          this.#bulkRemaining = -1;
          this.#complete(value ?? new Uint8Array(0));
        }
        continue;
      }
      const end = chunk.indexOf(LF, pos);
      if (end < 0) {
        this.#addLine(chunk.subarray(pos), true);
        this.#count(chunk.length - pos);
        pos = chunk.length;
        continue;
      }
      this.#addLine(chunk.subarray(pos, end + 1), false);
      this.#count(end + 1 - pos);
      pos = end + 1;
      this.#header(this.#takeLine());
    }
  }

  /** Adds a piece of a line; one that `partial`ly ends the chunk is copied (it is reused). */
  #addLine(piece: Uint8Array, partial: boolean): void {
    // A thrown-away simple string or error needs only its type byte: keep no more of it.
    if (!this.#keep && this.#lineBytes >= 32) return;
    this.#line.push(partial ? piece.slice() : piece);
    this.#lineBytes += piece.length;
  }

  #takeLine(): Uint8Array {
    const pieces = this.#line;
    this.#line = [];
    this.#lineBytes = 0;
    if (pieces.length === 1) return pieces[0]!;
    const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const piece of pieces) {
      out.set(piece, offset);
      offset += piece.length;
    }
    return out;
  }

  #count(bytes: number): void {
    this.#bytes += bytes;
    if (this.#keep && this.#bytes > this.#budget) this.#keep = false;
  }

  /** A line ending in LF: a simple reply, or the header of a bulk string or an array. */
  #header(line: Uint8Array): void {
    const type = line[0];
    const textEnd = line.length >= 2 && line[line.length - 2] === CR
      ? line.length - 2
      : line.length - 1;
    const text = (): string => decoder.decode(line.subarray(1, textEnd));
    switch (type) {
      case 0x2b: // +
        this.#complete(this.#keep ? text() : "");
        return;
      case 0x2d: // -
        this.#complete(new RespError(this.#keep ? text() : ""));
        return;
      case 0x3a: // :
        this.#complete(this.#integer(text()));
        return;
      case 0x24: { // $
        const length = this.#length(text());
        if (length < 0) return this.#complete(null);
        // Known before any of it arrives: a bulk string over budget is never allocated.
        if (this.#keep && this.#bytes + length + 2 > this.#budget) this.#keep = false;
        this.#bulk = this.#keep ? new Uint8Array(length) : null;
        this.#bulkFilled = 0;
        this.#bulkRemaining = length + 2;
        return;
      }
      case 0x2a: { // *
        const length = this.#length(text());
        if (length < 0) return this.#complete(null);
        if (length === 0) return this.#complete([]);
        this.#stack.push({ items: this.#keep ? [] : null, remaining: length });
        return;
      }
      default:
        throw new Error(
          `Cannot read the reply of Redis: unexpected ${
            JSON.stringify(decoder.decode(line.subarray(0, 20)))
          }`,
        );
    }
  }

  /** An integer reply: a number when exact, else a bigint (Redis sends 64-bit integers). */
  #integer(text: string): number | bigint {
    if (!INTEGER.test(text)) {
      throw new Error(`Cannot read the reply of Redis: bad integer ${JSON.stringify(text)}`);
    }
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : BigInt(text);
  }

  #length(text: string): number {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < -1) {
      throw new Error(`Cannot read the reply of Redis: bad length ${JSON.stringify(text)}`);
    }
    return n;
  }

  #complete(value: RespValue): void {
    let done: RespValue = value;
    for (;;) {
      const frame = this.#stack.at(-1);
      if (frame === undefined) break;
      if (this.#keep) frame.items?.push(done);
      if (--frame.remaining > 0) return;
      this.#stack.pop();
      done = frame.items ?? [];
    }
    this.#inReply = false;
    this.#sink.reply(this.#keep ? done : DROPPED, this.#bytes);
  }
}
