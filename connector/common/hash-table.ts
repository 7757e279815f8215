import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { readFully, writeFully } from './durable.js';
import { HeldSlots } from './held-slots.js';
import { SlotSummary } from './slot-summary.js';
import { SCAN_SLOTS, SLOT_BYTES, slotPosition, STALE_SEGMENT, TABLE_HEADER } from './table-layout.js';
import { copyLiveSlots } from './table-rebuild.js';

export { keyHash } from './key-hash.js';

/**
 * An open-addressing hash table (linear probing) that lives in a file and is read with positional reads:
 * memory never holds the keys, so 10 million entries cost 10 million slots on disk (32 bytes each) and, in
 * the heap, only a summary of 5 bits per slot (SlotSummary: which slots are filled, a Bloom filter of the
 * keys) that spares most absent-key lookups and inserts their read. The OS page cache keeps the hot part
 * of the file in RAM.
 *
 * File: a 64-byte header, then 2^bits slots of 32 bytes (table-layout.ts): the key's 128-bit hash
 * (key-hash.ts) and where its record is (segment id, offset, length).
 *
 * A slot is a hint, never the truth: the reader checks the record it points at (magic, crc, key), so a slot
 * torn by a crash, lost with the writes held back (held-slots.ts), or pointing into an evicted segment can
 * only cause a miss. Slots of evicted segments ("stale") are skipped by lookups, reused by inserts and dropped
 * by the next rebuild. Slots are never emptied in place, so probe chains stay intact.
 */
const TABLE_MAGIC = 0x58494343; // 'CCIX'
const TABLE_VERSION = 1;
export const MIN_BITS = 10;
export const MAX_BITS = 30;
/** Slots read per positional read while probing: at load ≤ 0.7 most probes (hit or miss) end within 8 slots. */
const PROBE_SLOTS = 8;

/** Tables up to this many slots (a 1 GiB file) keep a SlotSummary in memory: at most 24 MB. */
export const MAX_SUMMARY_SLOTS = 2 ** 25;

export type InsertResult = 'new' | 'reused' | 'present';
export type IsLive = (segment: number) => boolean;

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
  /** Filled slots and a Bloom filter of their keys, in memory (see SlotSummary); none for the largest tables. */
  readonly summary: SlotSummary | undefined;
  /** Slot writes not on disk yet; reads see them. */
  private readonly held: HeldSlots;

  private constructor(
    readonly path: string,
    readonly fd: number,
    readonly bits: number,
    summarise: boolean,
  ) {
    this.slots = 2 ** bits;
    this.mask = this.slots - 1;
    this.shift = 32 - bits;
    this.summary = summarise && this.slots <= MAX_SUMMARY_SLOTS ? new SlotSummary(this.slots) : undefined;
    this.held = new HeldSlots(fd);
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
    const h0 = hash.readUInt32LE(0),
      h1 = hash.readUInt32LE(4),
      h2 = hash.readUInt32LE(8),
      h3 = hash.readUInt32LE(12);
    if (this.summary && !this.summary.mayHold(h1, h2, h3)) return false;
    const buf = this.probe;
    let i = this.home(hash);
    for (let scanned = 0; scanned < this.slots;) {
      const n = Math.min(PROBE_SLOTS, this.slots - i);
      this.readSlots(buf, i, n);
      for (let k = 0, at = 0; k < n; k++, at += SLOT_BYTES) {
        const segment = buf.readUInt32LE(at + 16);
        if (segment === 0) return false;
        if (
          buf.readUInt32LE(at) === h0 &&
          buf.readUInt32LE(at + 4) === h1 &&
          buf.readUInt32LE(at + 8) === h2 &&
          buf.readUInt32LE(at + 12) === h3 &&
          isLive(segment) &&
          match(segment, buf.readUInt32LE(at + 20), buf.readUInt32LE(at + 24))
        )
          return true;
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
    const h0 = hash.readUInt32LE(0),
      h1 = hash.readUInt32LE(4),
      h2 = hash.readUInt32LE(8),
      h3 = hash.readUInt32LE(12);
    if (this.summary && !this.summary.mayHold(h1, h2, h3)) {
      // Certainly not filed: take the first empty slot on its probe path without reading (a stale slot
      // before it is left for a later rebuild to drop, which only lengthens this key's probe a little).
      this.writeSlot(this.summary.firstEmpty(this.home(hash)), hash, segment, offset, length);
      return 'new';
    }
    const buf = this.probe;
    let stale = -1;
    let i = this.home(hash);
    for (let scanned = 0; scanned < this.slots;) {
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
          buf.readUInt32LE(at) === h0 &&
          buf.readUInt32LE(at + 4) === h1 &&
          buf.readUInt32LE(at + 8) === h2 &&
          buf.readUInt32LE(at + 12) === h3
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
    readFully(this.fd, buf, n * SLOT_BYTES, slotPosition(start));
    this.held.overlay(buf, start, n);
  }

  /** Files a slot: held back in memory (reads see it at once), on disk by the next flushWrites. */
  private writeSlot(index: number, hash: Buffer, segment: number, offset: number, length: number): void {
    this.held.put(index, hash, segment, offset, length);
    this.summary?.note(index, hash, 0);
  }

  /**
   * Writes the held-back slots (sorted and merged, see HeldSlots.flush). Until then a crash loses them: their
   * records are in the segments after the last checkpoint, which open() re-files.
   */
  flushWrites(): void {
    this.held.flush();
  }

  /** Forgets the writes held back (a table about to be repaired from its segments). */
  discardWrites(): void {
    this.held.clear();
  }

  /** Turns a slot stale in place (it still continues probe chains). */
  markStale(index: number): void {
    if (this.held.markStale(index)) return;
    const s = this.slotBuf;
    s.writeUInt32LE(STALE_SEGMENT, 0);
    writeFully(this.fd, s, 4, slotPosition(index) + 16);
  }

  /** Visits every slot in order with sequential 4 MB reads; `buf.subarray(at, at + 32)` is the slot. */
  forEach(visit: (buf: Buffer, at: number, index: number) => void): void {
    this.flushWrites();
    const buf = Buffer.allocUnsafe(SCAN_SLOTS * SLOT_BYTES);
    for (let start = 0; start < this.slots; start += SCAN_SLOTS) {
      const n = Math.min(SCAN_SLOTS, this.slots - start);
      const got = readFully(this.fd, buf, n * SLOT_BYTES, slotPosition(start));
      if (got < n * SLOT_BYTES) buf.fill(0, got, n * SLOT_BYTES);
      for (let k = 0; k < n; k++) visit(buf, k * SLOT_BYTES, start + k);
    }
  }

  /**
   * Writes the live slots into a new table of 2^bits slots, streaming (see copyLiveSlots), and returns it with
   * the number of slots it uses.
   */
  rebuildInto(path: string, bits: number, isLive: IsLive): { table: DiskTable; used: number } {
    const out = DiskTable.create(path, bits, { summary: this.summary !== undefined });
    return { table: out, used: copyLiveSlots(this, out, isLive) };
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
