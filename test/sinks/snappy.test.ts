// Guards our Snappy compressor (the SNAPPY codec of Parquet pages): every output decodes, through snappyjs
// (an independent decoder), to the input; it is a well-formed raw block (snappyjs's decoder is lenient about
// lengths, so a strict walk of the elements checks that); it stays within the format's size bound; and its
// ratio on page-like text is snappyjs's.
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maxCompressedLength, snappyCompress } from '../../connector/sinks/snappy.js';

const snappyjs = createRequire(import.meta.url)('snappyjs') as {
  compress(input: Uint8Array): Uint8Array;
  uncompress(compressed: Uint8Array): Uint8Array;
};

const FRAGMENT = 1 << 16;

interface BlockShape {
  copies: { offset: number; length: number; tag: 1 | 2 | 4 }[];
}

/**
 * Walks a raw Snappy block strictly: every element in bounds, copies within what is decoded so far, lengths
 * adding up. (Plain throws: an expect() per element made big inputs take seconds.)
 */
function blockShape(block: Uint8Array): BlockShape {
  let at = 0;
  const malformed = (what: string) => new Error(`malformed block at byte ${at}: ${what}`);
  let declared = 0;
  for (let shift = 0; ; shift += 7) {
    const byte = block[at++]!;
    declared += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) break;
  }
  const shape: BlockShape = { copies: [] };
  let produced = 0;
  while (at < block.length) {
    const tag = block[at++]!;
    const kind = tag & 3;
    if (kind === 0) {
      let length = (tag >> 2) + 1;
      if (length > 60) {
        const extra = length - 60;
        length = 1;
        for (let k = 0; k < extra; k++) length += block[at++]! * 2 ** (8 * k);
      }
      at += length;
      if (at > block.length) throw malformed('literal past the end');
      produced += length;
    } else {
      const [length, offset, tagSize] =
        kind === 1
          ? [((tag >> 2) & 7) + 4, ((tag >> 5) << 8) | block[at]!, 1 as const]
          : kind === 2
            ? [(tag >> 2) + 1, block[at]! | (block[at + 1]! << 8), 2 as const]
            : [
                (tag >> 2) + 1,
                (block[at]! | (block[at + 1]! << 8) | (block[at + 2]! << 16) | (block[at + 3]! << 24)) >>> 0,
                4 as const,
              ];
      at += tagSize;
      if (at > block.length) throw malformed('copy past the end');
      if (offset === 0 || offset > produced) throw malformed(`copy offset ${offset} with ${produced} bytes decoded`);
      produced += length;
      shape.copies.push({ offset, length, tag: tagSize });
    }
  }
  expect(produced).toBe(declared);
  return shape;
}

/** Compresses, checks the block is well formed, in bound and decodes to the input; returns the block and its shape. */
function roundTrip(input: Uint8Array): { compressed: Buffer; shape: BlockShape } {
  const compressed = snappyCompress(input);
  expect(compressed.length).toBeLessThanOrEqual(maxCompressedLength(input.length));
  const shape = blockShape(compressed);
  expect(
    Buffer.from(snappyjs.uncompress(compressed)).equals(Buffer.from(input.buffer, input.byteOffset, input.length)),
  ).toBe(true);
  return { compressed, shape };
}

/** mulberry32: seeded bytes, so failures reproduce. */
function seededRandom(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function randomBytes(length: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  return Uint8Array.from({ length }, () => Math.floor(random() * 256));
}

const WORDS = (
  'shipment invoice warehouse delivery customer order payment contract quarterly report supplier pallet freight ' +
  'schedule region account balance review audit inventory stock transfer carrier route dock manifest receipt ' +
  'approval signature renewal clause term notice letter summary forecast budget margin revenue expense ledger'
).split(' ');

/** A PLAIN page body like the encoder's (4-byte LE length, then UTF-8 per value) of ~1 KB English-like texts. */
function textPage(bytes: number, seed: number): Buffer {
  const random = seededRandom(seed);
  const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)]!;
  const sentences = Array.from({ length: 2048 }, () => {
    const words = Array.from({ length: 8 + Math.floor(random() * 10) }, () => pick(WORDS)).join(' ');
    return words[0]!.toUpperCase() + words.slice(1) + (random() < 0.2 ? ` ${Math.floor(random() * 100000)}` : '') + '.';
  });
  const page = Buffer.alloc(bytes);
  let at = 0;
  for (let k = 0; ; k++) {
    let text = `Record doc-${String(k).padStart(9, '0')}.`;
    while (text.length < 1000) text += ' ' + pick(sentences);
    const value = Buffer.from(text);
    if (at + 4 + value.length > bytes) return page.subarray(0, at);
    page.writeUInt32LE(value.length, at);
    value.copy(page, at + 4);
    at += 4 + value.length;
  }
}

/** Inputs from a few parameters (fast-check shrinks these, not 64 KiB arrays): runs of bytes from an alphabet of 1 to 256. */
const generatedInput = fc
  .record({
    length: fc.oneof(
      fc.integer({ min: 0, max: 300 }),
      fc.integer({ min: FRAGMENT - 20, max: FRAGMENT + 20 }),
      fc.integer({ min: 2 * FRAGMENT - 20, max: 2 * FRAGMENT + 20 }),
    ),
    seed: fc.integer(),
    alphabet: fc.integer({ min: 1, max: 256 }),
    maxRun: fc.integer({ min: 1, max: 200 }),
  })
  .map(({ length, seed, alphabet, maxRun }) => {
    const random = seededRandom(seed);
    const bytes = new Uint8Array(length);
    for (let at = 0; at < length;) {
      const value = Math.floor(random() * alphabet);
      const end = Math.min(length, at + 1 + Math.floor(random() * maxRun));
      bytes.fill(value, at, end);
      at = end;
    }
    return bytes;
  });

describe('snappyCompress', () => {
  it('compresses empty input to a zero length', () => {
    const { compressed } = roundTrip(new Uint8Array(0));
    expect([...compressed]).toEqual([0]);
  });

  it('round-trips every length from 1 to 16 bytes', () => {
    for (let length = 1; length <= 16; length++) {
      roundTrip(new Uint8Array(length));
      roundTrip(new Uint8Array(length).fill(0xff)); // the bytes of an empty hash-table entry (-1)
      roundTrip(Uint8Array.from({ length }, (_, k) => k));
      roundTrip(randomBytes(length, length));
    }
  });

  it('stores random bytes at about their own size', () => {
    const input = randomBytes(300_000, 1);
    const { compressed } = roundTrip(input);
    expect(compressed.length).toBeLessThan(input.length * 1.001);
  });

  it('compresses repetitive data to a few bytes per 64', () => {
    const input = Buffer.from('abc'.repeat(100_000));
    const { compressed } = roundTrip(input);
    expect(compressed.length).toBeLessThan(input.length * 0.06);
  });

  it('encodes long runs as overlapping copies longer than 64 bytes in several elements', () => {
    const input = Buffer.concat([
      Buffer.alloc(1000, 'a'),
      randomBytes(50, 2),
      Buffer.alloc(67, 'b'),
      Buffer.from('xyz'.repeat(30)),
    ]);
    const { shape } = roundTrip(input);
    const overlapping = shape.copies.filter((copy) => copy.offset < copy.length);
    expect(overlapping.length).toBeGreaterThan(0);
    expect(shape.copies.filter((copy) => copy.offset === 1 && copy.length === 64).length).toBeGreaterThan(10);
  });

  it('uses the 1-byte-offset form exactly for copies shorter than 12 bytes from less than 2048 back', () => {
    const far = randomBytes(3000, 3);
    const near = randomBytes(500, 4);
    const { shape } = roundTrip(Buffer.concat([far, far, near, near, textPage(20_000, 5)]));
    expect(shape.copies).toContainEqual({ offset: 3000, length: 64, tag: 2 });
    expect(shape.copies).toContainEqual({ offset: 500, length: 64, tag: 2 });
    expect(shape.copies.some((copy) => copy.tag === 1)).toBe(true);
    for (const copy of shape.copies) expect(copy.tag).toBe(copy.length < 12 && copy.offset < 2048 ? 1 : 2);
  });

  it('round-trips text spanning several 64 KiB fragments, never reaching back further than 65535', () => {
    const input = textPage(3.5 * FRAGMENT, 4);
    const { shape } = roundTrip(input);
    expect(shape.copies.every((copy) => copy.offset < FRAGMENT && copy.tag !== 4)).toBe(true);
  });

  it('round-trips an input beyond the reused output buffer (> 4 MiB)', () => {
    roundTrip(Buffer.concat([textPage(3 << 20, 5), randomBytes(1 << 20, 5), textPage(1 << 20, 6)]));
  });

  it('returns results that later calls do not overwrite, and reads inputs at any byte offset', () => {
    const first = textPage(100_000, 7);
    const firstCompressed = snappyCompress(first);
    const copy = Buffer.from(firstCompressed);
    const pool = Buffer.from(textPage(200_000, 8));
    roundTrip(pool.subarray(13, 150_013));
    expect(firstCompressed.equals(copy)).toBe(true);
  });

  it('round-trips arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (input) => {
        roundTrip(input);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips generated inputs of sizes around fragment boundaries', () => {
    fc.assert(
      fc.property(generatedInput, (input) => {
        roundTrip(input);
      }),
      { numRuns: 60 },
    );
  });

  it('round-trips arbitrary UTF-8 text, alone and as repeated PLAIN values', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'grapheme', maxLength: 80 }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 50 }),
        (values, repeats) => {
          const encoded = values.map((value) => Buffer.from(value));
          roundTrip(Buffer.concat(encoded));
          const plain = encoded.flatMap((value) => {
            const length = Buffer.alloc(4);
            length.writeUInt32LE(value.length);
            return [length, value];
          });
          roundTrip(Buffer.concat(Array.from({ length: repeats }, () => plain).flat()));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('compresses a 1 MiB text page within 3% of the size snappyjs gives', () => {
    const page = textPage(1 << 20, 9);
    const ours = roundTrip(page).compressed.length;
    const theirs = snappyjs.compress(page).length;
    expect(ours / page.length).toBeLessThan(0.5);
    expect(Math.abs(ours / theirs - 1)).toBeLessThan(0.03);
  });
});
