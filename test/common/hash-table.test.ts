// Guards the on-disk hash table under the cache: linear probing across the table's end, stale slots, and the
// streaming rebuild (which relies on clusters appearing in hash order) must never lose an entry.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { DiskTable, keyHash, MAX_SUMMARY_SLOTS, type IsLive } from '../../connector/common/hash-table.js';
import { idFor, idWithHashPrefix, tempDir } from '../cache/helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const newTable = (bits: number) => {
  const dir = tempDir('hash-table');
  dirs.push(dir);
  return { dir, table: DiskTable.create(join(dir, 't.tbl'), bits) };
};
const hashOf = (key: string) => Buffer.from(keyHash(key, Buffer.alloc(32)).subarray(0, 16));
const live = () => true;
const find = (table: DiskTable, key: string, isLive: IsLive = live) => {
  let at: number | undefined;
  table.lookup(hashOf(key), isLive, (_segment, offset) => {
    at = offset;
    return true;
  });
  return at;
};

describe('DiskTable', () => {
  it('uses the decoded custom_id bytes as the hash, and sha256 for other keys', () => {
    const id = idFor('x');
    expect(hashOf(id)).toEqual(Buffer.from(id.slice(1), 'base64url').subarray(0, 16));
    expect(hashOf('other')).not.toEqual(hashOf('other2'));
  });

  it('finds every entry, including clusters that wrap around the end of the table', () => {
    const { table } = newTable(10);
    // 60 keys whose home is the last slot: the cluster wraps to slots 0..58
    const keys = Array.from({ length: 60 }, (_, i) => idWithHashPrefix([0xff, 0xff, 0xff, 0xff], i));
    for (let i = 0; i < 300; i++) keys.push(idFor(i));
    keys.forEach((k, i) => expect(table.insert(hashOf(k), 1, i, 10, live)).toBe('new'));
    expect(keys.filter((k, i) => find(table, k) !== i)).toEqual([]);
    expect(table.insert(hashOf(keys[0]!), 1, 999, 10, live)).toBe('present');
    expect(find(table, idFor('absent'))).toBeUndefined();
    table.close();
  });

  it('skips stale slots on lookup and reuses them on insert', () => {
    const { table } = newTable(10);
    const a = idWithHashPrefix([0x10, 0, 0, 0], 1);
    const b = idWithHashPrefix([0x10, 0, 0, 0], 2); // same home as a: probes past a's slot
    table.insert(hashOf(a), 1, 1, 10, live);
    table.insert(hashOf(b), 2, 2, 10, live);
    const only2 = (s: number) => s === 2;
    expect(find(table, a, only2)).toBeUndefined();
    expect(find(table, b, only2)).toBe(2); // found beyond the stale slot
    expect(table.insert(hashOf(a), 3, 3, 10, (s) => s !== 1)).toBe('reused');
    expect(find(table, a, (s) => s !== 1)).toBe(3);
    table.close();
  });

  it('rebuilds into larger and smaller tables without losing a live entry, dropping stale ones', () => {
    const { dir, table } = newTable(12);
    const keys: string[] = [];
    // adversarial: a dense cluster wrapping the end, a dense one in the middle, and random keys (load ≈ 0.5)
    for (let i = 0; i < 40; i++) keys.push(idWithHashPrefix([0xff, 0xff, 0xf0 + (i % 16), 0], i));
    for (let i = 0; i < 40; i++) keys.push(idWithHashPrefix([0x80, 0x00, i % 256, 0], 1000 + i));
    for (let i = 0; i < 1970; i++) keys.push(idFor(i));
    keys.forEach((k, i) => table.insert(hashOf(k), i % 3 === 0 ? 7 : 1, i, 10, live));
    const isLive = (s: number) => s !== 7;
    for (const [bits, name] of [
      [13, 'grow'],
      [12, 'same'],
      [11, 'shrink'],
    ] as const) {
      const { table: next, used } = table.rebuildInto(join(dir, `${name}.tbl`), bits, isLive);
      expect(used).toBe(keys.filter((_, i) => i % 3 !== 0).length);
      const wrong = keys.filter((k, i) => find(next, k) !== (i % 3 === 0 ? undefined : i));
      expect(wrong).toEqual([]);
      next.close();
    }
    table.close();
  });

  it('answers exactly as a table without its in-memory summary, through stale slots, rebuilds and reopening', () => {
    // Keys drawn from a small pool (so inserts repeat and collide) plus keys sharing home slots; segments
    // 1..4, of which a random set is evicted at each step (their slots go stale).
    const pool = [
      ...Array.from({ length: 150 }, (_, i) => idFor(`k${i}`)),
      ...Array.from({ length: 40 }, (_, i) => idWithHashPrefix([0x40, 0, 0, 0], i)),
    ];
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('insert' as const),
        key: fc.nat(pool.length - 1),
        segment: fc.integer({ min: 1, max: 4 }),
      }),
      fc.record({ kind: fc.constant('lookup' as const), key: fc.nat(pool.length - 1) }),
      fc.record({ kind: fc.constant('evict' as const), segment: fc.integer({ min: 1, max: 4 }) }),
      fc.record({ kind: fc.constant('rebuild' as const) }),
      fc.record({ kind: fc.constant('reopen' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 400 }), (ops) => {
        const dir = tempDir('hash-table-summary');
        dirs.push(dir);
        let gen = 0;
        let plain = DiskTable.create(join(dir, 'plain-0.tbl'), 10, { summary: false });
        let quick = DiskTable.create(join(dir, 'quick-0.tbl'), 10);
        expect([plain.summarised, quick.summarised]).toEqual([false, true]);
        const evicted = new Set<number>();
        const isLive = (segment: number) => !evicted.has(segment);
        let used = 0;
        let offset = 0;
        const check = () => {
          for (const key of pool) expect(find(quick, key, isLive)).toBe(find(plain, key, isLive));
        };
        for (const o of ops) {
          if (o.kind === 'insert') {
            if (used >= 0.7 * plain.slots) continue; // the cache rebuilds before this load
            offset++;
            const [a, b] = [
              plain.insert(hashOf(pool[o.key]!), o.segment, offset, 10, isLive),
              quick.insert(hashOf(pool[o.key]!), o.segment, offset, 10, isLive),
            ];
            // The summarised table may take an empty slot where the plain one reuses a stale slot: both file the key.
            expect(a === 'present').toBe(b === 'present');
            if (b === 'new') used++;
          } else if (o.kind === 'lookup') {
            expect(find(quick, pool[o.key]!, isLive)).toBe(find(plain, pool[o.key]!, isLive));
          } else if (o.kind === 'evict') {
            evicted.add(o.segment);
          } else if (o.kind === 'rebuild') {
            gen++;
            const next = [
              plain.rebuildInto(join(dir, `plain-${gen}.tbl`), 10, isLive),
              quick.rebuildInto(join(dir, `quick-${gen}.tbl`), 10, isLive),
            ];
            plain.close();
            quick.close();
            [plain, quick] = [next[0]!.table, next[1]!.table];
            used = next[1]!.used;
          } else {
            plain.close();
            quick.close();
            plain = DiskTable.open(plain.path, 10, { summary: false })!;
            quick = DiskTable.open(quick.path, 10)!;
          }
        }
        check();
        plain.close();
        quick.close();
      }),
      { numRuns: 60 },
    );
  });

  it('holds slot writes back until flushWrites, reads them meanwhile, and writes them merged without disturbing the slots between', () => {
    const { dir, table } = newTable(12);
    const path = join(dir, 't.tbl');
    const first = Array.from({ length: 1500 }, (_, i) => idFor(`a${i}`));
    const second = Array.from({ length: 1000 }, (_, i) => idFor(`b${i}`));
    first.forEach((k, i) => table.insert(hashOf(k), 1, i, 10, live));
    table.flushWrites();
    second.forEach((k, i) => table.insert(hashOf(k), 2, i, 10, live));
    const onDisk = () => DiskTable.open(path, 12, { summary: false })!;
    // Another handle reads the file alone: the second lot is not there yet, the first is.
    const before = onDisk();
    expect(first.filter((k, i) => find(before, k) !== i)).toEqual([]);
    expect(second.filter((k) => find(before, k) !== undefined)).toEqual([]);
    before.close();
    // This handle sees its own writes at once.
    expect([...first, ...second].filter((k) => find(table, k) === undefined)).toEqual([]);
    // A slot turned stale while held stays stale when written. `extra` lands on the first empty slot from its home.
    table.flushWrites();
    const extra = idFor('extra');
    const gone = idFor('gone');
    const emptyFrom = (home: number) => {
      const filled = new Set<number>();
      table.forEach((buf, at, index) => {
        if (buf.readUInt32LE(at + 16) !== 0) filled.add(index);
      });
      let i = home;
      while (filled.has(i)) i = (i + 1) % table.slots;
      return i;
    };
    const goneAt = emptyFrom(table.home(hashOf(gone)));
    table.insert(hashOf(gone), 3, 41, 10, live);
    table.insert(hashOf(extra), 3, 42, 10, live);
    table.markStale(goneAt);
    const staleKey = gone;
    const notStale = (s: number) => s !== 0xffffffff;
    table.flushWrites();
    const after = onDisk();
    expect(first.filter((k, i) => find(after, k) !== i)).toEqual([]);
    expect(second.filter((k, i) => find(after, k) !== i)).toEqual([]);
    expect(find(after, staleKey, notStale)).toBeUndefined();
    expect(find(after, extra)).toBe(42);
    // Every slot on disk is what the writing handle sees.
    const seen: Buffer[] = [];
    table.forEach((buf, at) => seen.push(Buffer.from(buf.subarray(at, at + 32))));
    const disk: Buffer[] = [];
    after.forEach((buf, at) => disk.push(Buffer.from(buf.subarray(at, at + 32))));
    expect(Buffer.concat(disk).equals(Buffer.concat(seen))).toBe(true);
    after.close();
    table.close();
  });

  it('writes held slots out by itself once 65,536 are held, and on close', () => {
    const { dir, table } = newTable(17);
    const keys = Array.from({ length: 70_000 }, (_, i) => idFor(`many${i}`));
    keys.forEach((k, i) => table.insert(hashOf(k), 1, i, 10, live));
    const reader = DiskTable.open(join(dir, 't.tbl'), 17, { summary: false })!;
    const written = keys.filter((k) => find(reader, k) !== undefined).length;
    expect(written).toBe(65_536);
    reader.close();
    table.close();
    const reopened = DiskTable.open(join(dir, 't.tbl'), 17)!;
    expect(keys.filter((k, i) => find(reopened, k) !== i)).toEqual([]);
    reopened.close();
  });

  it('keeps no summary for tables beyond MAX_SUMMARY_SLOTS (they probe on disk as before)', () => {
    expect(MAX_SUMMARY_SLOTS).toBe(2 ** 25);
    const { table } = newTable(10);
    expect(table.summarised).toBe(true);
    table.close();
  });

  it('refuses to open a file of the wrong size or kind', () => {
    const { dir, table } = newTable(10);
    table.close();
    expect(DiskTable.open(join(dir, 't.tbl'), 11)).toBeUndefined();
    expect(DiskTable.open(join(dir, 'missing.tbl'), 10)).toBeUndefined();
    const ok = DiskTable.open(join(dir, 't.tbl'), 10);
    expect(ok?.slots).toBe(1024);
    ok?.close();
  });
});
