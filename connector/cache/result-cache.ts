import { mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { systemError } from '../common/errors.js';
import { fsyncPathSync, readFully } from '../common/durable.js';
import { CacheIndex } from './cache-index.js';
import {
  cacheLimits,
  type CacheLimits,
  type PutSummary,
  type ResultCacheOptions,
  type ResultCacheStats,
} from './cache-options.js';
import { listCacheFiles } from './files.js';
import {
  EncodedRecords,
  MAX_VALUE_BYTES,
  recordKey,
  recordsOf,
  recordValue,
  RECORD_HEADER,
  verifyRecord,
} from './record-format.js';
import { loadIndex } from './recovery.js';
import { Appender, SegmentStore, type CacheEntry } from './segments.js';

export type { CacheEntry } from './segments.js';
export { MAX_ENTRIES, type PutSummary, type ResultCacheOptions, type ResultCacheStats } from './cache-options.js';

/**
 * Cross-run result cache: a request (custom_id) that succeeded in an earlier run is answered from disk
 * instead of being sent again. It lives in `<destination>/_claude_batch/cache/` (one folder per API endpoint:
 * see resultCacheDir) and holds, per custom_id, the raw JSON of its `succeeded` results line.
 *
 * Layout: append-only segment files hold the values (the truth, each record crc-checked); an on-disk
 * open-addressing table (hash-table.ts, kept by cache-index.ts) maps a key's hash to (segment, offset, length) and is read with
 * positional reads, so memory stays constant whatever the number of entries; meta.json holds the checkpoint.
 *
 * - Durable: putMany() appends and fsyncs the segments it wrote (one fsync per call, two when it rolls to a
 *   new segment); table slots are written without fsync and made durable at checkpoints (every
 *   `checkpointBytes` of new values, and at close).
 * - Crash-safe (recovery.ts): open() truncates a torn tail, turns slots pointing past it stale and re-indexes the records
 *   after the checkpoint; a missing or damaged table or meta.json is rebuilt from the segments. A bad slot
 *   can only cause a miss, never a wrong answer: every hit is checked (magic, crc, key).
 * - Bounded: past maxEntries or maxBytes, whole segments are evicted oldest first (a segment holds at most
 *   1/8 of either budget); their slots go stale and disappear at the next table rebuild, which happens when
 *   the load factor would pass 0.7 (streaming, see DiskTable.rebuildInto), sized for the live entries.
 *
 * One writer at a time: the destination's write.lock already guarantees it.
 */
const zeroCounters = () => ({
  hits: 0,
  misses: 0,
  added: 0,
  duplicates: 0,
  tooLarge: 0,
  evictedEntries: 0,
  evictedSegments: 0,
});

export class ResultCache {
  private segs: SegmentStore;
  private index: CacheIndex;
  private broken: unknown;
  private valueBuf = Buffer.alloc(16 * 1024);
  private readonly limits: CacheLimits;
  private counters = zeroCounters();

  private constructor(
    readonly dir: string,
    options: ResultCacheOptions,
  ) {
    this.limits = cacheLimits(options);
    this.segs = new SegmentStore(dir);
    this.index = new CacheIndex(dir, this.segs);
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
    let value: string | undefined;
    this.index.lookup(customId, (segment, offset, length) => {
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
    this.index.assertOpen();
    if (this.broken)
      throw systemError('CACHE_IO', `the result cache failed earlier: ${(this.broken as Error).message}`, this.broken);
  }

  /** Files new records (appended to segments, then slots), made durable with one fsync per call. */
  private file(items: Array<{ customId: string; record: Buffer }>, summary: PutSummary): PutSummary {
    if (items.length > 0) {
      const index = this.index;
      index.markDirty();
      index.ensureCapacity(items.length);
      try {
        const appender = new Appender(this.segs, this.limits.segment);
        for (const { customId, record } of items) {
          const at = appender.next();
          if (index.insert(customId, at.segment, at.offset, record.length) === 'present') {
            summary.duplicates++;
            continue;
          }
          appender.push(record);
          this.segs.map.get(at.segment)!.entries++;
          index.sinceCheckpoint += record.length;
          summary.added++;
        }
        appender.finish();
        // Records first, then the slots that point at them, all at once (see DiskTable.flushWrites).
        index.open.flushWrites();
      } catch (err) {
        // Slots may now point past what reached the disk: write nothing more this session; the next
        // open() sees the dirty meta and repairs the table.
        this.broken = err;
        throw systemError('CACHE_IO', `result cache write failed: ${(err as Error).message}`, err);
      }
      this.evict();
      if (index.sinceCheckpoint >= this.limits.checkpointBytes) index.checkpoint(false);
    }
    for (const key of ['added', 'duplicates', 'tooLarge'] as const) this.counters[key] += summary[key];
    return summary;
  }

  stats(): ResultCacheStats {
    const { entries, bytes } = this.segs.totals();
    const { index } = this;
    const slots = index.table?.slots ?? 0;
    return {
      entries,
      bytes,
      segments: this.segs.map.size,
      tableSlots: slots,
      usedSlots: index.used,
      loadFactor: slots ? index.used / slots : 0,
      maxEntries: this.limits.maxEntries,
      maxBytes: this.limits.maxBytes,
      ...this.counters,
      rebuilds: index.rebuilds,
      recovery: { ...index.recovery },
    };
  }

  /** Every stored record, oldest first, for inspection: `for (const e of cache.entries()) …` and break early. */
  entries(): Generator<CacheEntry> {
    this.index.assertOpen();
    return this.segs.records();
  }

  /** Deletes every entry and the cache's files, and leaves the cache open and empty. */
  clear(): void {
    this.index.assertOpen();
    this.closeFiles();
    for (const name of listCacheFiles(this.dir)) unlinkSync(join(this.dir, name));
    fsyncPathSync(this.dir);
    this.segs = new SegmentStore(this.dir);
    this.index = new CacheIndex(this.dir, this.segs);
    this.broken = undefined;
    this.counters = zeroCounters();
    this.load();
  }

  /** Makes everything durable, marks the cache clean and closes its files. Idempotent. */
  close(): void {
    if (!this.index.table) return;
    if (this.index.dirty && !this.broken) this.index.checkpoint(true);
    this.closeFiles();
  }

  private load(): void {
    this.segs.openAll();
    loadIndex(this.index);
  }

  /** Drops whole segments, oldest first, while over a budget (the newest segment always stays). */
  private evict(): void {
    let { entries, bytes } = this.segs.totals();
    let evicted = false;
    for (const seg of [...this.segs.map.values()]) {
      if (this.segs.map.size <= 1 || (entries <= this.limits.maxEntries && bytes <= this.limits.maxBytes)) break;
      entries -= seg.entries;
      bytes -= seg.bytes;
      this.counters.evictedEntries += seg.entries;
      this.counters.evictedSegments++;
      this.segs.drop(seg);
      evicted = true;
    }
    if (evicted) fsyncPathSync(this.dir);
  }

  private readValue(segment: number, offset: number, length: number, customId: string): string | undefined {
    const seg = this.segs.map.get(segment);
    if (!seg || offset + length > seg.bytes || length < RECORD_HEADER) return undefined;
    if (this.valueBuf.length < length) this.valueBuf = Buffer.alloc(Math.max(length, this.valueBuf.length * 2));
    const buf = this.valueBuf;
    if (readFully(seg.fd, buf, length, offset) < length || !verifyRecord(buf, 0, length)) return undefined;
    return recordKey(buf, 0) === customId ? recordValue(buf, 0) : undefined;
  }

  private closeFiles(): void {
    this.segs.closeAll();
    // After a failed write the table is repaired by the next open(): the slots held back are not written.
    this.index.close(this.broken !== undefined);
  }
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
