import { createHash } from 'node:crypto';

const CUSTOM_ID_SHAPE = /^r[A-Za-z0-9_-]{43}$/;

/**
 * The 16-byte hash a key is filed under, written into `out` (32 bytes). Our custom_ids are already 'r' +
 * base64url of a sha256, so their first 16 decoded bytes are used directly (several times cheaper than
 * hashing again, and get() runs once per input record); any other key is hashed with sha256. Any
 * deterministic hash is correct here, since every hit is checked against the stored key: a collision costs
 * one more probe, never a wrong answer.
 */
export function keyHash(key: string, out: Buffer): Buffer {
  if (CUSTOM_ID_SHAPE.test(key)) {
    out.write(key.slice(1), 0, 32, 'base64url');
  } else {
    createHash('sha256').update(key).digest().copy(out, 0, 0, 16);
  }
  return out;
}

/** Orders 16-byte hashes by value (the order of their home slots in a table of any size). */
export const compareHash = (a: Buffer, b: Buffer): number => {
  for (let i = 0; i < 16; i += 4) {
    const d = a.readUInt32BE(i) - b.readUInt32BE(i);
    if (d !== 0) return d;
  }
  return 0;
};
