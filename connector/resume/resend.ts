import type { JournalEntry } from '../journal/journal.js';
import { RecordLedger } from './record-ledger.js';
import { streamKey, type AirbyteStateMessage } from '../protocol/messages.js';

/** Positions into one stream's records, in input order, where a STATE went out (as journaled). */
type Positions = Record<string, number>;

/** A growable array of fingerprints: 8 bytes per record (a JS array of bigints would hold ~30 bytes each). */
class Fingerprints {
  private data = new BigUint64Array(256);
  length = 0;

  push(f: bigint): void {
    if (this.length === this.data.length) {
      const bigger = new BigUint64Array(this.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = f;
  }

  at(i: number): bigint | undefined {
    return i < this.length ? this.data[i] : undefined;
  }

  from(k: number): BigUint64Array {
    return this.data.subarray(Math.min(k, this.length), this.length);
  }
}

interface StreamMatch {
  /** Records a completed run of the same sync wrote (see written-records.ts), from the base on. */
  written: RecordLedger;
  /** This run's own spooled records from the base on. */
  ledger: RecordLedger;
  base: number;
  seen: number;
}

/**
 * Recognises the records a platform re-sends into a resumed run, so each input record is one row.
 *
 * A platform re-sends one of two ways: from the last STATE it received (the source restarts at that
 * checkpoint), or everything (a full refresh without state, a new attempt). Which STATE it received is not
 * the last we journaled: a kill between the journal and stdout loses one. So each stream's candidates are
 * every position where a STATE of ours went out (journaled with its per-stream positions), and 0. The
 * first record of a stream that arrives decides: the latest candidate whose spooled record is that very
 * record (the source restarted there), else the latest candidate (what the platform was last told). From
 * there on, the stream's spooled records from that position are a multiset each arriving record is matched
 * against once (order-independent: a source may page in another order), and the rest are new records.
 *
 * Undecidable, and taken the later way: identical records sitting at two candidate positions, where the
 * first re-sent record cannot tell them apart.
 *
 * A stream's list may start with the records completed runs of the same sync already wrote (addWritten,
 * before any addSpooled): a new attempt after a run that completed but never exited is matched against
 * them the same way, and a match is counted as already written (alreadyWritten) rather than owned.
 */
export class ResendMatcher {
  private readonly spooled = new Map<string, Fingerprints>();
  private readonly candidates = new Map<string, number[]>();
  private readonly matches = new Map<string, StreamMatch>();
  /** Records seen per stream in this attempt for streams with nothing spooled (a fresh run: all of them). */
  private readonly fresh = new Map<string, number>();
  /** Per stream, how many of the list's first records completed runs wrote (addWritten). */
  private readonly writtenCount = new Map<string, number>();
  /** Re-sent records matched against what completed runs wrote. */
  alreadyWritten = 0;

  /** Adds a record a completed run of the same sync wrote, in that run's input order; before any addSpooled. */
  addWritten(key: string, fingerprint: bigint): void {
    const list = this.spooled.get(key);
    if (list && list.length !== (this.writtenCount.get(key) ?? 0))
      throw new Error(`written records of ${key} come after its spooled ones`);
    this.addSpooled(key, fingerprint);
    this.writtenCount.set(key, (this.writtenCount.get(key) ?? 0) + 1);
  }

  /** Adds a spooled record, in spool order (which is input order). */
  addSpooled(key: string, fingerprint: bigint): void {
    let list = this.spooled.get(key);
    if (!list) this.spooled.set(key, (list = new Fingerprints()));
    list.push(fingerprint);
  }

  /** The positions the run's echoed STATEs were journaled at. */
  addEchoed(
    entries: JournalEntry[],
    keyOf: (entry: Extract<JournalEntry, { type: 'state_emitted' }>) => Positions,
  ): void {
    for (const e of entries) {
      if (e.type !== 'state_emitted') continue;
      for (const [key, at] of Object.entries(keyOf(e))) {
        const list = this.candidates.get(key) ?? [0];
        list.push(at);
        this.candidates.set(key, list);
      }
    }
  }

  /** Records this run spooled (not those completed runs wrote). */
  get size(): number {
    let n = 0;
    for (const [key, list] of this.spooled) n += list.length - (this.writtenCount.get(key) ?? 0);
    return n;
  }

  /**
   * True if this record is a re-sent copy of one the run already owns (and consumes that copy). The
   * fingerprint is computed only for streams the run has spooled records of (a hash per record costs).
   */
  take(key: string, fingerprintOf: () => bigint): boolean {
    const list = this.spooled.get(key);
    if (!list) {
      this.fresh.set(key, (this.fresh.get(key) ?? 0) + 1);
      return false;
    }
    const fingerprint = fingerprintOf();
    let match = this.matches.get(key);
    if (!match) {
      const candidates = [...new Set(this.candidates.get(key) ?? [0])].sort((a, b) => b - a);
      const base = candidates.find((k) => list.at(k) === fingerprint) ?? candidates[0]!;
      const split = Math.max(base, this.writtenCount.get(key) ?? 0);
      match = {
        written: new RecordLedger(list.from(base).subarray(0, split - base)),
        ledger: new RecordLedger(list.from(split)),
        base,
        seen: 0,
      };
      this.matches.set(key, match);
    }
    match.seen++;
    if (match.written.take(fingerprint)) {
      this.alreadyWritten++;
      return true;
    }
    return match.ledger.take(fingerprint);
  }

  /** Where the stream stands in its records, counted from the run's first: journaled with each STATE. */
  position(key: string): number {
    const match = this.matches.get(key);
    if (match) return match.base + match.seen;
    const list = this.spooled.get(key);
    // A stream with spooled records and none re-sent yet stands where the platform was last told.
    if (list) return Math.max(...(this.candidates.get(key) ?? [0]));
    return this.fresh.get(key) ?? 0;
  }

  /** Where a source STATE stands, journaled with it: a resume's candidate for where the platform restarts. */
  positionsAt(state: AirbyteStateMessage): Positions {
    const descriptor = state.type === 'STREAM' ? state.stream?.stream_descriptor : undefined;
    return descriptor ? { [streamKey(descriptor)]: this.position(streamKey(descriptor)) } : this.positions();
  }

  /** Positions of every stream this run knows (for a global STATE, which covers them all). */
  positions(): Positions {
    const keys = new Set([...this.spooled.keys(), ...this.fresh.keys()]);
    return Object.fromEntries([...keys].map((k) => [k, this.position(k)]));
  }
}
