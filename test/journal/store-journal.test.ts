// The run journal on an object store: one object per entry, created only if absent. What is acknowledged is
// read back in order by any process; a second writer cannot append entry N, and a damaged journal is refused.
import { describe, expect, it } from 'vitest';
import { StoreJournal, entryKey } from '../../connector/journal/store-journal.js';
import type { JournalEntry } from '../../connector/journal/journal.js';
import { LocalStore } from '../../connector/storage/local-store.js';
import type { Store } from '../../connector/storage/store.js';
import { tempDir } from '../helpers/cli.js';
import { GatedStore } from './gated-store.js';

const started = {
  type: 'run_started',
  run_id: 'r',
  config_fingerprint: 'c',
  request_fingerprint: 'q',
  wait: 'until_done',
  at: '2026-01-01T00:00:00Z',
} as const;
const sealed = (seq: number): JournalEntry => ({ type: 'batch_sealed', seq, records: 1, requests: 1, bytes: 10 });
const PREFIX = '_claude_batch/runs/r/journal';

async function keys(store: Store, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

describe('StoreJournal', () => {
  it('keeps entries in the order append() was called, even when not awaited one by one, and a reopened journal appends after them', async () => {
    const store = new LocalStore(tempDir('claude-batch-sj-'));
    const journal = await StoreJournal.open(store, PREFIX);
    await Promise.all([journal.append(started), journal.append(sealed(0)), journal.append(sealed(1))]);
    const again = await StoreJournal.open(store, PREFIX);
    await again.append({ type: 'batch_submitting', seq: 0, round: 0, at: '2026-01-01T00:01:00Z' });
    expect((await StoreJournal.read(store, PREFIX)).map((e) => [e.type, 'seq' in e ? e.seq : null])).toEqual([
      ['run_started', null],
      ['batch_sealed', 0],
      ['batch_sealed', 1],
      ['batch_submitting', 0],
    ]);
    expect(await keys(store, `${PREFIX}/`)).toEqual([0, 1, 2, 3].map((n) => entryKey(PREFIX, n)));
  });

  it('resolves an append only once its object is stored: journal before act', async () => {
    const gated = new GatedStore(new LocalStore(tempDir('claude-batch-sj-')));
    const journal = await StoreJournal.open(gated, PREFIX);
    gated.hold('putIfAbsent');
    let acknowledged = false;
    const appended = journal.append(started).then(() => (acknowledged = true));
    await gated.reached('putIfAbsent');
    expect(acknowledged).toBe(false);
    expect(await gated.inner.get(entryKey(PREFIX, 0))).toBeUndefined();
    gated.release('putIfAbsent');
    await appended;
    expect(acknowledged).toBe(true);
    expect(await StoreJournal.read(gated.inner, PREFIX)).toEqual([started]);
  });

  it('refuses entry N to a second writer, which then appends nothing more', async () => {
    const store = new LocalStore(tempDir('claude-batch-sj-'));
    const first = await StoreJournal.open(store, PREFIX);
    const second = await StoreJournal.open(store, PREFIX);
    await first.append(started);
    await expect(second.append(started)).rejects.toMatchObject({
      code: 'JOURNAL_CONFLICT',
      failureType: 'system_error',
    });
    await first.append(sealed(0));
    await expect(second.append(sealed(7))).rejects.toMatchObject({ code: 'JOURNAL_CONFLICT' });
    expect(await StoreJournal.read(store, PREFIX)).toEqual([started, sealed(0)]);
  });

  it('takes back its own entry when a retried write finds it already there', async () => {
    const store = new LocalStore(tempDir('claude-batch-sj-'));
    // A server that stored the first try but whose answer was lost: the retry finds the object present.
    const flaky: Store = Object.assign(Object.create(store) as Store, {
      putIfAbsent: async (key: string, body: string | Uint8Array) => {
        await store.putIfAbsent(key, body);
        return false;
      },
    });
    const journal = await StoreJournal.open(flaky, PREFIX);
    await journal.append(started);
    await journal.append(sealed(0));
    expect(await StoreJournal.read(store, PREFIX)).toEqual([started, sealed(0)]);
  });

  it('refuses a journal with a missing or unreadable entry that others follow', async () => {
    const store = new LocalStore(tempDir('claude-batch-sj-'));
    const journal = await StoreJournal.open(store, PREFIX);
    for (const e of [started, sealed(0), sealed(1)]) await journal.append(e);
    await store.put(entryKey(PREFIX, 1), '{"w":"x","e":{"type":');
    await expect(StoreJournal.read(store, PREFIX)).rejects.toMatchObject({ code: 'JOURNAL_DAMAGED' });
    await store.delete([entryKey(PREFIX, 1)]);
    await expect(StoreJournal.read(store, PREFIX)).rejects.toMatchObject({ code: 'JOURNAL_DAMAGED' });
  });
});
