// Guards the local folder Store: the same contract as a bucket, plus no temp names visible after a write.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { LocalStore } from '../../connector/storage/local-store.js';
import { describeStoreContract } from './store-contract.js';

describeStoreContract('LocalStore', async () => new LocalStore(mkdtempSync(join(tmpdir(), 'local-store-'))));

it('leaves no temp file behind after put, putIfAbsent (both outcomes) and publishFile', async () => {
  const root = mkdtempSync(join(tmpdir(), 'local-store-'));
  const store = new LocalStore(root);
  await store.put('d/a', '1');
  await store.putIfAbsent('d/b', '2');
  await store.putIfAbsent('d/b', '3');
  expect(readdirSync(join(root, 'd')).sort()).toEqual(['a', 'b']);
});
