import { hash, randomBytes } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

const BASE62_CODES = Buffer.from(BASE62, 'latin1');
/**
 * Random base62 characters, drawn from one crypto `randomBytes` call per 64 KiB and sliced: a results file
 * needs one id per message, and a `randomBytes` call per id cost more than the rest of the id.
 */
const POOL_BYTES = 64 * 1024;
let pool = Buffer.alloc(0);
let poolAt = 0;

function base62Chars(length: number): string {
  if (length > POOL_BYTES) return base62Chars(POOL_BYTES) + base62Chars(length - POOL_BYTES);
  if (poolAt + length > pool.length) {
    pool = randomBytes(POOL_BYTES);
    for (let i = 0; i < pool.length; i++) pool[i] = BASE62_CODES[pool[i]! % 62]!;
    poolAt = 0;
  }
  const out = pool.toString('latin1', poolAt, poolAt + length);
  poolAt += length;
  return out;
}

/** An opaque id shaped like the API's (`msgbatch_01…`, `msg_01…`, `req_011C…`). Random: ids must not repeat across restarts. */
export function opaqueId(prefix: string, length = 22): string {
  return `${prefix}01${base62Chars(length)}`;
}

/** A number in [0, 1) fixed by its inputs: the emulator's "model" and fault choices must be reproducible. */
export function unitHash(...parts: string[]): number {
  // The first 32 bits of the SHA-256 digest. The one-shot hash (Node >= 20.12) costs less than a Hash object, and
  // a hex string less than a Buffer.
  return parseInt(hash('sha256', parts.join('\u0000'), 'hex').slice(0, 8), 16) / 2 ** 32;
}

/** Small seeded PRNG (mulberry32) for shuffling result order reproducibly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * A Fisher-Yates shuffle of n items, as indices: position k gets the item at `order[k]`. The same generator
 * state gives the same order, so it can be computed again later instead of being kept.
 */
export function shuffledOrder(n: number, random: () => number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

/** RFC 3339 with microseconds, as the API writes timestamps. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z');
}
