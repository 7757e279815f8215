import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncPathSync } from '../common/durable.js';

/**
 * The cache's small metadata file. It points at the current table file and records the checkpoint: every
 * record before (segment, offset) has its slot durably in that table. Records after it are re-indexed from
 * the segments on open, so the table itself never needs an fsync per write. `clean` says the last session
 * closed normally (counts are exact); otherwise open() recounts them from the table.
 */
export interface CacheMeta {
  version: 1;
  table: string;
  gen: number;
  bits: number;
  used: number;
  segments: Array<{ id: number; entries: number }>;
  checkpoint: { segment: number; offset: number };
  clean: boolean;
}

export const META_FILE = 'meta.json';
export const segmentName = (id: number) => `seg-${String(id).padStart(8, '0')}.log`;
export const tableName = (gen: number) => `index-${String(gen).padStart(8, '0')}.tbl`;
const SEGMENT_RE = /^seg-(\d{8})\.log$/;
const TABLE_RE = /^index-\d{8}\.tbl$/;

/** Segment ids present in `dir`, ascending. */
export function listSegmentIds(dir: string): number[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const m = SEGMENT_RE.exec(name);
      return m?.[1] ? [Number(m[1])] : [];
    })
    .sort((a, b) => a - b);
}

export function listTableFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => TABLE_RE.test(name));
}

/** Every file the cache owns in `dir` (clear() removes exactly these, nothing else). */
export function listCacheFiles(dir: string): string[] {
  return readdirSync(dir).filter(
    (name) => SEGMENT_RE.test(name) || TABLE_RE.test(name) || name === META_FILE || name === `${META_FILE}.tmp`,
  );
}

/** The metadata, or undefined when it is missing or not ours (the cache then rebuilds from its segments). */
export function readMeta(dir: string): CacheMeta | undefined {
  try {
    const meta = JSON.parse(readFileSync(join(dir, META_FILE), 'utf8')) as Partial<CacheMeta>;
    const ok =
      meta.version === 1 &&
      typeof meta.table === 'string' &&
      TABLE_RE.test(meta.table) &&
      Number.isInteger(meta.gen) &&
      Number.isInteger(meta.bits) &&
      Number.isInteger(meta.used) &&
      Array.isArray(meta.segments) &&
      meta.segments.every((s) => Number.isInteger(s?.id) && Number.isInteger(s?.entries)) &&
      Number.isInteger(meta.checkpoint?.segment) &&
      Number.isInteger(meta.checkpoint?.offset) &&
      typeof meta.clean === 'boolean';
    return ok ? (meta as CacheMeta) : undefined;
  } catch {
    return undefined;
  }
}

/** Atomic replace: temp file, fsync, rename, fsync the directory. */
export function writeMeta(dir: string, meta: CacheMeta): void {
  const tmp = join(dir, `${META_FILE}.tmp`);
  writeFileSync(tmp, JSON.stringify(meta), { mode: 0o600 });
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, META_FILE));
  fsyncPathSync(dir);
}
