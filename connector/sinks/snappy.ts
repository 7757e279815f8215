/*
 * Snappy compression in the raw block format, the one Parquet's SNAPPY codec uses: the uncompressed length as
 * a varint, then literal and copy elements (no framing format, no checksums).
 *
 * It replaces snappyjs for page bodies, where snappyjs's compressor was ~12% of the output thread. It makes the
 * choices of Google's reference compressor (64 KiB fragments, each with a fresh hash table, so offsets fit
 * two bytes; a hash probe per position, growing sparser the longer nothing matches; the position before each
 * copy's end indexed too), so its output is about the same size. The speed comes from how V8 compiles it:
 *
 * - Each fragment is copied into a module-level buffer and compressed into another. TurboFan embeds such
 *   constant typed arrays' address and length in the optimised code, so an element access is a bounds check
 *   and a load; on a parameter it also checks the map and reloads length and data pointer every time. That
 *   made it 12% (text) to 50% (short ids) faster, for ~3% spent copying.
 * - 4-byte loads go through a DataView of that constant buffer, which TurboFan compiles to one unaligned
 *   load: 15-25% faster on text than composing 4 byte loads. (Through a DataView that is not a constant,
 *   loads were slower than the bytes.)
 * - The hash table keeps each position's first 4 bytes beside it, so a probe checks a candidate without
 *   reading the input there, and matches are extended 4 bytes at a time, the mismatching byte found with
 *   Math.clz32.
 * - Helpers are arrow functions in consts: TurboFan inlines them without re-checking, at every call, that a
 *   function declaration's binding still holds the same function (worth 15% on short ids).
 *
 * bench/snappy.mjs compares it with snappyjs.
 */

/** Matches never reach back past their fragment's start, so offsets fit the 2-byte-offset copy form. */
const FRAGMENT_BYTES = 1 << 16;
/** The reference's limit; 15 bits made text pages only 0.5% smaller, with twice the table to clear. */
const MAX_HASH_BITS = 14;
/** Small inputs get a small table, so compressing a few bytes does not clear all 128 KB of it. */
const MIN_HASH_BITS = 8;
const HASH_MULTIPLIER = 0x1e35a7bd;
/** Outputs of up to this many bytes are built in a buffer kept for the next call (a page body is ~1 MiB). */
const REUSED_OUTPUT_LIMIT = maxCompressedLength(4 << 20);

const fragmentInput = new Uint8Array(FRAGMENT_BYTES);
const fragmentWords = new DataView(fragmentInput.buffer);
const fragmentOutput = new Uint8Array(maxCompressedLength(FRAGMENT_BYTES));
/** Pairs (position in the fragment, the 4 bytes there) by hash of those bytes; position -1: empty. */
const table = new Int32Array(2 << MAX_HASH_BITS);
let reusedOutput = new Uint8Array(0);

/** The format's bound on the compressed size of `length` bytes (the reference's MaxCompressedLength). */
export function maxCompressedLength(length: number): number {
  return 32 + length + Math.floor(length / 6);
}

/**
 * Compresses `input` into the Snappy raw block format.
 *
 * The result is an exact-size copy, not a view of the max-length buffer it was built in: the encoder keeps
 * every page of a row group until the group is written, and such a view would pin ~3.5× the compressed size
 * of a text page. Building in a reused buffer also saves allocating one per page.
 */
export function snappyCompress(input: Uint8Array): Buffer {
  const bound = maxCompressedLength(input.length);
  let output = reusedOutput;
  if (bound > REUSED_OUTPUT_LIMIT) {
    output = new Uint8Array(bound);
  } else if (bound > output.length) {
    // Grown by doubling, so page bodies of slowly growing sizes do not reallocate every time.
    output = reusedOutput = new Uint8Array(Math.min(REUSED_OUTPUT_LIMIT, Math.max(bound, output.length * 2)));
  }

  let op = writeVarint(output, 0, input.length);
  for (let start = 0; start < input.length; start += FRAGMENT_BYTES) {
    const end = Math.min(start + FRAGMENT_BYTES, input.length);
    fragmentInput.set(input.subarray(start, end));
    const compressedLength = compressFragment(end - start);
    output.set(fragmentOutput.subarray(0, compressedLength), op);
    op += compressedLength;
  }
  const result = Buffer.allocUnsafe(op);
  result.set(output.subarray(0, op));
  return result;
}

function writeVarint(output: Uint8Array, op: number, value: number): number {
  while (value > 0x7f) {
    output[op++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  output[op++] = value;
  return op;
}

/** Compresses fragmentInput[0, length) into fragmentOutput; returns the compressed length. */
function compressFragment(length: number): number {
  // Locals, so TurboFan reads each module binding once and then treats the array as a constant.
  const source = fragmentInput;
  const words = fragmentWords;
  const output = fragmentOutput;
  const entries = table;
  let hashBits = MIN_HASH_BITS;
  while (hashBits < MAX_HASH_BITS && 1 << hashBits < length) hashBits++;
  const shift = 32 - hashBits;
  entries.fill(-1, 0, 2 << hashBits);

  // A match needs 4 bytes, so none starts in the last 3.
  const lastMatchStart = length - 4;
  let op = 0;
  let literalStart = 0;
  let ip = 1;
  search: while (ip <= lastMatchStart) {
    // Find a 4-byte match. After 32 misses in a row the step grows by one every 32 probes, so incompressible
    // data is skipped quickly, at the cost of maybe missing a match in it.
    let probes = 32;
    let word = load32(words, ip);
    let candidate: number;
    let candidateWord: number;
    for (;;) {
      const slot = (Math.imul(word, HASH_MULTIPLIER) >>> shift) << 1;
      candidate = entries[slot]!;
      candidateWord = entries[slot + 1]!;
      entries[slot] = ip;
      entries[slot + 1] = word;
      if (candidateWord === word && candidate >= 0) break;
      const step = probes++ >> 5;
      ip += step;
      if (ip > lastMatchStart) break search;
      word = load32(words, ip);
    }

    op = emitLiteral(source, literalStart, ip, output, op);
    // Emit copies for as long as the position right after one starts another match (runs, repeated phrases).
    do {
      let matchEnd = ip + 4;
      let from = candidate + 4;
      for (;;) {
        if (matchEnd > lastMatchStart) {
          while (matchEnd < length && source[matchEnd] === source[from]) {
            matchEnd++;
            from++;
          }
          break;
        }
        const difference = load32(words, matchEnd) ^ load32(words, from);
        if (difference !== 0) {
          // Little-endian: the lowest set bit is in the first byte that differs.
          matchEnd += (31 - Math.clz32(difference & -difference)) >> 3;
          break;
        }
        matchEnd += 4;
        from += 4;
      }
      op = emitCopy(output, op, ip - candidate, matchEnd - ip);
      ip = matchEnd;
      literalStart = ip;
      if (ip > lastMatchStart) break search;

      // Indexing the position before, too, finds the next match sooner where text repeats with small shifts.
      const previousWord = load32(words, ip - 1);
      const previousSlot = (Math.imul(previousWord, HASH_MULTIPLIER) >>> shift) << 1;
      entries[previousSlot] = ip - 1;
      entries[previousSlot + 1] = previousWord;
      word = load32(words, ip);
      const slot = (Math.imul(word, HASH_MULTIPLIER) >>> shift) << 1;
      candidate = entries[slot]!;
      candidateWord = entries[slot + 1]!;
      entries[slot] = ip;
      entries[slot + 1] = word;
    } while (candidateWord === word && candidate >= 0);
    ip++;
  }
  if (literalStart < length) op = emitLiteral(source, literalStart, length, output, op);
  return op;
}

/** The 4 bytes at `at`, little-endian, as an int32 (sign does not matter: it is only hashed and compared). */
const load32 = (words: DataView, at: number): number => words.getInt32(at, true);

/** Literals up to this long are copied byte by byte: below it, making a subarray for set() costs more. */
const SHORT_LITERAL = 32;

/** Emits source[from, to) as one literal; 1 ≤ to - from ≤ 65536 (a fragment at most). */
const emitLiteral = (source: Uint8Array, from: number, to: number, output: Uint8Array, op: number): number => {
  const lengthMinusOne = to - from - 1;
  if (lengthMinusOne < 60) {
    output[op++] = lengthMinusOne << 2;
  } else if (lengthMinusOne < 0x100) {
    output[op++] = 60 << 2;
    output[op++] = lengthMinusOne;
  } else {
    output[op++] = 61 << 2;
    output[op++] = lengthMinusOne & 0xff;
    output[op++] = lengthMinusOne >>> 8;
  }
  if (to - from <= SHORT_LITERAL) {
    while (from < to) output[op++] = source[from++]!;
    return op;
  }
  output.set(source.subarray(from, to), op);
  return op + (to - from);
};

/** Emits a copy of `length` (≥ 4) bytes from `offset` (1..65535) back. */
const emitCopy = (output: Uint8Array, op: number, offset: number, length: number): number => {
  // One element copies at most 64 bytes. Split so the last piece keeps at least 4, the 1-byte-offset form's minimum.
  while (length >= 68) {
    op = emitCopyWithOffset16(output, op, offset, 64);
    length -= 64;
  }
  if (length > 64) {
    op = emitCopyWithOffset16(output, op, offset, 60);
    length -= 60;
  }
  if (length < 12 && offset < 2048) {
    output[op++] = 1 | ((length - 4) << 2) | ((offset >>> 8) << 5);
    output[op++] = offset & 0xff;
    return op;
  }
  return emitCopyWithOffset16(output, op, offset, length);
};

const emitCopyWithOffset16 = (output: Uint8Array, op: number, offset: number, length: number): number => {
  output[op++] = 2 | ((length - 1) << 2);
  output[op++] = offset & 0xff;
  output[op++] = offset >>> 8;
  return op;
};
