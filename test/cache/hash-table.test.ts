// Guards the on-disk hash table under the cache: linear probing across the table's end, stale slots, and the
// streaming rebuild (which relies on clusters appearing in hash order) must never lose an entry.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DiskTable, keyHash, type IsLive } from '../../connector/cache/hash-table.js';
import { idFor, idWithHashPrefix, tempDir } from './helpers.js';

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
    for (const [bits, name] of [[13, 'grow'], [12, 'same'], [11, 'shrink']] as const) {
      const { table: next, used } = table.rebuildInto(join(dir, `${name}.tbl`), bits, isLive);
      expect(used).toBe(keys.filter((_, i) => i % 3 !== 0).length);
      const wrong = keys.filter((k, i) => find(next, k) !== (i % 3 === 0 ? undefined : i));
      expect(wrong).toEqual([]);
      next.close();
    }
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
