/**
 * Which sealed batch (seq) first carried each request of a run, so an identical request later in the
 * run is not sent again but answered from that batch. Keys are 64 bits of the custom_id (itself a
 * SHA-256): an open-addressing table over typed arrays, ~24 bytes per distinct request, no per-entry
 * objects. A 64-bit collision among 10 million requests has odds of about 3 in a million.
 */
export class RequestIndex {
  private keys = new BigUint64Array(1 << 16);
  private seqs = new Int32Array(1 << 16);
  private count = 0;

  static keyOf(customId: string): bigint {
    const key = Buffer.from(customId.slice(1, 12), 'base64url').readBigUInt64BE(0);
    return key === 0n ? 1n : key; // 0 marks an empty slot
  }

  get size(): number {
    return this.count;
  }

  get(customId: string): number | undefined {
    const key = RequestIndex.keyOf(customId);
    const mask = this.keys.length - 1;
    for (let i = Number(key & BigInt(mask)); ; i = (i + 1) & mask) {
      const k = this.keys[i]!;
      if (k === 0n) return undefined;
      if (k === key) return this.seqs[i];
    }
  }

  /** Records the seq that carries a request; the first seq wins. */
  add(customId: string, seq: number): void {
    if ((this.count + 1) * 2 > this.keys.length) this.grow();
    this.insert(RequestIndex.keyOf(customId), seq);
  }

  private insert(key: bigint, seq: number): void {
    const mask = this.keys.length - 1;
    for (let i = Number(key & BigInt(mask)); ; i = (i + 1) & mask) {
      const k = this.keys[i]!;
      if (k === key) return;
      if (k === 0n) {
        this.keys[i] = key;
        this.seqs[i] = seq;
        this.count++;
        return;
      }
    }
  }

  private grow(): void {
    const [keys, seqs] = [this.keys, this.seqs];
    this.keys = new BigUint64Array(keys.length * 2);
    this.seqs = new Int32Array(keys.length * 2);
    this.count = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== 0n) this.insert(keys[i]!, seqs[i]!);
  }
}
