// Guards the cross-run result cache: a request answered once must be answered from disk in every later run
// (or the sync pays twice), and a crash, a torn write or a full budget must never turn a hit into a wrong answer.
import { appendFileSync, copyFileSync, existsSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EncodedRecords, MAX_VALUE_BYTES } from '../../connector/cache/record-format.js';
import { ResultCache } from '../../connector/cache/result-cache.js';
import { idFor, succeededLine, tempDir } from './helpers.js';

const dirs: string[] = [];
const newDir = () => {
  const d = tempDir('result-cache');
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const entriesFor = (from: number, to: number): Array<[string, string]> => {
  const out: Array<[string, string]> = [];
  for (let i = from; i < to; i++) out.push([idFor(i), succeededLine(idFor(i))]);
  return out;
};
const segmentFiles = (dir: string) =>
  readdirSync(dir)
    .filter((n) => n.startsWith('seg-'))
    .sort();
const tableFile = (dir: string) => readdirSync(dir).find((n) => n.startsWith('index-'))!;

describe('ResultCache', () => {
  it('returns exactly the stored succeeded line, and misses what was never stored', () => {
    const cache = ResultCache.open(newDir());
    const line = succeededLine(idFor(1), 'ünïcödé 🎉 answer');
    expect(cache.putMany([[idFor(1), line]])).toEqual({ added: 1, duplicates: 0, tooLarge: 0 });
    expect(cache.get(idFor(1))).toBe(line);
    expect(cache.get(idFor(2))).toBeUndefined();
    expect(cache.get('not-a-custom-id-shape')).toBeUndefined();
    const stats = cache.stats();
    expect(stats).toMatchObject({ entries: 1, hits: 1, misses: 2, added: 1, segments: 1 });
    expect(stats.bytes).toBeGreaterThan(line.length);
    cache.close();
  });

  it('files keys of any shape (hashed with sha256) as well as custom_id-shaped ones', () => {
    const cache = ResultCache.open(newDir());
    cache.putMany([
      ['plain-key', JSON.stringify({ custom_id: 'plain-key', result: { type: 'succeeded', message: {} } })],
    ]);
    expect(cache.get('plain-key')).toContain('plain-key');
    expect(cache.get('plain-key2')).toBeUndefined();
    cache.close();
  });

  it('refuses anything but a succeeded line for the same custom_id, storing nothing', () => {
    const cache = ResultCache.open(newDir());
    const errored = JSON.stringify({
      custom_id: idFor(1),
      result: { type: 'errored', error: { type: 'error', error: { type: 'api_error', message: 'x' } } },
    });
    expect(() => cache.putMany([[idFor(1), errored]])).toThrow(
      expect.objectContaining({ code: 'CACHE_NOT_SUCCEEDED' }),
    );
    expect(() =>
      cache.putMany([[idFor(1), JSON.stringify({ custom_id: idFor(1), result: { type: 'expired' } })]]),
    ).toThrow(/succeeded/);
    expect(() => cache.putMany([[idFor(1), succeededLine(idFor(2))]])).toThrow(/same custom_id/);
    expect(() => cache.putMany([[idFor(1), 'not json']])).toThrow(/succeeded/);
    expect(cache.stats().entries).toBe(0);
    expect(cache.get(idFor(1))).toBeUndefined();
    cache.close();
  });

  it('stores each custom_id once, within a call and across calls', () => {
    const cache = ResultCache.open(newDir());
    const line = succeededLine(idFor(1));
    expect(
      cache.putMany([
        [idFor(1), line],
        [idFor(1), line],
      ]),
    ).toMatchObject({ added: 1, duplicates: 1 });
    const bytes = cache.stats().bytes;
    expect(cache.putMany([[idFor(1), succeededLine(idFor(1), 'other')]])).toMatchObject({ added: 0, duplicates: 1 });
    expect(cache.stats()).toMatchObject({ entries: 1, bytes });
    expect(cache.get(idFor(1))).toBe(line);
    cache.close();
  });

  it('files encoded records (putEncoded) exactly as putMany files the same lines, and refuses damaged bytes', () => {
    const lines = [
      ...entriesFor(0, 500),
      ...entriesFor(100, 120),
      [idFor('u'), succeededLine(idFor('u'), 'ünïcödé 🎉')] as [string, string],
    ];
    const encoded = new EncodedRecords();
    for (const [id, line] of lines) encoded.add(id, line);
    encoded.add(idFor('huge'), 'x'.repeat(MAX_VALUE_BYTES + 1));
    const [viaLines, viaRecords] = [ResultCache.open(newDir()), ResultCache.open(newDir())];
    const records = encoded.take();
    expect(viaRecords.putEncoded(records, encoded.tooLarge)).toEqual({ ...viaLines.putMany(lines), tooLarge: 1 });
    for (const [id, line] of [...entriesFor(0, 500), lines.at(-1)!]) expect(viaRecords.get(id)).toBe(line);
    expect(viaRecords.putEncoded(records)).toEqual({ added: 0, duplicates: lines.length, tooLarge: 0 });
    const damaged = records.slice();
    damaged[records.length - 3] = damaged[records.length - 3]! ^ 0xff;
    const other = ResultCache.open(newDir());
    expect(() => other.putEncoded(damaged)).toThrow(/CACHE_RECORDS_DAMAGED|damaged/);
    expect(other.stats().entries).toBe(0);
    for (const c of [viaLines, viaRecords, other]) c.close();
  });

  it('persists across close and reopen (clean), with exact counts', () => {
    const dir = newDir();
    const a = ResultCache.open(dir);
    a.putMany(entriesFor(0, 500));
    const before = a.stats();
    a.close();
    a.close(); // idempotent
    const b = ResultCache.open(dir);
    expect(b.stats()).toMatchObject({
      entries: 500,
      bytes: before.bytes,
      usedSlots: before.usedSlots,
      recovery: { mode: 'clean' },
    });
    for (let i = 0; i < 500; i++) expect(b.get(idFor(i))).toBe(succeededLine(idFor(i)));
    expect(() => a.get(idFor(1))).toThrow(expect.objectContaining({ code: 'CACHE_CLOSED' }));
    b.close();
  });

  it('recovers after a crash: records whose slots never reached the disk are re-indexed from the segments', () => {
    const dir = newDir();
    const a = ResultCache.open(dir);
    a.putMany(entriesFor(0, 100));
    a.close();
    const table = join(dir, tableFile(dir));
    copyFileSync(table, `${table}.snapshot`);
    const crashed = ResultCache.open(dir);
    crashed.putMany(entriesFor(100, 200)); // durable values, then "power loss" before any table fsync:
    copyFileSync(`${table}.snapshot`, table); // the table as it was on disk
    rmSync(`${table}.snapshot`);
    const b = ResultCache.open(dir);
    const s = b.stats();
    expect(s.recovery).toMatchObject({ mode: 'recovered', reindexed: 100, truncatedBytes: 0 });
    expect(s.entries).toBe(200);
    for (let i = 0; i < 200; i++) expect(b.get(idFor(i))).toBe(succeededLine(idFor(i)));
    b.close();
  });

  it('truncates a torn tail after a crash mid-append and keeps everything before it', () => {
    const dir = newDir();
    const a = ResultCache.open(dir);
    a.putMany(entriesFor(0, 50));
    // a crash mid-putMany: the last record was half written (no close, meta stays dirty)
    const seg = join(dir, segmentFiles(dir).at(-1)!);
    const size = statSync(seg).size;
    truncateSync(seg, size - 17);
    appendFileSync(seg, Buffer.from([1, 2, 3]));
    const b = ResultCache.open(dir);
    const s = b.stats();
    expect(s.recovery.mode).toBe('recovered');
    expect(s.recovery.truncatedBytes).toBeGreaterThan(0);
    expect(s.entries).toBe(49);
    for (let i = 0; i < 49; i++) expect(b.get(idFor(i))).toBe(succeededLine(idFor(i)));
    expect(b.get(idFor(49))).toBeUndefined();
    // and it is consistent afterwards: the lost entry can be stored again, at the truncated end
    b.putMany(entriesFor(49, 60));
    b.close();
    const c = ResultCache.open(dir);
    expect(c.stats()).toMatchObject({ entries: 60, recovery: { mode: 'clean' } });
    for (let i = 0; i < 60; i++) expect(c.get(idFor(i))).toBe(succeededLine(idFor(i)));
    c.close();
  });

  it('rebuilds from the segments when the table or meta.json is damaged or gone', () => {
    const dir = newDir();
    const a = ResultCache.open(dir);
    a.putMany(entriesFor(0, 300));
    a.close();
    truncateSync(join(dir, tableFile(dir)), 1000); // torn table file
    const b = ResultCache.open(dir);
    expect(b.stats()).toMatchObject({ entries: 300, recovery: { mode: 'rebuilt', reindexed: 300 } });
    b.close();
    rmSync(join(dir, 'meta.json'));
    const c = ResultCache.open(dir);
    expect(c.stats()).toMatchObject({
      entries: 300,
      recovery: { mode: 'rebuilt', reason: expect.stringMatching(/meta/) },
    });
    for (let i = 0; i < 300; i++) expect(c.get(idFor(i))).toBe(succeededLine(idFor(i)));
    c.close();
    // a segment cut mid-record behind a clean checkpoint: rebuilt, torn record dropped
    const seg = join(dir, segmentFiles(dir).at(-1)!);
    truncateSync(seg, statSync(seg).size - 5);
    const d = ResultCache.open(dir);
    expect(d.stats()).toMatchObject({ entries: 299, recovery: { mode: 'rebuilt' } });
    expect(d.stats().recovery.truncatedBytes).toBeGreaterThan(0);
    expect(d.get(idFor(298))).toBe(succeededLine(idFor(298)));
    d.close();
  });

  it('grows its table past the 0.7 load factor (streaming rebuilds) and still finds all 60k entries', () => {
    // 60k keeps the default suite fast; `CACHE_BENCH=1 npx vitest run test/cache/bench.test.ts` goes to 1M
    const dir = newDir();
    const cache = ResultCache.open(dir);
    const short = (i: number): [string, string] => [
      idFor(i),
      JSON.stringify({ custom_id: idFor(i), result: { type: 'succeeded', message: { n: i } } }),
    ];
    const ids = Array.from({ length: 60_000 }, (_, i) => short(i));
    for (let from = 0; from < ids.length; from += 5_000) cache.putMany(ids.slice(from, from + 5_000));
    const s = cache.stats();
    expect(s.entries).toBe(60_000);
    expect(s.rebuilds).toBe(3); // 2^10 slots → 2^14 → 2^16 → 2^18
    expect(s.tableSlots).toBe(2 ** 18);
    expect(s.loadFactor).toBeLessThanOrEqual(0.7);
    let found = 0;
    for (let i = 0; i < ids.length; i += 2) if (cache.get(ids[i]![0]) === ids[i]![1]) found++;
    expect(found).toBe(30_000);
    let misses = 0;
    for (let i = 60_000; i < 61_000; i++) if (cache.get(idFor(i)) === undefined) misses++;
    expect(misses).toBe(1000);
    expect(readdirSync(dir).filter((n) => n.startsWith('index-'))).toHaveLength(1); // old tables removed
    cache.close();
  });

  it('evicts whole segments, oldest first, to stay within max entries and max bytes', () => {
    const dir = newDir();
    const cache = ResultCache.open(dir, { maxEntries: 1000 });
    for (let from = 0; from < 5000; from += 500) cache.putMany(entriesFor(from, from + 500));
    const s = cache.stats();
    expect(s.entries).toBeLessThanOrEqual(1000);
    expect(s.entries).toBeGreaterThan(1000 - 125); // granularity: one segment = 1/8 of the budget
    expect(s.evictedEntries).toBe(5000 - s.entries);
    expect(cache.get(idFor(0))).toBeUndefined();
    expect(cache.get(idFor(4999))).toBe(succeededLine(idFor(4999)));
    // stale slots of evicted segments are dropped by rebuilds: the table stays proportional to the budget
    // (sized for at most max_entries + one call's entries at load 0.35)
    expect(s.tableSlots).toBeLessThanOrEqual(8192);
    cache.close();

    const dir2 = newDir();
    const maxBytes = 64 * 1024;
    const small = ResultCache.open(dir2, { maxBytes });
    for (let from = 0; from < 3000; from += 500) small.putMany(entriesFor(from, from + 500));
    const bytesOnDisk = segmentFiles(dir2).reduce((sum, n) => sum + statSync(join(dir2, n)).size, 0);
    expect(small.stats().bytes).toBe(bytesOnDisk);
    expect(bytesOnDisk).toBeLessThanOrEqual(maxBytes);
    expect(small.get(idFor(2999))).toBeDefined();
    small.close();
    // bounds hold across reopen, with exact counts
    const again = ResultCache.open(dir2, { maxBytes });
    expect(again.stats()).toMatchObject({ bytes: bytesOnDisk, recovery: { mode: 'clean' } });
    again.close();
  });

  it('lists its entries for inspection and can be cleared', () => {
    const dir = newDir();
    const cache = ResultCache.open(dir);
    cache.putMany(entriesFor(0, 20));
    const firstThree = [...cache.entries()].slice(0, 3);
    expect(firstThree.map((e) => e.customId)).toEqual([idFor(0), idFor(1), idFor(2)]);
    expect(firstThree[0]!.line).toBe(succeededLine(idFor(0)));
    cache.clear();
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0, hits: 0 });
    expect(cache.get(idFor(0))).toBeUndefined();
    expect(segmentFiles(dir)).toEqual([]);
    cache.putMany(entriesFor(100, 101));
    expect(cache.get(idFor(100))).toBeDefined();
    cache.close();
    expect(existsSync(join(dir, 'meta.json'))).toBe(true);
  });

  it('does not cache a value above the size limit, and says so', () => {
    const cache = ResultCache.open(newDir());
    const huge = 'x'.repeat(MAX_VALUE_BYTES + 1);
    expect(cache.putMany([[idFor(1), huge]])).toEqual({ added: 0, duplicates: 0, tooLarge: 1 });
    expect(cache.get(idFor(1))).toBeUndefined();
    cache.close();
  });

  it('rejects nonsensical budgets with a config error', () => {
    expect(() => ResultCache.open(newDir(), { maxEntries: 0 })).toThrow(
      expect.objectContaining({ code: 'CACHE_OPTIONS' }),
    );
    expect(() => ResultCache.open(newDir(), { maxBytes: 1.5 })).toThrow(/max_bytes/);
  });
});
