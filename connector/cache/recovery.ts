import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { DiskTable, keyHash } from '../common/hash-table.js';
import { bitsFor, type CacheIndex } from './cache-index.js';
import { listTableFiles, readMeta, tableName, type CacheMeta } from './files.js';
import { recordKey, scanSegment } from './record-format.js';
import type { Segment } from './segments.js';

/**
 * Opens the index of a cache whose segments are open: as it was (a clean close), recovered after a crash
 * (torn tails truncated, slots past them made stale, records after the checkpoint re-indexed), or rebuilt
 * from the segments alone when meta.json or the table is missing or cannot be trusted.
 */
export function loadIndex(index: CacheIndex): void {
  const { dir, segs } = index;
  const meta = readMeta(dir);
  const table = meta && DiskTable.open(join(dir, meta.table), meta.bits);
  if (!meta || !table) {
    if (meta) index.gen = meta.gen;
    rebuildFromSegments(
      index,
      meta ? 'the index table is missing or damaged' : segs.map.size ? 'meta.json is missing or damaged' : undefined,
    );
    return;
  }
  index.table = table;
  index.gen = meta.gen;
  index.used = meta.used;
  index.cp = { ...meta.checkpoint };
  for (const name of listTableFiles(dir)) if (name !== meta.table) unlinkSync(join(dir, name)); // from a rebuild cut short
  const problem = adoptCounts(index, meta);
  if (problem) {
    rebuildFromSegments(index, problem);
    return;
  }
  const last = segs.last();
  const { cp } = index;
  if (meta.clean && (last ? last.id === cp.segment && last.bytes === cp.offset : cp.segment === 0)) {
    index.recovery = { mode: 'clean', reindexed: 0, truncatedBytes: 0 };
    return;
  }
  index.recovery = { mode: 'recovered', reindexed: 0, truncatedBytes: 0 };
  index.markDirty();
  for (const seg of segs.map.values()) {
    if (seg.id < cp.segment) continue;
    const start = seg.id === cp.segment ? cp.offset : 0;
    const end = scanSegment(seg.fd, start, seg.bytes, () => {});
    if (end < seg.bytes) {
      index.recovery.truncatedBytes += seg.bytes - end;
      segs.truncate(seg, end);
    }
  }
  recount(index);
  reindexFrom(index, cp);
}

/** Takes per-segment counts from meta; returns why the table cannot be trusted, if it cannot. */
function adoptCounts(index: CacheIndex, meta: CacheMeta): string | undefined {
  const { segs, cp } = index;
  const known = new Map(meta.segments.map((s) => [s.id, s.entries]));
  for (const id of known.keys()) segs.noteId(id);
  segs.noteId(meta.checkpoint.segment);
  const oldestKnown = known.size ? Math.min(...known.keys()) : 0;
  for (const seg of [...segs.map.values()]) {
    const entries = known.get(seg.id);
    if (entries !== undefined) seg.entries = entries;
    else if (seg.id < oldestKnown)
      segs.drop(seg); // evicted before meta was written, deletion not durable
    else if (seg.id <= cp.segment) return `segment ${seg.id} is unknown to the index`;
  }
  const cpSeg = segs.map.get(cp.segment);
  if (cpSeg && cpSeg.bytes < cp.offset) return `segment ${cpSeg.id} is shorter than its checkpoint`;
  return undefined;
}

/**
 * After a crash the counts in meta may be stale and some slots may point past the data that reached the
 * disk (a slot is filed before its record is written): count used slots and live entries from the table,
 * turning slots that point past their segment's end stale.
 */
function recount(index: CacheIndex): void {
  const { segs } = index;
  for (const seg of segs.map.values()) seg.entries = 0;
  let used = 0;
  const table = index.open;
  const beyond: number[] = [];
  table.forEach((buf, at, slot) => {
    const id = buf.readUInt32LE(at + 16);
    if (id === 0) return;
    used++;
    const seg = segs.map.get(id);
    if (!seg) return;
    if (buf.readUInt32LE(at + 20) + buf.readUInt32LE(at + 24) > seg.bytes) beyond.push(slot);
    else seg.entries++;
  });
  for (const slot of beyond) table.markStale(slot);
  index.used = used;
}

/** Files every valid record from `from` on (idempotent), truncating each segment at its first bad record. */
function reindexFrom(index: CacheIndex, from: { segment: number; offset: number }): void {
  const hash = Buffer.alloc(32);
  for (const seg of [...index.segs.map.values()]) {
    if (seg.id < from.segment) continue;
    const start = seg.id === from.segment ? from.offset : 0;
    let records: Array<{ hash: Buffer; offset: number; length: number }> = [];
    const end = scanSegment(seg.fd, start, seg.bytes, (r) => {
      records.push({
        hash: Buffer.from(keyHash(recordKey(r.buf, r.at), hash).subarray(0, 16)),
        offset: r.offset,
        length: r.length,
      });
      if (records.length >= 65_536) {
        fileRecords(index, seg, records);
        records = [];
      }
    });
    fileRecords(index, seg, records);
    if (end < seg.bytes) {
      index.recovery.truncatedBytes += seg.bytes - end;
      index.segs.truncate(seg, end);
    }
  }
}

function fileRecords(
  index: CacheIndex,
  seg: Segment,
  records: Array<{ hash: Buffer; offset: number; length: number }>,
): void {
  index.ensureCapacity(records.length);
  for (const r of records) {
    if (index.insert(r.hash, seg.id, r.offset, r.length) === 'present') continue;
    seg.entries++;
    index.recovery.reindexed++;
  }
}

/** Builds a new table from the segments alone (first open, or meta/table lost). */
function rebuildFromSegments(index: CacheIndex, reason: string | undefined): void {
  const { dir, segs } = index;
  index.table?.close();
  for (const name of listTableFiles(dir)) unlinkSync(join(dir, name));
  for (const seg of segs.map.values()) seg.entries = 0;
  index.gen += 1;
  index.table = DiskTable.create(join(dir, tableName(index.gen)), bitsFor(segs.totals().bytes / 512));
  index.used = 0;
  index.cp = { segment: 0, offset: 0 };
  index.recovery = { mode: reason ? 'rebuilt' : 'new', reindexed: 0, truncatedBytes: 0, ...(reason ? { reason } : {}) };
  reindexFrom(index, index.cp);
  index.checkpoint(true);
}
