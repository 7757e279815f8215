import { createHash } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { readFully } from './durable.js';

/**
 * An open-addressing hash table (linear probing) that lives in a file and is read with positional reads:
 * memory never holds the keys, so 10 million entries cost 10 million slots on disk (32 bytes each) and, in
 * the heap, only a summary of 5 bits per slot (SlotSummary: which slots are filled, a Bloom filter of the
 * keys) that spares most absent-key lookups and inserts their read. The OS page cache keeps the hot part
 * of the file in RAM.
 *
 * File: a 64-byte header (magic, version, bits), then 2^bits slots of 32 bytes:
 *
 *   0  16 bytes  the key's 128-bit hash (see keyHash)
 *  16  u32 LE    segment id (0 = empty slot, 0xFFFFFFFF = stale; segments are numbered from 1)
 *  20  u32 LE    offset of the record in that segment
 *  24  u32 LE    record length
 *  28  u32       reserved (0)
 *
 * A slot is a hint, never the truth: the reader checks the record it points at (magic, crc, key), so a slot
 * torn by a crash, lost with the writes held back (see flushWrites), or pointing into an evicted segment can
 * only cause a miss. Slots of evicted segments ("stale") are skipped by lookups, reused by inserts and dropped
 * by the next rebuild. Slots are never emptied in place, so probe chains stay intact.
 */
export const SLOT_BYTES = 32;
export const TABLE_HEADER = 64;
const TABLE_MAGIC = 0x58494343; // 'CCIX'
const TABLE_VERSION = 1;
export const MIN_BITS = 10;
export const MAX_BITS = 30;
/** Slots read per positional read while probing: at load ≤ 0.7 most probes (hit or miss) end within 8 slots. */
const PROBE_SLOTS = 8;
/** Slots per sequential read/write when scanning or rebuilding (4 MB). */
const SCAN_SLOTS = 1 << 17;
/**
 * Slot writes held back (2 MB) before they go to disk together. One positional write per slot cost ~6 µs
 * of syscall on the thread that files answers, most of that time; sorted and merged they cost a few large
 * writes per batch.
 */
const MAX_PENDING_SLOTS = 1 << 16;
/**
 * Pending slots this close (8 KB) go out in one read-patch-write of the span between them: copying 8 KB
 * twice costs less than one more syscall.
 */
const MERGE_GAP_SLOTS = 256;
/** The largest span merged into one write (1 MB). */
const MERGE_SPAN_SLOTS = 1 << 15;

/** A slot made stale on purpose (its record was lost in a crash): no segment ever has this id. */
export const STALE_SEGMENT = 0xffffffff;

/** Tables up to this many slots (a 1 GiB file) keep a SlotSummary in memory: at most 24 MB. */
export const MAX_SUMMARY_SLOTS = 2 ** 25;

/**
 * What a table's slots hold, summarised in memory so that most lookups of absent keys and most inserts
 * cost no read: a bitmap of the non-empty slots (1 bit per slot) and a Bloom filter over the hashes of
 * every key ever filed in them (4 bits per slot, 4 probes; at the 0.7 load limit ~6% false positives, at
 * the 0.35 after a rebuild ~0.5%). It holds no keys and no locations: a "maybe" is answered from disk as
 * before, so a false positive costs one read, never a wrong answer. Built by one sequential scan when the
 * table is opened, kept exact for emptiness by every slot write.
 */
class SlotSummary {
  private readonly filled: Uint32Array;
  private readonly filter: Uint32Array;
  private readonly filterMask: number;

  constructor(private readonly slots: number) {
    this.filled = new Uint32Array(Math.ceil(slots / 32));
    const filterBits = Math.max(1024, slots * 4);
    this.filter = new Uint32Array(filterBits / 32);
    this.filterMask = filterBits - 1;
  }

  /**
   * Marks slot `index` filled with the key whose 16-byte hash starts at `at` in `buf` (a slot's layout). Words
   * 1-3 of the hash feed the filter (word 0 picks the home slot, so it is left out).
   */
  note(index: number, buf: Buffer, at: number): void {
    this.filled[index >>> 5]! |= 1 << (index & 31);
    const h1 = buf.readUInt32LE(at + 4), h2 = buf.readUInt32LE(at + 8), h3 = buf.readUInt32LE(at + 12);
    this.set(h1);
    this.set(h2);
    this.set(h3);
    this.set(h1 ^ (h2 >>> 7) ^ (h3 << 9));
  }

  mayHold(h1: number, h2: number, h3: number): boolean {
    return this.has(h1) && this.has(h2) && this.has(h3) && this.has(h1 ^ (h2 >>> 7) ^ (h3 << 9));
  }

  private set(word: number): void {
    const bit = word & this.filterMask;
    this.filter[bit >>> 5]! |= 1 << (bit & 31);
  }

  private has(word: number): boolean {
    const bit = word & this.filterMask;
    return (this.filter[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  /** The first empty slot at or after `from` (wrapping); the table's load is below 1, so there is one. */
  firstEmpty(from: number): number {
    for (let i = from, n = 0; n < this.slots; n++, i = i + 1 === this.slots ? 0 : i + 1) {
      if ((this.filled[i >>> 5]! & (1 << (i & 31))) === 0) return i;
    }
    throw new Error('cache table is full');
  }
}

export type InsertResult = 'new' | 'reused' | 'present';
export type IsLive = (segment: number) => boolean;

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

const compareHash = (a: Buffer, b: Buffer): number => {
  for (let i = 0; i < 16; i += 4) {
    const d = a.readUInt32BE(i) - b.readUInt32BE(i);
    if (d !== 0) return d;
  }
  return 0;
};

export interface TableOptions {
  /** Keep a SlotSummary in memory (default true; tables beyond MAX_SUMMARY_SLOTS never do). */
  summary?: boolean;
}

export class DiskTable {
  readonly slots: number;
  private readonly mask: number;
  private readonly shift: number;
  private readonly probe = Buffer.alloc(PROBE_SLOTS * SLOT_BYTES);
  private readonly slotBuf = Buffer.alloc(SLOT_BYTES);
  private readonly summary: SlotSummary | undefined;
  /** Slot writes not on disk yet: slot index → where its 32 bytes sit in `pendingBytes`. Reads see them. */
  private readonly pending = new Map<number, number>();
  private pendingBytes = Buffer.alloc(0);
  private mergeBuf: Buffer | undefined;

  private constructor(readonly path: string, readonly fd: number, readonly bits: number, summarise: boolean) {
    this.slots = 2 ** bits;
    this.mask = this.slots - 1;
    this.shift = 32 - bits;
    this.summary = summarise && this.slots <= MAX_SUMMARY_SLOTS ? new SlotSummary(this.slots) : undefined;
  }

  /** Whether lookups and inserts are screened in memory first (see SlotSummary). */
  get summarised(): boolean {
    return this.summary !== undefined;
  }

  /** A new, empty table file (sparse: the zeros cost no disk until written). */
  static create(path: string, bits: number, options: TableOptions = {}): DiskTable {
    if (bits < MIN_BITS || bits > MAX_BITS) throw new RangeError(`table bits ${bits} outside ${MIN_BITS}..${MAX_BITS}`);
    const fd = openSync(path, 'w+', 0o600);
    const header = Buffer.alloc(TABLE_HEADER);
    header.writeUInt32LE(TABLE_MAGIC, 0);
    header.writeUInt32LE(TABLE_VERSION, 4);
    header.writeUInt32LE(bits, 8);
    writeSync(fd, header, 0, TABLE_HEADER, 0);
    ftruncateSync(fd, TABLE_HEADER + 2 ** bits * SLOT_BYTES);
    return new DiskTable(path, fd, bits, options.summary ?? true);
  }

  /** Opens an existing table, or undefined if the file is missing, of the wrong size or not a table. */
  static open(path: string, bits: number, options: TableOptions = {}): DiskTable | undefined {
    let fd: number;
    try {
      fd = openSync(path, 'r+');
    } catch {
      return undefined;
    }
    const header = Buffer.alloc(TABLE_HEADER);
    const ok =
      bits >= MIN_BITS &&
      bits <= MAX_BITS &&
      fstatSync(fd).size === TABLE_HEADER + 2 ** bits * SLOT_BYTES &&
      readFully(fd, header, TABLE_HEADER, 0) === TABLE_HEADER &&
      header.readUInt32LE(0) === TABLE_MAGIC &&
      header.readUInt32LE(4) === TABLE_VERSION &&
      header.readUInt32LE(8) === bits;
    if (!ok) {
      closeSync(fd);
      return undefined;
    }
    const table = new DiskTable(path, fd, bits, options.summary ?? true);
    const summary = table.summary;
    if (summary) {
      table.forEach((buf, at, index) => {
        if (buf.readUInt32LE(at + 16) !== 0) summary.note(index, buf, at);
      });
    }
    return table;
  }

  home(hash: Buffer): number {
    return hash.readUInt32BE(0) >>> this.shift;
  }

  /**
   * Probes for `hash` and calls `match(segment, offset, length)` for every live slot carrying it, until one
   * returns true (the caller checks the record). Returns whether one did.
   */
  lookup(hash: Buffer, isLive: IsLive, match: (segment: number, offset: number, length: number) => boolean): boolean {
    const h0 = hash.readUInt32LE(0), h1 = hash.readUInt32LE(4), h2 = hash.readUInt32LE(8), h3 = hash.readUInt32LE(12);
    if (this.summary && !this.summary.mayHold(h1, h2, h3)) return false;
    const buf = this.probe;
    let i = this.home(hash);
    for (let scanned = 0; scanned < this.slots; ) {
      const n = Math.min(PROBE_SLOTS, this.slots - i);
      this.readSlots(buf, i, n);
      for (let k = 0, at = 0; k < n; k++, at += SLOT_BYTES) {
        const segment = buf.readUInt32LE(at + 16);
        if (segment === 0) return false;
        if (
          buf.readUInt32LE(at) === h0 && buf.readUInt32LE(at + 4) === h1 && buf.readUInt32LE(at + 8) === h2 &&
          buf.readUInt32LE(at + 12) === h3 && isLive(segment) &&
          match(segment, buf.readUInt32LE(at + 20), buf.readUInt32LE(at + 24))
        ) return true;
      }
      scanned += n;
      i = (i + n) & this.mask;
    }
    return false;
  }

  /**
   * Files `hash` → (segment, offset, length) unless a live slot already carries the hash ('present': with
   * 128-bit hashes that means the same key; a collision would only leave the second key uncached).
   * Reuses the first stale slot on the probe path ('reused'), else takes the empty slot ending it ('new').
   * The caller keeps the load factor below 1 (a full table would throw).
   */
  insert(hash: Buffer, segment: number, offset: number, length: number, isLive: IsLive): InsertResult {
    const h0 = hash.readUInt32LE(0), h1 = hash.readUInt32LE(4), h2 = hash.readUInt32LE(8), h3 = hash.readUInt32LE(12);
    if (this.summary && !this.summary.mayHold(h1, h2, h3)) {
      // Certainly not filed: take the first empty slot on its probe path without reading (a stale slot
      // before it is left for a later rebuild to drop, which only lengthens this key's probe a little).
      this.writeSlot(this.summary.firstEmpty(this.home(hash)), hash, segment, offset, length);
      return 'new';
    }
    const buf = this.probe;
    let stale = -1;
    let i = this.home(hash);
    for (let scanned = 0; scanned < this.slots; ) {
      const n = Math.min(PROBE_SLOTS, this.slots - i);
      this.readSlots(buf, i, n);
      for (let k = 0, at = 0; k < n; k++, at += SLOT_BYTES) {
        const seg = buf.readUInt32LE(at + 16);
        if (seg === 0) {
          this.writeSlot(stale >= 0 ? stale : (i + k) & this.mask, hash, segment, offset, length);
          return stale >= 0 ? 'reused' : 'new';
        }
        if (!isLive(seg)) {
          if (stale < 0) stale = (i + k) & this.mask;
        } else if (
          buf.readUInt32LE(at) === h0 && buf.readUInt32LE(at + 4) === h1 &&
          buf.readUInt32LE(at + 8) === h2 && buf.readUInt32LE(at + 12) === h3
        ) {
          return 'present';
        }
      }
      scanned += n;
      i = (i + n) & this.mask;
    }
    if (stale >= 0) {
      this.writeSlot(stale, hash, segment, offset, length);
      return 'reused';
    }
    throw new Error(`cache table ${this.path} is full`);
  }

  /** Slots [start, start + n) as they stand, writes held back included. */
  private readSlots(buf: Buffer, start: number, n: number): void {
    readFully(this.fd, buf, n * SLOT_BYTES, TABLE_HEADER + start * SLOT_BYTES);
    if (this.pending.size === 0) return;
    for (let k = 0; k < n; k++) {
      const at = this.pending.get(start + k);
      if (at !== undefined) this.pendingBytes.copy(buf, k * SLOT_BYTES, at, at + SLOT_BYTES);
    }
  }

  /** Files a slot: held back in memory (reads see it at once), on disk by the next flushWrites. */
  private writeSlot(index: number, hash: Buffer, segment: number, offset: number, length: number): void {
    let at = this.pending.get(index);
    if (at === undefined) {
      if (this.pending.size >= MAX_PENDING_SLOTS) this.flushWrites();
      at = this.pending.size * SLOT_BYTES;
      if (this.pendingBytes.length < at + SLOT_BYTES) {
        const bigger = Buffer.alloc(Math.min(MAX_PENDING_SLOTS * SLOT_BYTES, Math.max(4096, this.pendingBytes.length * 2)));
        this.pendingBytes.copy(bigger);
        this.pendingBytes = bigger;
      }
      this.pending.set(index, at);
    }
    const s = this.pendingBytes;
    hash.copy(s, at, 0, 16);
    s.writeUInt32LE(segment, at + 16);
    s.writeUInt32LE(offset, at + 20);
    s.writeUInt32LE(length, at + 24);
    s.writeUInt32LE(0, at + 28);
    this.summary?.note(index, hash, 0);
  }

  /**
   * Writes the held-back slots in slot order: a lone slot with one positional write, slots within
   * MERGE_GAP_SLOTS of each other with one read of the span between them, patched, and one write back (the
   * slots in between are written back unchanged). Until this runs, a crash loses those slots: their records
   * are in the segments after the last checkpoint, which open() re-files (sync() flushes before a checkpoint).
   */
  flushWrites(): void {
    if (this.pending.size === 0) return;
    const order = Uint32Array.from(this.pending.keys()).sort();
    const bytes = this.pendingBytes;
    for (let i = 0; i < order.length; ) {
      const first = order[i]!;
      let j = i;
      while (j + 1 < order.length && order[j + 1]! - order[j]! <= MERGE_GAP_SLOTS && order[j + 1]! - first < MERGE_SPAN_SLOTS) j++;
      if (i === j) {
        const at = this.pending.get(first)!;
        writeFully(this.fd, bytes.subarray(at, at + SLOT_BYTES), SLOT_BYTES, TABLE_HEADER + first * SLOT_BYTES);
      } else {
        const span = (order[j]! - first + 1) * SLOT_BYTES;
        const buf = (this.mergeBuf ??= Buffer.alloc(MERGE_SPAN_SLOTS * SLOT_BYTES));
        readFully(this.fd, buf, span, TABLE_HEADER + first * SLOT_BYTES);
        for (let k = i; k <= j; k++) {
          const at = this.pending.get(order[k]!)!;
          bytes.copy(buf, (order[k]! - first) * SLOT_BYTES, at, at + SLOT_BYTES);
        }
        writeFully(this.fd, buf, span, TABLE_HEADER + first * SLOT_BYTES);
      }
      i = j + 1;
    }
    this.pending.clear();
  }

  /** Forgets the writes held back (a table about to be repaired from its segments). */
  discardWrites(): void {
    this.pending.clear();
  }

  /** Turns a slot stale in place (it still continues probe chains). */
  markStale(index: number): void {
    const held = this.pending.get(index);
    if (held !== undefined) {
      this.pendingBytes.writeUInt32LE(STALE_SEGMENT, held + 16);
      return;
    }
    const s = this.slotBuf;
    s.writeUInt32LE(STALE_SEGMENT, 0);
    writeFully(this.fd, s, 4, TABLE_HEADER + index * SLOT_BYTES + 16);
  }

  /** Visits every slot in order with sequential 4 MB reads; `buf.subarray(at, at + 32)` is the slot. */
  forEach(visit: (buf: Buffer, at: number, index: number) => void): void {
    this.flushWrites();
    const buf = Buffer.allocUnsafe(SCAN_SLOTS * SLOT_BYTES);
    for (let start = 0; start < this.slots; start += SCAN_SLOTS) {
      const n = Math.min(SCAN_SLOTS, this.slots - start);
      const got = readFully(this.fd, buf, n * SLOT_BYTES, TABLE_HEADER + start * SLOT_BYTES);
      if (got < n * SLOT_BYTES) buf.fill(0, got, n * SLOT_BYTES);
      for (let k = 0; k < n; k++) visit(buf, k * SLOT_BYTES, start + k);
    }
  }

  /**
   * Writes the live slots into a new table of 2^bits slots, streaming: one sequential pass over this table and
   * one sequential write of the new one, holding only one linear-probing cluster in memory at a time.
   *
   * Why that works: the home slot is the top bits of the hash, so it is monotone in the hash for any table
   * size. Within a cluster (a run of non-empty slots) entries are in insertion order, but clusters appear in
   * hash order. Sorting each cluster by hash therefore yields every entry in hash order, and inserting entries
   * in hash order with linear probing places each at max(home, previous position + 1): a sequential write.
   * The first cluster can hold entries that wrapped around from the table's end; they are placed last, and
   * the few that run off the new table's end are inserted normally (wrapping to its start).
   */
  rebuildInto(path: string, bits: number, isLive: IsLive): { table: DiskTable; used: number } {
    const out = DiskTable.create(path, bits, { summary: this.summary !== undefined });
    const win = Buffer.alloc(SCAN_SLOTS * SLOT_BYTES);
    let winStart = 0;
    let winDirty = false;
    let nextFree = 0;
    let used = 0;
    const overflow: Buffer[] = [];
    const flush = () => {
      if (!winDirty) return;
      const n = Math.min(SCAN_SLOTS, out.slots - winStart);
      writeFully(out.fd, win, n * SLOT_BYTES, TABLE_HEADER + winStart * SLOT_BYTES);
      win.fill(0);
      winDirty = false;
    };
    const place = (slot: Buffer) => {
      const pos = Math.max(out.home(slot), nextFree);
      if (pos >= out.slots) {
        overflow.push(slot);
        return;
      }
      if (pos >= winStart + SCAN_SLOTS) {
        flush();
        winStart = pos - (pos % SCAN_SLOTS);
      }
      slot.copy(win, (pos - winStart) * SLOT_BYTES);
      out.summary?.note(pos, slot, 0);
      winDirty = true;
      nextFree = pos + 1;
      used++;
    };
    const emit = (list: Buffer[]) => {
      list.sort(compareHash);
      for (const slot of list) place(slot);
    };

    let cluster: Buffer[] = [];
    const wrapped: Buffer[] = [];
    let seenEmpty = false;
    this.forEach((buf, at, index) => {
      const segment = buf.readUInt32LE(at + 16);
      if (segment === 0) {
        if (cluster.length > 0) emit(cluster);
        cluster = [];
        seenEmpty = true;
        return;
      }
      if (!isLive(segment)) return;
      const slot = Buffer.from(buf.subarray(at, at + SLOT_BYTES));
      if (!seenEmpty && this.home(slot) > index) wrapped.push(slot);
      else cluster.push(slot);
    });
    emit(cluster.concat(wrapped));
    flush();
    for (const slot of overflow) {
      out.insert(slot, slot.readUInt32LE(16), slot.readUInt32LE(20), slot.readUInt32LE(24), () => true);
      used++;
    }
    out.flushWrites();
    return { table: out, used };
  }

  /** Writes what is held back, then makes the file durable. */
  sync(): void {
    this.flushWrites();
    fsyncSync(this.fd);
  }

  /** Writes what is held back and closes the file (closed even if that write fails). */
  close(): void {
    try {
      this.flushWrites();
    } finally {
      closeSync(this.fd);
    }
  }
}

export function writeFully(fd: number, buf: Buffer, length: number, position: number): void {
  let done = 0;
  while (done < length) done += writeSync(fd, buf, done, length - done, position + done);
}
