import { writeFully } from './durable.js';
import { compareHash } from './key-hash.js';
import { SCAN_SLOTS, SLOT_BYTES, slotPosition } from './table-layout.js';

/** What the copy reads of the table being rebuilt. */
export interface SourceTable {
  home(hash: Buffer): number;
  forEach(visit: (buf: Buffer, at: number, index: number) => void): void;
}

/** What the copy writes to: a new, empty table (its file is written directly, its summary kept in step). */
export interface TargetTable {
  readonly fd: number;
  readonly slots: number;
  readonly summary: { note(index: number, buf: Buffer, at: number): void } | undefined;
  home(hash: Buffer): number;
  insert(hash: Buffer, segment: number, offset: number, length: number, isLive: (segment: number) => boolean): unknown;
  flushWrites(): void;
}

/**
 * Copies the live slots of `source` into `out` (an empty table, of any size) and returns how many it copied,
 * streaming: one sequential pass over the source and one sequential write of `out`, holding only one
 * linear-probing cluster in memory at a time.
 *
 * Why that works: the home slot is the top bits of the hash, so it is monotone in the hash for any table
 * size. Within a cluster (a run of non-empty slots) entries are in insertion order, but clusters appear in
 * hash order. Sorting each cluster by hash therefore yields every entry in hash order, and inserting entries
 * in hash order with linear probing places each at max(home, previous position + 1): a sequential write.
 * The first cluster can hold entries that wrapped around from the table's end; they are placed last, and
 * the few that run off the new table's end are inserted normally (wrapping to its start).
 */
export function copyLiveSlots(source: SourceTable, out: TargetTable, isLive: (segment: number) => boolean): number {
  const win = Buffer.alloc(SCAN_SLOTS * SLOT_BYTES);
  let winStart = 0;
  let winDirty = false;
  let nextFree = 0;
  let used = 0;
  const overflow: Buffer[] = [];
  const flush = () => {
    if (!winDirty) return;
    const n = Math.min(SCAN_SLOTS, out.slots - winStart);
    writeFully(out.fd, win, n * SLOT_BYTES, slotPosition(winStart));
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
  source.forEach((buf, at, index) => {
    const segment = buf.readUInt32LE(at + 16);
    if (segment === 0) {
      if (cluster.length > 0) emit(cluster);
      cluster = [];
      seenEmpty = true;
      return;
    }
    if (!isLive(segment)) return;
    const slot = Buffer.from(buf.subarray(at, at + SLOT_BYTES));
    if (!seenEmpty && source.home(slot) > index) wrapped.push(slot);
    else cluster.push(slot);
  });
  emit(cluster.concat(wrapped));
  flush();
  for (const slot of overflow) {
    out.insert(slot, slot.readUInt32LE(16), slot.readUInt32LE(20), slot.readUInt32LE(24), () => true);
    used++;
  }
  out.flushWrites();
  return used;
}
