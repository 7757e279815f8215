import { crc32 } from 'node:zlib';
import { readFully } from '../common/durable.js';

/**
 * One cached value in a segment file (little-endian):
 *
 *   0  u32 magic 'CCR1'
 *   4  u32 crc32 of bytes [8, end)   (lengths, key and value: a torn or rotten record never verifies)
 *   8  u32 key length (UTF-8 bytes)
 *  12  u32 value length (UTF-8 bytes)
 *  16  key, then value
 *
 * Segments are append-only; a record is valid only if its magic, lengths and crc all check out, so
 * a crash mid-append leaves a tail that open() finds and truncates.
 */
export const RECORD_MAGIC = 0x31524343;
export const RECORD_HEADER = 16;
/** A longer custom_id is not something we would ever store (the API allows 64 chars). */
export const MAX_KEY_BYTES = 1024;
/** A succeeded result is at most ~128k output tokens (well under 4 MB of JSON); larger values are not cached. */
export const MAX_VALUE_BYTES = 64 * 1024 * 1024;

/** Writes one record (see the layout above) at `at` in `buf`, which has room for it. */
function writeRecord(
  buf: Buffer,
  at: number,
  key: string,
  keyLen: number,
  value: string | Uint8Array,
  valLen: number,
): void {
  buf.writeUInt32LE(RECORD_MAGIC, at);
  buf.writeUInt32LE(keyLen, at + 8);
  buf.writeUInt32LE(valLen, at + 12);
  buf.write(key, at + RECORD_HEADER, keyLen, 'utf8');
  if (typeof value === 'string') buf.write(value, at + RECORD_HEADER + keyLen, valLen, 'utf8');
  else buf.set(value, at + RECORD_HEADER + keyLen);
  buf.writeUInt32LE(crc32(buf.subarray(at + 8, at + RECORD_HEADER + keyLen + valLen)), at + 4);
}

/**
 * Records encoded back to back, as ResultCache.putEncoded takes them. The batch writer builds them where it
 * reads the answers (on the output thread when there is one), so the thread that owns the cache only files
 * bytes: no answer crosses threads as a string, and the encoding and checksums are not on its clock.
 */
export class EncodedRecords {
  private buf = Buffer.allocUnsafe(1 << 16);
  private length = 0;
  /** Values over MAX_VALUE_BYTES (and empty or oversized keys), left out. */
  tooLarge = 0;

  /** `value`: the answer's text, or its UTF-8 bytes as they came (copied here). */
  add(key: string, value: string | Uint8Array): void {
    const keyLen = Buffer.byteLength(key, 'utf8');
    const valLen =
      typeof value !== 'string'
        ? value.length
        : value.length > MAX_VALUE_BYTES
          ? MAX_VALUE_BYTES + 1
          : Buffer.byteLength(value, 'utf8');
    if (keyLen === 0 || keyLen > MAX_KEY_BYTES || valLen > MAX_VALUE_BYTES) {
      this.tooLarge++;
      return;
    }
    const need = this.length + RECORD_HEADER + keyLen + valLen;
    if (need > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(bigger, 0, 0, this.length);
      this.buf = bigger;
    }
    writeRecord(this.buf, this.length, key, keyLen, value, valLen);
    this.length = need;
  }

  /** The records as one standalone ArrayBuffer-backed array (transferable to another thread). */
  take(): Uint8Array {
    const out = new Uint8Array(this.length);
    out.set(this.buf.subarray(0, this.length));
    this.length = 0;
    return out;
  }
}

/**
 * The records of an EncodedRecords buffer, each a view into it. Each is checked (magic, lengths, crc), so bytes
 * damaged on their way are refused with an error rather than filed.
 */
export function* recordsOf(bytes: Uint8Array): Generator<{ key: string; record: Buffer }> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at < buf.length;) {
    const length = at + RECORD_HEADER <= buf.length ? headerLength(buf, at) : undefined;
    if (length === undefined || !verifyRecord(buf, at, length))
      throw new Error(`encoded cache records are damaged at byte ${at}`);
    yield { key: recordKey(buf, at), record: buf.subarray(at, at + length) };
    at += length;
  }
}

/** Checks a record that starts at `at` in `buf` and is exactly `length` bytes long. */
export function verifyRecord(buf: Buffer, at: number, length: number): boolean {
  if (length < RECORD_HEADER || at + length > buf.length) return false;
  if (buf.readUInt32LE(at) !== RECORD_MAGIC) return false;
  const keyLen = buf.readUInt32LE(at + 8);
  const valLen = buf.readUInt32LE(at + 12);
  if (keyLen === 0 || keyLen > MAX_KEY_BYTES || valLen > MAX_VALUE_BYTES) return false;
  if (RECORD_HEADER + keyLen + valLen !== length) return false;
  return crc32(buf.subarray(at + 8, at + length)) === buf.readUInt32LE(at + 4);
}

export const recordKey = (buf: Buffer, at: number) =>
  buf.toString('utf8', at + RECORD_HEADER, at + RECORD_HEADER + buf.readUInt32LE(at + 8));

export function recordValue(buf: Buffer, at: number): string {
  const start = at + RECORD_HEADER + buf.readUInt32LE(at + 8);
  return buf.toString('utf8', start, start + buf.readUInt32LE(at + 12));
}

/** Length of the record whose header starts at `at`, or undefined if the header is not one. */
function headerLength(buf: Buffer, at: number): number | undefined {
  if (buf.readUInt32LE(at) !== RECORD_MAGIC) return undefined;
  const keyLen = buf.readUInt32LE(at + 8);
  const valLen = buf.readUInt32LE(at + 12);
  if (keyLen === 0 || keyLen > MAX_KEY_BYTES || valLen > MAX_VALUE_BYTES) return undefined;
  return RECORD_HEADER + keyLen + valLen;
}

export interface ScannedRecord {
  offset: number;
  length: number;
  /** The buffer holding the record, valid only during the callback. */
  buf: Buffer;
  at: number;
}

const SCAN_CHUNK = 1 << 20;

/**
 * Reads the valid records of a segment from `from` to `size` in order, with positional reads in 1 MB
 * chunks (memory stays at one chunk, or one record if a record is larger). Stops at the first record
 * that does not verify and returns where the valid data ends: everything after it is a torn tail.
 */
export function scanSegment(fd: number, from: number, size: number, onRecord: (rec: ScannedRecord) => void): number {
  let chunk = Buffer.allocUnsafe(SCAN_CHUNK);
  let chunkStart = from;
  let chunkLen = 0;
  let pos = from;
  const ensure = (start: number, need: number): boolean => {
    if (start >= chunkStart && start + need <= chunkStart + chunkLen) return true;
    if (start + need > size) return false;
    if (need > chunk.length) chunk = Buffer.allocUnsafe(need);
    chunkStart = start;
    chunkLen = readFully(fd, chunk, Math.min(chunk.length, size - start), start);
    return need <= chunkLen;
  };
  while (pos < size) {
    if (!ensure(pos, RECORD_HEADER)) break;
    const length = headerLength(chunk, pos - chunkStart);
    if (length === undefined || !ensure(pos, length)) break;
    const at = pos - chunkStart;
    if (!verifyRecord(chunk, at, length)) break;
    onRecord({ offset: pos, length, buf: chunk, at });
    pos += length;
  }
  return pos;
}
