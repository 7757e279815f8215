// The behaviour every Store must have, run against each implementation (local folder, S3 bucket).
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Store } from '../../connector/storage/store.js';

async function keys(store: Store, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

export function describeStoreContract(name: string, open: () => Promise<Store>): void {
  describe(`${name}: the Store contract`, () => {
    const scratch = () => mkdtempSync(join(tmpdir(), 'store-contract-'));

    it('put then get returns the same bytes; a missing key reads as undefined', async () => {
      const store = await open();
      const bytes = Buffer.from([0, 1, 2, 255, 0x0a]);
      await store.put('a/b/c.bin', bytes);
      expect(await store.get('a/b/c.bin')).toEqual(bytes);
      await store.put('a/b/c.bin', 'replaced');
      expect((await store.get('a/b/c.bin'))?.toString()).toBe('replaced');
      expect(await store.get('a/b/none')).toBeUndefined();
    });

    it('putIfAbsent writes once and refuses a second writer without changing the object', async () => {
      const store = await open();
      expect(await store.putIfAbsent('lease/owner', 'first')).toBe(true);
      expect(await store.putIfAbsent('lease/owner', 'second')).toBe(false);
      expect((await store.get('lease/owner'))?.toString()).toBe('first');
    });

    it('publishFile makes a local file visible whole and consumes it', async () => {
      const store = await open();
      const local = join(scratch(), 'part.parquet');
      const body = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
      writeFileSync(local, body);
      await store.publishFile(local, 'orders/run_id=r1/part-0.parquet');
      expect(existsSync(local)).toBe(false);
      expect((await store.get('orders/run_id=r1/part-0.parquet'))?.equals(body)).toBe(true);
      const copy = join(scratch(), 'copy');
      expect(await store.download('orders/run_id=r1/part-0.parquet', copy)).toBe(true);
      expect(readFileSync(copy).equals(body)).toBe(true);
      expect(await store.download('orders/none', copy)).toBe(false);
    });

    it('lists by prefix in key order, with sizes, and deletes in bulk', async () => {
      const store = await open();
      for (const k of ['p/run_id=2/x', 'p/run_id=1/y', 'p/run_id=1/x', 'q/z', 'p2/w']) await store.put(k, k);
      const listed: Array<[string, number]> = [];
      for await (const o of store.list('p/')) listed.push([o.key, o.size]);
      expect(listed).toEqual([
        ['p/run_id=1/x', 12],
        ['p/run_id=1/y', 12],
        ['p/run_id=2/x', 12],
      ]);
      expect(await keys(store, 'p/run_id=1/')).toEqual(['p/run_id=1/x', 'p/run_id=1/y']);
      expect(await keys(store, 'nothing/')).toEqual([]);
      await store.delete(['p/run_id=1/x', 'p/run_id=1/y', 'p/never']);
      expect(await keys(store, 'p/')).toEqual(['p/run_id=2/x']);
    });

    it('refuses malformed keys', async () => {
      const store = await open();
      for (const bad of ['', '/abs', 'a/../b', 'a//b', 'a/./b', 'dir/'])
        await expect(store.put(bad, 'x')).rejects.toThrow(/not a storage key/);
    });
  });
}
