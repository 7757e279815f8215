import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { systemError } from '../common/errors.js';
import { type DiskTable, keyHash, MAX_BITS, MIN_BITS, type InsertResult } from '../common/hash-table.js';
import { tableName, writeMeta } from './files.js';
import type { SegmentStore } from './segments.js';

const MAX_LOAD = 0.7;
/** A rebuilt table starts at or below this load, so growth doubles it and rebuilds stay rare. */
const LOAD_AFTER_REBUILD = 0.35;

/** What open() found: a new cache, a clean one, one recovered after a crash, or one rebuilt from segments. */
export interface Recovery {
  mode: 'new' | 'clean' | 'recovered' | 'rebuilt';
  reindexed: number;
  truncatedBytes: number;
  reason?: string;
}

/**
 * The result cache's index: which record (segment, offset, length) holds each key, as an on-disk table
 * (DiskTable), with the checkpoint in meta.json that says how much of it is durable. It keeps the table's
 * load factor at most 0.7 (rebuilding it larger, streamed, when it would pass) and writes meta.json before
 * the first change after a checkpoint (dirty) and at each checkpoint. Recovery (recovery.ts) fills it on open.
 */
export class CacheIndex {
  table: DiskTable | undefined;
  gen = 0;
  /** Slots taken (live, stale or pointing into evicted segments), for the load factor. */
  used = 0;
  /** Every record before this has its slot durably in the table. */
  cp = { segment: 0, offset: 0 };
  sinceCheckpoint = 0;
  dirty = false;
  rebuilds = 0;
  recovery: Recovery = { mode: 'new', reindexed: 0, truncatedBytes: 0 };
  private readonly hash = Buffer.alloc(32);
  readonly isLive = (segment: number) => this.segs.has(segment);

  constructor(
    readonly dir: string,
    readonly segs: SegmentStore,
  ) {}

  /** The open table; throws CACHE_CLOSED once the cache is closed. */
  get open(): DiskTable {
    if (!this.table) throw systemError('CACHE_CLOSED', 'the result cache is closed');
    return this.table;
  }

  assertOpen(): void {
    void this.open;
  }

  /** Visits the places `key` may be filed at until `match` accepts one. */
  lookup(key: string, match: (segment: number, offset: number, length: number) => boolean): void {
    this.open.lookup(keyHash(key, this.hash), this.isLive, match);
  }

  /** Files `key` at a record's place (see DiskTable.insert), counting a newly taken slot. */
  insert(key: string | Buffer, segment: number, offset: number, length: number): InsertResult {
    const hash = typeof key === 'string' ? keyHash(key, this.hash) : key;
    const result = this.open.insert(hash, segment, offset, length, this.isLive);
    if (result === 'new') this.used++;
    return result;
  }

  /** Keeps the table's load factor at most 0.7 once `incoming` more slots are taken. */
  ensureCapacity(incoming: number): void {
    const table = this.open;
    if (this.used + incoming <= MAX_LOAD * table.slots) return;
    this.markDirty();
    this.gen += 1;
    const live = this.segs.totals().entries;
    const { table: next, used } = table.rebuildInto(
      join(this.dir, tableName(this.gen)),
      bitsFor(live + incoming),
      this.isLive,
    );
    next.sync();
    this.table = next;
    this.used = used;
    this.writeMeta(false); // meta now points at the new table; the old one can go
    table.close();
    unlinkSync(table.path);
    this.rebuilds++;
  }

  markDirty(): void {
    if (this.dirty) return;
    this.writeMeta(false);
    this.dirty = true;
  }

  /** Table durable first, then the checkpoint that relies on it. */
  checkpoint(clean: boolean): void {
    this.open.sync();
    const last = this.segs.last();
    this.cp = last ? { segment: last.id, offset: last.bytes } : { segment: 0, offset: 0 };
    this.sinceCheckpoint = 0;
    this.writeMeta(clean);
    this.dirty = !clean;
  }

  writeMeta(clean: boolean): void {
    const table = this.open;
    writeMeta(this.dir, {
      version: 1,
      table: tableName(this.gen),
      gen: this.gen,
      bits: table.bits,
      used: this.used,
      segments: [...this.segs.map.values()].map((s) => ({ id: s.id, entries: s.entries })),
      checkpoint: this.cp,
      clean,
    });
  }

  /** Closes the table; after a failed write the slots held back are dropped (the next open repairs the table). */
  close(broken: boolean): void {
    if (broken) this.table?.discardWrites();
    this.table?.close();
    this.table = undefined;
  }
}

/** Smallest table (in bits) holding `entries` at the post-rebuild load. */
export function bitsFor(entries: number): number {
  const bits = Math.ceil(Math.log2(Math.max(1, entries) / LOAD_AFTER_REBUILD));
  return Math.min(MAX_BITS, Math.max(MIN_BITS, bits));
}
