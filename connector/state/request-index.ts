import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DiskTable, keyHash } from '../cache/hash-table.js';

const ALWAYS_LIVE = () => true;
/** Grow (double) before the table passes this load, as the result cache does. */
const MAX_LOAD = 0.7;
/** 65,536 slots (a 2 MB sparse file) to start: small runs never rebuild. */
const FIRST_BITS = 16;

/**
 * Which sealed batch (seq) first carried each request of a run, so an identical request later in the run
 * is not sent again but answered from that batch. It lives on disk, in the result cache's kind of table
 * (cache/hash-table.ts: 128 bits of the custom_id, itself a SHA-256, → seq), so a sync of 10 million
 * requests does not hold 10 million entries in memory: only the table's summary, 5 bits per slot (~1.3-2.6
 * MB per million requests), which answers most lookups (a request seen for the first time) without a read.
 * Filing a request is one positional write. The file is scratch: a resumed run rebuilds it from its spool.
 */
export class RequestIndex {
  private table: DiskTable;
  private used = 0;
  private gen = 0;
  private readonly hash = Buffer.alloc(32);

  constructor(private readonly dir: string) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.table = DiskTable.create(this.path(0), FIRST_BITS);
  }

  get size(): number {
    return this.used;
  }

  get(customId: string): number | undefined {
    let seq: number | undefined;
    this.table.lookup(keyHash(customId, this.hash), ALWAYS_LIVE, (segment) => {
      seq = segment - 1;
      return true;
    });
    return seq;
  }

  /** Records the seq that carries a request; the first seq wins. */
  add(customId: string, seq: number): void {
    if (this.used + 1 > MAX_LOAD * this.table.slots) this.grow();
    // Slot "segment" ids start at 1 (0 marks an empty slot): seq + 1.
    if (this.table.insert(keyHash(customId, this.hash), seq + 1, 0, 0, ALWAYS_LIVE) === 'new') this.used++;
  }

  /** Deletes the index's files. */
  close(): void {
    this.table.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private grow(): void {
    const old = this.table;
    const { table, used } = old.rebuildInto(this.path(++this.gen), old.bits + 1, ALWAYS_LIVE);
    old.close();
    rmSync(old.path, { force: true });
    this.table = table;
    this.used = used;
  }

  private path(gen: number): string {
    return join(this.dir, `index-${gen}.tbl`);
  }
}
