import { createHash } from 'node:crypto';
import { memberSpan, skipSpace } from '../protocol/record-span.js';

/**
 * 8 bytes of a record's identity: stream, namespace and the text of its data exactly as received (see
 * recordDataText), never the parsed value: two records that differ beyond double precision
 * (9007199254740993 and 9007199254740992) or only in a digit JSON.parse drops must never look alike.
 */
export function recordFingerprint(stream: string, namespace: string | null | undefined, dataText: string): bigint {
  const digest = createHash('sha256')
    .update(JSON.stringify([namespace ?? null, stream]))
    .update('\n')
    .update(dataText)
    .digest();
  return digest.readBigUInt64BE(0);
}

/**
 * The fingerprint of a spooled record: the one recordFingerprint gave it when it arrived, since the spool
 * splices the data's input text in as it came (BatchSpool.addRecord). `parsed` is the line already parsed;
 * its data is used only for a line whose data the scan cannot cut (then it was serialised from that value).
 */
export function spooledFingerprint(
  line: string,
  parsed: { stream: string; namespace: string | null; data: unknown },
): bigint {
  const span = memberSpan(line, skipSpace(line, 0), 'data');
  return recordFingerprint(
    parsed.stream,
    parsed.namespace,
    span ? line.slice(span[0], span[1]) : JSON.stringify(parsed.data),
  );
}

/**
 * The records an interrupted run already owns (sealed in its spool), as a multiset of fingerprints.
 * When the platform re-sends them after a restart, each one is matched once and skipped, so it becomes
 * exactly one row and its request is never paid for twice. Compact: 8 bytes per record in a sorted array
 * plus one bit for "already matched", so millions of records fit in a few tens of MB.
 */
export class RecordLedger {
  private readonly sorted: BigUint64Array;
  private readonly matched: Uint8Array;

  /** `fingerprints` is copied (the caller's array may be larger than what it holds) and sorted. */
  constructor(fingerprints: BigUint64Array) {
    this.sorted = fingerprints.slice().sort();
    this.matched = new Uint8Array(Math.ceil(this.sorted.length / 8));
  }

  get size(): number {
    return this.sorted.length;
  }

  /** True (and consumes one copy) if this record is owned and not yet matched in this attempt. */
  take(fingerprint: bigint): boolean {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sorted[mid]! < fingerprint) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.sorted.length && this.sorted[i] === fingerprint; i++) {
      const bit = 1 << (i & 7);
      if ((this.matched[i >>> 3]! & bit) === 0) {
        this.matched[i >>> 3]! |= bit;
        return true;
      }
    }
    return false;
  }
}
