import { readdirSync, rmSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DiskTable, keyHash } from '../common/hash-table.js';

/** The index's file name in a run's folder (with a generation suffix: `request-index.0`, `.1`, …). */
export const REQUEST_INDEX_FILE = 'request-index';

/** 2^18 slots: 8 MB of sparse file and 160 KB of summary, room for ~180,000 requests before the first growth. */
const FIRST_BITS = 18;
const MAX_LOAD = 0.7;
/** Every slot of this table is live: nothing is ever evicted from a run's index. */
const ALWAYS = () => true;
/** The one segment id slots are filed under (0 would mean an empty slot); the seq goes in the offset. */
const SEGMENT = 1;

/**
 * Which sealed batch (seq) first carried each request of a run, so an identical request later in the run
 * is not sent again but answered from that batch. It lives in a file (the result cache's on-disk hash
 * table, keyed by 128 bits of the custom_id): memory holds only the table's summary, ~1-2 bytes per
 * request, so a run of 10 million requests does not hold 10 million entries in the heap. Slot writes are
 * held back and written together (DiskTable.flushWrites), so filing a request costs no syscall; a lookup
 * of a request not seen before is answered from the summary alone. The file is scratch: a resumed run
 * rebuilds it from its spooled records, and close() deletes it.
 */
export class RequestIndex {
  private table: DiskTable;
  private gen = 0;
  private count = 0;
  private readonly hash = Buffer.alloc(32);
  /** The key whose hash `hash` holds: add() right after get() of the same request (the usual order) reuses it. */
  private hashed: string | undefined;

  /** `path`: where the table goes (a generation number is appended as it grows); what a killed attempt left there goes. */
  constructor(
    private readonly path: string,
    options: { firstBits?: number } = {},
  ) {
    const prefix = `${basename(path)}.`;
    for (const name of readdirSync(dirname(path))) if (name.startsWith(prefix)) unlinkSync(join(dirname(path), name));
    this.table = DiskTable.create(this.fileName(0), options.firstBits ?? FIRST_BITS);
  }

  get size(): number {
    return this.count;
  }

  get(customId: string): number | undefined {
    let seq: number | undefined;
    this.table.lookup(this.hashOf(customId), ALWAYS, (_segment, offset) => {
      seq = offset;
      return true;
    });
    return seq;
  }

  /** Records the seq that carries a request; the first seq wins. */
  add(customId: string, seq: number): void {
    if (this.count + 1 > MAX_LOAD * this.table.slots) this.grow();
    if (this.table.insert(this.hashOf(customId), SEGMENT, seq, 0, ALWAYS) !== 'present') this.count++;
  }

  private hashOf(customId: string): Buffer {
    if (customId !== this.hashed) {
      keyHash(customId, this.hash);
      this.hashed = customId;
    }
    return this.hash;
  }

  /** Closes and deletes the table's file (nothing is written first: it is scratch). */
  close(): void {
    this.table.discardWrites();
    this.table.close();
    rmSync(this.table.path, { force: true });
  }

  private fileName(gen: number): string {
    return `${this.path}.${gen}`;
  }

  /** Twice the slots, written by one streaming pass (DiskTable.rebuildInto). */
  private grow(): void {
    const old = this.table;
    this.table = old.rebuildInto(this.fileName(++this.gen), old.bits + 1, ALWAYS).table;
    old.close();
    unlinkSync(old.path);
  }
}
