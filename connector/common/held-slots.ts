import { readFully, writeFully } from './durable.js';
import { SLOT_BYTES, slotPosition, STALE_SEGMENT } from './table-layout.js';

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

/**
 * A DiskTable's slot writes held back in memory until they go to disk together, sorted and merged. Reads
 * see them at once (overlay). Until flush() runs, a crash loses them: a slot is a hint, and the records
 * they point at are re-filed from the segments after the last checkpoint on open.
 */
export class HeldSlots {
  /** Slot index → where its 32 bytes sit in `bytes`. */
  private readonly held = new Map<number, number>();
  private bytes = Buffer.alloc(0);
  private mergeBuf: Buffer | undefined;

  constructor(private readonly fd: number) {}

  get size(): number {
    return this.held.size;
  }

  /** Patches the held slots among [start, start + n) into `buf`, which holds those slots as read from disk. */
  overlay(buf: Buffer, start: number, n: number): void {
    if (this.held.size === 0) return;
    for (let k = 0; k < n; k++) {
      const at = this.held.get(start + k);
      if (at !== undefined) this.bytes.copy(buf, k * SLOT_BYTES, at, at + SLOT_BYTES);
    }
  }

  /** Holds a slot's new content (flushing first when MAX_PENDING_SLOTS are held). */
  put(index: number, hash: Buffer, segment: number, offset: number, length: number): void {
    let at = this.held.get(index);
    if (at === undefined) {
      if (this.held.size >= MAX_PENDING_SLOTS) this.flush();
      at = this.held.size * SLOT_BYTES;
      if (this.bytes.length < at + SLOT_BYTES) {
        const bigger = Buffer.alloc(Math.min(MAX_PENDING_SLOTS * SLOT_BYTES, Math.max(4096, this.bytes.length * 2)));
        this.bytes.copy(bigger);
        this.bytes = bigger;
      }
      this.held.set(index, at);
    }
    const s = this.bytes;
    hash.copy(s, at, 0, 16);
    s.writeUInt32LE(segment, at + 16);
    s.writeUInt32LE(offset, at + 20);
    s.writeUInt32LE(length, at + 24);
    s.writeUInt32LE(0, at + 28);
  }

  /** Turns a held slot stale; false if that slot is not held (the caller writes the disk's copy). */
  markStale(index: number): boolean {
    const at = this.held.get(index);
    if (at === undefined) return false;
    this.bytes.writeUInt32LE(STALE_SEGMENT, at + 16);
    return true;
  }

  /**
   * Writes the held-back slots in slot order: a lone slot with one positional write, slots within
   * MERGE_GAP_SLOTS of each other with one read of the span between them, patched, and one write back (the
   * slots in between are written back unchanged). Until this runs, a crash loses those slots: their records
   * are in the segments after the last checkpoint, which open() re-files (a table flushes before it syncs).
   */
  flush(): void {
    if (this.held.size === 0) return;
    const order = Uint32Array.from(this.held.keys()).sort();
    const bytes = this.bytes;
    for (let i = 0; i < order.length;) {
      const first = order[i]!;
      let j = i;
      while (
        j + 1 < order.length &&
        order[j + 1]! - order[j]! <= MERGE_GAP_SLOTS &&
        order[j + 1]! - first < MERGE_SPAN_SLOTS
      )
        j++;
      if (i === j) {
        const at = this.held.get(first)!;
        writeFully(this.fd, bytes.subarray(at, at + SLOT_BYTES), SLOT_BYTES, slotPosition(first));
      } else {
        const span = (order[j]! - first + 1) * SLOT_BYTES;
        const buf = (this.mergeBuf ??= Buffer.alloc(MERGE_SPAN_SLOTS * SLOT_BYTES));
        readFully(this.fd, buf, span, slotPosition(first));
        for (let k = i; k <= j; k++) {
          const at = this.held.get(order[k]!)!;
          bytes.copy(buf, (order[k]! - first) * SLOT_BYTES, at, at + SLOT_BYTES);
        }
        writeFully(this.fd, buf, span, slotPosition(first));
      }
      i = j + 1;
    }
    this.held.clear();
  }

  /** Forgets the held slots (a table about to be repaired from its segments). */
  clear(): void {
    this.held.clear();
  }
}
