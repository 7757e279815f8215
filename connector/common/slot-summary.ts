/**
 * What a table's slots hold, summarised in memory so that most lookups of absent keys and most inserts
 * cost no read: a bitmap of the non-empty slots (1 bit per slot) and a Bloom filter over the hashes of
 * every key ever filed in them (4 bits per slot, 4 probes; at the 0.7 load limit ~6% false positives, at
 * the 0.35 after a rebuild ~0.5%). It holds no keys and no locations: a "maybe" is answered from disk as
 * before, so a false positive costs one read, never a wrong answer. Built by one sequential scan when the
 * table is opened, kept exact for emptiness by every slot write.
 */
export class SlotSummary {
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
    const h1 = buf.readUInt32LE(at + 4),
      h2 = buf.readUInt32LE(at + 8),
      h3 = buf.readUInt32LE(at + 12);
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
