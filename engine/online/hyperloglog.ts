/**
 * A small HyperLogLog sketch for `approx_count_distinct` tiles: 2^10 = 1024 one-byte registers,
 * a standard error of 1.04 / √1024 ≈ 3.3% (linear counting below 2.5 × 1024 distinct values,
 * where it is usually well within 1%). Sketches merge by taking each register's maximum, so the
 * tiles of a window merge into the sketch of the window.
 */

/** Index bits: 2^P registers. */
const P = 10;
/** Registers per sketch. */
export const HLL_REGISTERS = 1 << P;
/** The standard error of an estimate beyond the linear-counting range. */
export const HLL_STANDARD_ERROR = 1.04 / Math.sqrt(HLL_REGISTERS);

/** A sketch: one register per slot, each the largest rank seen. */
export type Sketch = Uint8Array;

/** An empty sketch. */
export function newSketch(): Sketch {
  return new Uint8Array(HLL_REGISTERS);
}

/** Avalanches 32 bits (each input bit flips each output bit with probability about 1/2). */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Two independent 32-bit hashes of a text (FNV-1a over its UTF-16 units, then mixed). */
function hash2(text: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x27d4eb2f;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return [mix32(a ^ text.length), mix32(b + 0x9e3779b9)];
}

/** Adds a value (given as its canonical text) to the sketch. */
export function addToSketch(sketch: Sketch, text: string): void {
  const [a, b] = hash2(text);
  const slot = a >>> (32 - P);
  // Rank: position of the first 1 bit of 32 further bits (33 when all are 0).
  const rank = Math.clz32(b) + 1;
  if (rank > sketch[slot]!) sketch[slot] = rank;
}

/** Merges `from` into `into` (register-wise maximum). */
export function mergeSketch(into: Sketch, from: Sketch): void {
  for (let i = 0; i < HLL_REGISTERS; i++) if (from[i]! > into[i]!) into[i] = from[i]!;
}

/** The estimated number of distinct values added. */
export function estimateSketch(sketch: Sketch): number {
  const m = HLL_REGISTERS;
  let sum = 0;
  let zeros = 0;
  for (let i = 0; i < m; i++) {
    const r = sketch[i]!;
    sum += 2 ** -r;
    if (r === 0) zeros++;
  }
  if (zeros === m) return 0;
  const alpha = 0.7213 / (1 + 1.079 / m);
  const raw = (alpha * m * m) / sum;
  if (raw <= 2.5 * m && zeros > 0) return Math.round(m * Math.log(m / zeros));
  return Math.round(raw);
}

function toBase64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]!);
  return btoa(text);
}

function fromBase64(text: string): Uint8Array {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

/**
 * The sketch as text: `s` + base64 of (slot: 2 bytes, rank: 1 byte) triples while few registers
 * are set (a tile of a few events stays small), else `d` + base64 of every register.
 */
export function encodeSketch(sketch: Sketch): string {
  let set = 0;
  for (let i = 0; i < HLL_REGISTERS; i++) if (sketch[i] !== 0) set++;
  if (set * 3 >= HLL_REGISTERS) return `d${toBase64(sketch)}`;
  const sparse = new Uint8Array(set * 3);
  let at = 0;
  for (let i = 0; i < HLL_REGISTERS; i++) {
    if (sketch[i] === 0) continue;
    sparse[at++] = i >>> 8;
    sparse[at++] = i & 0xff;
    sparse[at++] = sketch[i]!;
  }
  return `s${toBase64(sparse)}`;
}

/** The sketch of {@linkcode encodeSketch}'s text; an empty sketch for text it cannot read. */
export function decodeSketch(text: string): Sketch {
  const sketch = newSketch();
  try {
    const bytes = fromBase64(text.slice(1));
    if (text[0] === "d" && bytes.length === HLL_REGISTERS) return bytes;
    if (text[0] === "s") {
      for (let at = 0; at + 2 < bytes.length; at += 3) {
        const slot = (bytes[at]! << 8) | bytes[at + 1]!;
        if (slot < HLL_REGISTERS) sketch[slot] = bytes[at + 2]!;
      }
    }
  } catch {
    // Unreadable: empty.
  }
  return sketch;
}
