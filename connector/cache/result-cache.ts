import { mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { configError, systemError } from '../common/errors.js';
import { listCacheFiles, listTableFiles, readMeta, tableName, writeMeta, type CacheMeta } from './files.js';
import { DiskTable, keyHash, MAX_BITS, MIN_BITS } from '../common/hash-table.js';
import { EncodedRecords, MAX_VALUE_BYTES, recordKey, recordsOf, recordValue, RECORD_HEADER, scanSegment, verifyRecord } from './record-format.js';
import { fsyncPathSync, readFully } from '../common/durable.js';
import { Appender, SegmentStore, type CacheEntry, type Segment } from './segments.js';

export type { CacheEntry } from './segments.js';

/**
 * Cross-run result cache: a request (custom_id) that succeeded in an earlier run is answered from disk
 * instead of being sent again. It lives in `<destination>/_claude_batch/cache/` (one folder per API endpoint:
 * see resultCacheDir) and holds, per custom_id, the raw JSON of its `succeeded` results line.
 *
 * Layout: append-only segment files hold the values (the truth, each record crc-checked); an on-disk
 * open-addressing table (hash-table.ts) maps a key's hash to (segment, offset, length) and is read with
 * positional reads, so memory stays constant whatever the number of entries; meta.json holds the checkpoint.
 *
 * - Durable: putMany() appends and fsyncs the segments it wrote (one fsync per call, two when it rolls to a
 *   new segment); table slots are written without fsync and made durable at checkpoints (every
 *   `checkpointBytes` of new values, and at close).
 * - Crash-safe: open() truncates a torn tail, turns slots pointing past it stale and re-indexes the records
 *   after the checkpoint; a missing or damaged table or meta.json is rebuilt from the segments. A bad slot
 *   can only cause a miss, never a wrong answer: every hit is checked (magic, crc, key).
 * - Bounded: past maxEntries or maxBytes, whole segments are evicted oldest first (a segment holds at most
 *   1/8 of either budget); their slots go stale and disappear at the next table rebuild, which happens when
 *   the load factor would pass 0.7 (streaming, see DiskTable.rebuildInto), sized for the live entries.
 *
 * One writer at a time: the destination's write.lock already guarantees it.
 */
export interface ResultCacheOptions {
  /** Evict oldest segments beyond this many entries. Default 10,000,000. */
  maxEntries?: number;
  /** Evict oldest segments beyond this many bytes of values (the table adds ~64 B per entry). Default 4 GiB. */
  maxBytes?: number;
  /** Target size of one segment file; default min(64 MiB, maxBytes / 8). */
  segmentBytes?: number;
  /** Make table slots durable after this many bytes of new values. Default 32 MiB. */
  checkpointBytes?: number;
}

export interface ResultCacheStats {
  entries: number;
  bytes: number;
  segments: number;
  tableSlots: number;
  usedSlots: number;
  loadFactor: number;
  maxEntries: number;
  maxBytes: number;
  /** Counters since open (or clear). */
  hits: number;
  misses: number;
  added: number;
  duplicates: number;
  tooLarge: number;
  evictedEntries: number;
  evictedSegments: number;
  rebuilds: number;
  /** What open() found: a new cache, a clean one, one recovered after a crash, or one rebuilt from segments. */
  recovery: { mode: 'new' | 'clean' | 'recovered' | 'rebuilt'; reindexed: number; truncatedBytes: number; reason?: string };
}

export interface PutSummary {
  added: number;
  duplicates: number;
  tooLarge: number;
}

const MAX_LOAD = 0.7;
export const MAX_ENTRIES = 300_000_000;
/** A rebuilt table starts at or below this load, so growth doubles it and rebuilds stay rare. */
const LOAD_AFTER_REBUILD = 0.35;
const zeroCounters = () => ({ hits: 0, misses: 0, added: 0, duplicates: 0, tooLarge: 0, evictedEntries: 0, evictedSegments: 0, rebuilds: 0 });

export class ResultCache {
  private segs: SegmentStore;
  private table: DiskTable | undefined;
  private gen = 0;
  private used = 0;
  private cp = { segment: 0, offset: 0 };
  private sinceCheckpoint = 0;
  private dirty = false;
  private broken: unknown;
  private readonly hash = Buffer.alloc(32);
  private valueBuf = Buffer.alloc(16 * 1024);
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly limits: { segmentBytes: number; segmentEntries: number };
  private readonly checkpointBytes: number;
  private counters = zeroCounters();
  private recovery: ResultCacheStats['recovery'] = { mode: 'new', reindexed: 0, truncatedBytes: 0 };
  private readonly isLive = (segment: number) => this.segs.has(segment);

  private constructor(readonly dir: string, options: ResultCacheOptions) {
    const positive = (name: string, value: number | undefined, fallback: number) => {
      const v = value ?? fallback;
      if (!Number.isSafeInteger(v) || v < 1) throw configError('CACHE_OPTIONS', `result cache ${name} must be a positive integer, got ${value}`);
      return v;
    };
    this.maxEntries = positive('max_entries', options.maxEntries, 10_000_000);
    // the table tops out at 2^30 slots; keep a full cache (plus one call's worth) below its load limit
    if (this.maxEntries > MAX_ENTRIES) throw configError('CACHE_OPTIONS', `result cache max_entries must be at most ${MAX_ENTRIES}, got ${this.maxEntries}`);
    this.maxBytes = positive('max_bytes', options.maxBytes, 4 * 1024 ** 3);
    const segmentBytes = positive('segment_bytes', options.segmentBytes, Math.min(64 << 20, Math.floor(this.maxBytes / 8)));
    this.limits = { segmentBytes: Math.min(Math.max(segmentBytes, 4096), 1 << 30), segmentEntries: Math.max(1, Math.ceil(this.maxEntries / 8)) };
    this.checkpointBytes = positive('checkpoint_bytes', options.checkpointBytes, 32 << 20);
    this.segs = new SegmentStore(dir);
  }

  /** Opens (creating, recovering or rebuilding as needed) the cache in `dir`. */
  static open(dir: string, options: ResultCacheOptions = {}): ResultCache {
    const cache = new ResultCache(dir, options);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      cache.load();
    } catch (err) {
      try {
        cache.closeFiles();
      } catch {
        // already failing: the error that matters is the one below
      }
      throw systemError('CACHE_IO', `cannot open the result cache in ${dir}: ${(err as Error).message}`, err);
    }
    return cache;
  }

  /**
   * The cached results line for `customId`, or undefined. Synchronous: two positional reads for a hit
   * (slots, then the record), usually one for a miss.
   * @example const line = cache.get(built.customId); if (line !== undefined) outcome = outcomeOf(JSON.parse(line))
   */
  get(customId: string): string | undefined {
    const table = this.openTable();
    let value: string | undefined;
    table.lookup(keyHash(customId, this.hash), this.isLive, (segment, offset, length) => {
      value = this.readValue(segment, offset, length, customId);
      return value !== undefined;
    });
    if (value === undefined) this.counters.misses++;
    else this.counters.hits++;
    return value;
  }

  /**
   * Stores `succeeded` results lines, each once per custom_id (a key already cached is skipped), then makes
   * them durable with one fsync. Throws CACHE_NOT_SUCCEEDED, storing nothing, if any line is not a
   * succeeded result for its custom_id: only answers that may stand for a later identical request are cached.
   * (The batch writer, which has parsed every line already, hands its answers over encoded: putEncoded.)
   * @example cache.putMany(lines.filter(isSucceeded).map((l) => [l.custom_id, l.raw]))
   */
  putMany(entries: Iterable<readonly [customId: string, line: string]>): PutSummary {
    this.assertWritable();
    const encoded = new EncodedRecords();
    for (const [customId, line] of entries) {
      // A value too large to store is never parsed; the encoder counts it as too large.
      if (line.length <= MAX_VALUE_BYTES) assertSucceeded(customId, line);
      encoded.add(customId, line);
    }
    return this.putEncoded(encoded.take(), encoded.tooLarge);
  }

  /**
   * putMany for answers already checked and encoded as records (EncodedRecords, built by whoever read
   * and checked them): each record is verified and filed as it is, nothing re-encoded. `tooLarge`: how many
   * the encoder left out, for the summary.
   */
  putEncoded(bytes: Uint8Array, tooLarge = 0): PutSummary {
    this.assertWritable();
    const summary: PutSummary = { added: 0, duplicates: 0, tooLarge };
    const seen = new Set<string>();
    const items: Array<{ customId: string; record: Buffer }> = [];
    try {
      for (const { key, record } of recordsOf(bytes)) {
        if (seen.has(key)) {
          summary.duplicates++;
          continue;
        }
        seen.add(key);
        items.push({ customId: key, record });
      }
    } catch (err) {
      throw systemError('CACHE_RECORDS_DAMAGED', `refusing to cache answers: ${(err as Error).message}`, err);
    }
    return this.file(items, summary);
  }

  /** Opens the table if needed; refuses to write after a failed write (the next open() repairs the table). */
  private assertWritable(): void {
    this.openTable();
    if (this.broken) throw systemError('CACHE_IO', `the result cache failed earlier: ${(this.broken as Error).message}`, this.broken);
  }

  /** Files new records (appended to segments, then slots), made durable with one fsync per call. */
  private file(items: Array<{ customId: string; record: Buffer }>, summary: PutSummary): PutSummary {
    if (items.length > 0) {
      this.markDirty();
      this.ensureCapacity(items.length);
      try {
        const appender = new Appender(this.segs, this.limits);
        for (const { customId, record } of items) {
          const at = appender.next();
          const result = this.table!.insert(keyHash(customId, this.hash), at.segment, at.offset, record.length, this.isLive);
          if (result === 'present') {
            summary.duplicates++;
            continue;
          }
          if (result === 'new') this.used++;
          appender.push(record);
          this.segs.map.get(at.segment)!.entries++;
          this.sinceCheckpoint += record.length;
          summary.added++;
        }
        appender.finish();
        // Records first, then the slots that point at them, all at once (see DiskTable.flushWrites).
        this.table!.flushWrites();
      } catch (err) {
        // Slots may now point past what reached the disk: write nothing more this session; the next
        // open() sees the dirty meta and repairs the table.
        this.broken = err;
        throw systemError('CACHE_IO', `result cache write failed: ${(err as Error).message}`, err);
      }
      this.evict();
      if (this.sinceCheckpoint >= this.checkpointBytes) this.checkpoint(false);
    }
    for (const key of ['added', 'duplicates', 'tooLarge'] as const) this.counters[key] += summary[key];
    return summary;
  }

  stats(): ResultCacheStats {
    const { entries, bytes } = this.segs.totals();
    const slots = this.table?.slots ?? 0;
    return {
      entries, bytes, segments: this.segs.map.size, tableSlots: slots, usedSlots: this.used,
      loadFactor: slots ? this.used / slots : 0, maxEntries: this.maxEntries, maxBytes: this.maxBytes,
      ...this.counters, recovery: { ...this.recovery },
    };
  }

  /** Every stored record, oldest first, for inspection: `for (const e of cache.entries()) …` and break early. */
  entries(): Generator<CacheEntry> {
    this.openTable();
    return this.segs.records();
  }

  /** Deletes every entry and the cache's files, and leaves the cache open and empty. */
  clear(): void {
    this.openTable();
    this.closeFiles();
    for (const name of listCacheFiles(this.dir)) unlinkSync(join(this.dir, name));
    fsyncPathSync(this.dir);
    this.segs = new SegmentStore(this.dir);
    this.gen = 0;
    this.used = 0;
    this.cp = { segment: 0, offset: 0 };
    this.sinceCheckpoint = 0;
    this.dirty = false;
    this.broken = undefined;
    this.counters = zeroCounters();
    this.load();
  }

  /** Makes everything durable, marks the cache clean and closes its files. Idempotent. */
  close(): void {
    if (!this.table) return;
    if (this.dirty && !this.broken) this.checkpoint(true);
    this.closeFiles();
  }

  // ---- loading and recovery -------------------------------------------------------------------------

  private load(): void {
    this.segs.openAll();
    const meta = readMeta(this.dir);
    const table = meta && DiskTable.open(join(this.dir, meta.table), meta.bits);
    if (!meta || !table) {
      if (meta) this.gen = meta.gen;
      this.rebuildFromSegments(meta ? 'the index table is missing or damaged' : this.segs.map.size ? 'meta.json is missing or damaged' : undefined);
      return;
    }
    this.table = table;
    this.gen = meta.gen;
    this.used = meta.used;
    this.cp = { ...meta.checkpoint };
    for (const name of listTableFiles(this.dir)) if (name !== meta.table) unlinkSync(join(this.dir, name)); // from a rebuild cut short
    const problem = this.adoptCounts(meta);
    if (problem) {
      this.rebuildFromSegments(problem);
      return;
    }
    const last = this.segs.last();
    if (meta.clean && (last ? last.id === this.cp.segment && last.bytes === this.cp.offset : this.cp.segment === 0)) {
      this.recovery = { mode: 'clean', reindexed: 0, truncatedBytes: 0 };
      return;
    }
    this.recovery = { mode: 'recovered', reindexed: 0, truncatedBytes: 0 };
    this.markDirty();
    for (const seg of this.segs.map.values()) {
      if (seg.id < this.cp.segment) continue;
      const start = seg.id === this.cp.segment ? this.cp.offset : 0;
      const end = scanSegment(seg.fd, start, seg.bytes, () => {});
      if (end < seg.bytes) {
        this.recovery.truncatedBytes += seg.bytes - end;
        this.segs.truncate(seg, end);
      }
    }
    this.recount();
    this.reindexFrom(this.cp);
  }

  /** Takes per-segment counts from meta; returns why the table cannot be trusted, if it cannot. */
  private adoptCounts(meta: CacheMeta): string | undefined {
    const known = new Map(meta.segments.map((s) => [s.id, s.entries]));
    for (const id of known.keys()) this.segs.noteId(id);
    this.segs.noteId(meta.checkpoint.segment);
    const oldestKnown = known.size ? Math.min(...known.keys()) : 0;
    for (const seg of [...this.segs.map.values()]) {
      const entries = known.get(seg.id);
      if (entries !== undefined) seg.entries = entries;
      else if (seg.id < oldestKnown) this.segs.drop(seg); // evicted before meta was written, deletion not durable
      else if (seg.id <= this.cp.segment) return `segment ${seg.id} is unknown to the index`;
    }
    const cpSeg = this.segs.map.get(this.cp.segment);
    if (cpSeg && cpSeg.bytes < this.cp.offset) return `segment ${cpSeg.id} is shorter than its checkpoint`;
    return undefined;
  }

  /**
   * After a crash the counts in meta may be stale and some slots may point past the data that reached the
   * disk (a slot is filed before its record is written): count used slots and live entries from the table,
   * turning slots that point past their segment's end stale.
   */
  private recount(): void {
    for (const seg of this.segs.map.values()) seg.entries = 0;
    let used = 0;
    const table = this.table!;
    const beyond: number[] = [];
    table.forEach((buf, at, index) => {
      const id = buf.readUInt32LE(at + 16);
      if (id === 0) return;
      used++;
      const seg = this.segs.map.get(id);
      if (!seg) return;
      if (buf.readUInt32LE(at + 20) + buf.readUInt32LE(at + 24) > seg.bytes) beyond.push(index);
      else seg.entries++;
    });
    for (const index of beyond) table.markStale(index);
    this.used = used;
  }

  /** Files every valid record from `from` on (idempotent), truncating each segment at its first bad record. */
  private reindexFrom(from: { segment: number; offset: number }): void {
    for (const seg of [...this.segs.map.values()]) {
      if (seg.id < from.segment) continue;
      const start = seg.id === from.segment ? from.offset : 0;
      let records: Array<{ hash: Buffer; offset: number; length: number }> = [];
      const end = scanSegment(seg.fd, start, seg.bytes, (r) => {
        records.push({ hash: Buffer.from(keyHash(recordKey(r.buf, r.at), this.hash).subarray(0, 16)), offset: r.offset, length: r.length });
        if (records.length >= 65_536) {
          this.fileRecords(seg, records);
          records = [];
        }
      });
      this.fileRecords(seg, records);
      if (end < seg.bytes) {
        this.recovery.truncatedBytes += seg.bytes - end;
        this.segs.truncate(seg, end);
      }
    }
  }

  private fileRecords(seg: Segment, records: Array<{ hash: Buffer; offset: number; length: number }>): void {
    this.ensureCapacity(records.length);
    for (const r of records) {
      const result = this.table!.insert(r.hash, seg.id, r.offset, r.length, this.isLive);
      if (result === 'present') continue;
      if (result === 'new') this.used++;
      seg.entries++;
      this.recovery.reindexed++;
    }
  }

  /** Builds a new table from the segments alone (first open, or meta/table lost). */
  private rebuildFromSegments(reason: string | undefined): void {
    this.table?.close();
    for (const name of listTableFiles(this.dir)) unlinkSync(join(this.dir, name));
    for (const seg of this.segs.map.values()) seg.entries = 0;
    this.gen += 1;
    this.table = DiskTable.create(join(this.dir, tableName(this.gen)), bitsFor(this.segs.totals().bytes / 512));
    this.used = 0;
    this.cp = { segment: 0, offset: 0 };
    this.recovery = { mode: reason ? 'rebuilt' : 'new', reindexed: 0, truncatedBytes: 0, ...(reason ? { reason } : {}) };
    this.reindexFrom(this.cp);
    this.checkpoint(true);
  }

  // ---- writing ----------------------------------------------------------------------------------------

  /** Keeps the table's load factor at most 0.7 once `incoming` more slots are taken. */
  private ensureCapacity(incoming: number): void {
    const table = this.table!;
    if (this.used + incoming <= MAX_LOAD * table.slots) return;
    this.markDirty();
    this.gen += 1;
    const live = this.segs.totals().entries;
    const { table: next, used } = table.rebuildInto(join(this.dir, tableName(this.gen)), bitsFor(live + incoming), this.isLive);
    next.sync();
    this.table = next;
    this.used = used;
    this.writeMeta(false); // meta now points at the new table; the old one can go
    table.close();
    unlinkSync(table.path);
    this.counters.rebuilds++;
  }

  /** Drops whole segments, oldest first, while over a budget (the newest segment always stays). */
  private evict(): void {
    let { entries, bytes } = this.segs.totals();
    let evicted = false;
    for (const seg of [...this.segs.map.values()]) {
      if (this.segs.map.size <= 1 || (entries <= this.maxEntries && bytes <= this.maxBytes)) break;
      entries -= seg.entries;
      bytes -= seg.bytes;
      this.counters.evictedEntries += seg.entries;
      this.counters.evictedSegments++;
      this.segs.drop(seg);
      evicted = true;
    }
    if (evicted) fsyncPathSync(this.dir);
  }

  private markDirty(): void {
    if (this.dirty) return;
    this.writeMeta(false);
    this.dirty = true;
  }

  /** Table durable first, then the checkpoint that relies on it. */
  private checkpoint(clean: boolean): void {
    this.table!.sync();
    const last = this.segs.last();
    this.cp = last ? { segment: last.id, offset: last.bytes } : { segment: 0, offset: 0 };
    this.sinceCheckpoint = 0;
    this.writeMeta(clean);
    this.dirty = !clean;
  }

  private writeMeta(clean: boolean): void {
    const table = this.table!;
    writeMeta(this.dir, {
      version: 1, table: tableName(this.gen), gen: this.gen, bits: table.bits, used: this.used,
      segments: [...this.segs.map.values()].map((s) => ({ id: s.id, entries: s.entries })),
      checkpoint: this.cp, clean,
    });
  }

  // ---- reading ----------------------------------------------------------------------------------------

  private readValue(segment: number, offset: number, length: number, customId: string): string | undefined {
    const seg = this.segs.map.get(segment);
    if (!seg || offset + length > seg.bytes || length < RECORD_HEADER) return undefined;
    if (this.valueBuf.length < length) this.valueBuf = Buffer.alloc(Math.max(length, this.valueBuf.length * 2));
    const buf = this.valueBuf;
    if (readFully(seg.fd, buf, length, offset) < length || !verifyRecord(buf, 0, length)) return undefined;
    return recordKey(buf, 0) === customId ? recordValue(buf, 0) : undefined;
  }

  private openTable(): DiskTable {
    if (!this.table) throw systemError('CACHE_CLOSED', 'the result cache is closed');
    return this.table;
  }

  private closeFiles(): void {
    this.segs.closeAll();
    // After a failed write the table is repaired by the next open(): the slots held back are not written.
    if (this.broken) this.table?.discardWrites();
    this.table?.close();
    this.table = undefined;
  }
}

/** Smallest table (in bits) holding `entries` at the post-rebuild load. */
function bitsFor(entries: number): number {
  const bits = Math.ceil(Math.log2(Math.max(1, entries) / LOAD_AFTER_REBUILD));
  return Math.min(MAX_BITS, Math.max(MIN_BITS, bits));
}

function assertSucceeded(customId: string, line: string): void {
  let parsed: { custom_id?: unknown; result?: { type?: unknown } } | undefined;
  try {
    parsed = JSON.parse(line) as typeof parsed;
  } catch {
    parsed = undefined;
  }
  if (parsed?.custom_id !== customId || parsed.result?.type !== 'succeeded') {
    throw systemError(
      'CACHE_NOT_SUCCEEDED',
      `only a succeeded results line for the same custom_id may be cached (custom_id ${customId}, result type ${JSON.stringify(parsed?.result?.type)})`,
    );
  }
}
