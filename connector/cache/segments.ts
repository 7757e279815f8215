import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { listSegmentIds, segmentName } from './files.js';
import { fsyncPathSync, readFully, writeFully } from '../common/durable.js';
import { recordKey, recordValue, RECORD_HEADER, verifyRecord } from './record-format.js';

/** One append-only values file. `entries` counts the live table slots pointing into it. */
export interface Segment {
  id: number;
  fd: number;
  bytes: number;
  entries: number;
}

export interface CacheEntry {
  customId: string;
  line: string;
  segment: number;
  offset: number;
}

/**
 * The cache's segment files, oldest first. Ids only ever grow (a new segment is one past every id seen on
 * disk or in meta), so a slot left pointing at an evicted segment can never come back to life.
 */
export class SegmentStore {
  readonly map = new Map<number, Segment>();
  private nextId = 1;

  constructor(readonly dir: string) {}

  openAll(): void {
    for (const id of listSegmentIds(this.dir)) {
      const fd = openSync(join(this.dir, segmentName(id)), 'r+');
      this.map.set(id, { id, fd, bytes: fstatSync(fd).size, entries: 0 });
      this.noteId(id);
    }
  }

  noteId(id: number): void {
    this.nextId = Math.max(this.nextId, id + 1);
  }

  has = (id: number): boolean => this.map.has(id);

  last(): Segment | undefined {
    let last: Segment | undefined;
    for (const seg of this.map.values()) last = seg;
    return last;
  }

  totals(): { entries: number; bytes: number } {
    let entries = 0;
    let bytes = 0;
    for (const s of this.map.values()) {
      entries += s.entries;
      bytes += s.bytes;
    }
    return { entries, bytes };
  }

  create(): Segment {
    const id = this.nextId++;
    const fd = openSync(join(this.dir, segmentName(id)), 'w+', 0o600);
    fsyncPathSync(this.dir); // durable before any slot can point into it
    const seg = { id, fd, bytes: 0, entries: 0 };
    this.map.set(id, seg);
    return seg;
  }

  drop(seg: Segment): void {
    closeSync(seg.fd);
    unlinkSync(join(this.dir, segmentName(seg.id)));
    this.map.delete(seg.id);
  }

  truncate(seg: Segment, end: number): void {
    ftruncateSync(seg.fd, end);
    fsyncSync(seg.fd);
    seg.bytes = end;
  }

  closeAll(): void {
    for (const seg of this.map.values()) closeSync(seg.fd);
    this.map.clear();
  }

  /** Every valid record in storage order (for inspection; stops at a segment's first bad record). */
  *records(): Generator<CacheEntry> {
    const header = Buffer.alloc(RECORD_HEADER);
    for (const seg of [...this.map.values()]) {
      for (let pos = 0; pos + RECORD_HEADER <= seg.bytes && this.map.has(seg.id);) {
        if (readFully(seg.fd, header, RECORD_HEADER, pos) < RECORD_HEADER) break;
        const length = RECORD_HEADER + header.readUInt32LE(8) + header.readUInt32LE(12);
        const buf = Buffer.allocUnsafe(length);
        if (readFully(seg.fd, buf, length, pos) < length || !verifyRecord(buf, 0, length)) break;
        yield { customId: recordKey(buf, 0), line: recordValue(buf, 0), segment: seg.id, offset: pos };
        pos += length;
      }
    }
  }
}

const WRITE_CHUNK = 8 << 20;

/**
 * Appends one putMany's records: next() says where a record will land (rolling to a new segment at the
 * size/count limits) so its slot can be filed first, push() takes it, finish() writes what is pending and
 * fsyncs each touched segment once. A slot filed before its record reached the disk points past the end
 * of its segment after a crash, and open() turns such slots stale.
 */
export class Appender {
  private seg: Segment;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private segEntries: number;
  private readonly touched = new Set<Segment>();

  constructor(
    private readonly store: SegmentStore,
    private readonly limits: { segmentBytes: number; segmentEntries: number },
  ) {
    this.seg = store.last() ?? store.create();
    this.segEntries = this.seg.entries;
  }

  next(): { segment: number; offset: number } {
    const size = this.seg.bytes + this.pendingBytes;
    if (size > 0 && (size >= this.limits.segmentBytes || this.segEntries >= this.limits.segmentEntries)) {
      this.flush();
      this.seg = this.store.create();
      this.segEntries = 0;
    }
    return { segment: this.seg.id, offset: this.seg.bytes + this.pendingBytes };
  }

  push(record: Buffer): void {
    this.pending.push(record);
    this.pendingBytes += record.length;
    this.segEntries++;
    if (this.pendingBytes >= WRITE_CHUNK) this.flush();
  }

  finish(): void {
    this.flush();
    for (const seg of this.touched) fsyncSync(seg.fd);
  }

  private flush(): void {
    if (this.pendingBytes === 0) return;
    const buf = Buffer.concat(this.pending, this.pendingBytes);
    writeFully(this.seg.fd, buf, buf.length, this.seg.bytes);
    this.seg.bytes += buf.length;
    this.touched.add(this.seg);
    this.pending = [];
    this.pendingBytes = 0;
  }
}
