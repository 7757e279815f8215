// One writer per object-store destination: the lease in generations. A live lease keeps a second writer out,
// a given-back, expired or dead one is taken by exactly one writer, and a holder that lost it finds out.
import { hostname } from 'node:os';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { StoreLease } from '../../connector/journal/lease.js';
import { LEASE_MS } from '../../connector/journal/lock.js';
import { LocalStore } from '../../connector/storage/local-store.js';
import type { Store } from '../../connector/storage/store.js';
import { tempDir } from '../helpers/cli.js';
import { GatedStore } from './gated-store.js';

const PREFIX = '_claude_batch/lease';
/** Another pod: another host name, maybe the same pid (every container's connector may be pid 1). */
const podB = { pid: process.pid, host: 'pod-b' };
const podC = { pid: process.pid, host: 'pod-c' };

async function leaseObjects(store: Store): Promise<Array<{ key: string; body: Record<string, unknown> }>> {
  const out = [];
  for await (const o of store.list(`${PREFIX}/`))
    out.push({
      key: o.key.slice(PREFIX.length + 1),
      body: JSON.parse((await store.get(o.key))!.toString()) as Record<string, unknown>,
    });
  return out;
}

function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

describe('StoreLease', () => {
  it('keeps a second writer out while the first holds it, and gives it to the next once released', async () => {
    const store = new LocalStore(tempDir('claude-batch-lease-'));
    const first = await StoreLease.acquire(store, PREFIX);
    await expect(StoreLease.acquire(store, PREFIX, { identity: podB })).rejects.toMatchObject({
      code: 'DESTINATION_BUSY',
      failureType: 'config_error',
    });
    await first.release();
    const second = await StoreLease.acquire(store, PREFIX, { identity: podB });
    // The released generation is cleared by the next holder: the listing stays one object long.
    expect((await leaseObjects(store)).map((o) => [o.key, o.body.host])).toEqual([['0000000002.json', 'pod-b']]);
    await second.release();
    expect((await leaseObjects(store))[0]!.body.released).toBe(true);
  });

  it('is taken over once its holder on another host stops renewing it for LEASE_MS, and the old holder learns it lost it', async () => {
    const store = new LocalStore(tempDir('claude-batch-lease-'));
    const stalled = await StoreLease.acquire(store, PREFIX, { identity: podB });
    // Renewed just inside the lease: still live.
    const [own] = await leaseObjects(store);
    await store.put(
      `${PREFIX}/${own!.key}`,
      JSON.stringify({ ...own!.body, renewed_at: new Date(Date.now() - LEASE_MS + 30_000).toISOString() }),
    );
    await expect(StoreLease.acquire(store, PREFIX, { identity: podC })).rejects.toMatchObject({
      code: 'DESTINATION_BUSY',
    });
    // Not renewed for longer than the lease: pod C takes it.
    await store.put(
      `${PREFIX}/${own!.key}`,
      JSON.stringify({ ...own!.body, renewed_at: new Date(Date.now() - LEASE_MS - 1000).toISOString() }),
    );
    const taker = await StoreLease.acquire(store, PREFIX, { identity: podC });
    expect(stalled.lost.aborted).toBe(false);
    await stalled.renew();
    expect(stalled.lost.aborted).toBe(true);
    expect(stalled.lost.reason).toMatchObject({ code: 'LEASE_LOST' });
    // The loser neither renews nor releases what is no longer its own.
    await stalled.release();
    expect((await leaseObjects(store)).map((o) => [o.body.host, o.body.released])).toEqual([['pod-c', undefined]]);
    await taker.renew();
    expect(taker.lost.aborted).toBe(false);
    await taker.release();
  });

  it('is free at once when its holder on this host is dead (a killed process on the same machine)', async () => {
    const store = new LocalStore(tempDir('claude-batch-lease-'));
    await store.put(
      `${PREFIX}/0000000007.json`,
      JSON.stringify({ owner: 'x', pid: deadPid(), host: hostname(), renewed_at: new Date().toISOString() }),
    );
    const lease = await StoreLease.acquire(store, PREFIX);
    expect((await leaseObjects(store)).map((o) => o.key)).toEqual(['0000000008.json']);
    await lease.release();
  });

  it('gives a stale lease to exactly one of two writers that find it at the same moment', async () => {
    const inner = new LocalStore(tempDir('claude-batch-lease-'));
    await inner.put(
      `${PREFIX}/0000000003.json`,
      JSON.stringify({ owner: 'x', pid: 1, host: 'gone', renewed_at: new Date(0).toISOString() }),
    );
    const store = new GatedStore(inner);
    // Both writers have read the stale lease before either creates the next generation.
    store.hold('putIfAbsent');
    const b = StoreLease.acquire(store, PREFIX, { identity: podB }).then(
      (l) => l,
      (err: unknown) => err,
    );
    const c = StoreLease.acquire(store, PREFIX, { identity: podC }).then(
      (l) => l,
      (err: unknown) => err,
    );
    await store.reached('putIfAbsent', 2);
    store.release('putIfAbsent');
    const outcomes = await Promise.all([b, c]);
    const held = outcomes.filter((o): o is StoreLease => o instanceof StoreLease);
    expect(held).toHaveLength(1);
    expect(outcomes.find((o) => !(o instanceof StoreLease))).toMatchObject({ code: 'DESTINATION_BUSY' });
    const objects = await leaseObjects(inner);
    expect(objects.map((o) => o.key)).toEqual(['0000000004.json']);
    await held[0]!.release();
  });

  it('watches a lease another host renewed a moment ago: taken once it expires unrenewed (a killed pod), refused once renewed (a live one)', async () => {
    // A clock the test moves: each sleep the lease asks for passes at once and moves it on.
    const clock = { now: Date.now() };
    const slept: number[] = [];
    const sleep = (onSleep?: () => Promise<void>) => async (ms: number) => {
      slept.push(ms);
      clock.now += ms;
      await onSleep?.();
    };
    const options = { patienceMs: LEASE_MS + 20_000, now: () => clock.now, identity: podC };

    const dead = new LocalStore(tempDir('claude-batch-lease-'));
    await dead.put(
      `${PREFIX}/0000000001.json`,
      JSON.stringify({
        owner: 'killed',
        pid: 1,
        host: 'pod-b',
        renewed_at: new Date(clock.now - 10_000).toISOString(),
      }),
    );
    const taken = await StoreLease.acquire(dead, PREFIX, { ...options, sleep: sleep() });
    expect(slept.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(LEASE_MS - 10_000);
    expect((await leaseObjects(dead)).map((o) => [o.key, o.body.host])).toEqual([['0000000002.json', 'pod-c']]);
    await taken.release();

    const live = new LocalStore(tempDir('claude-batch-lease-'));
    const holder = await StoreLease.acquire(live, PREFIX, { identity: podB });
    // The holder renews by the real clock: the watcher's starts from it again.
    clock.now = Date.now();
    slept.length = 0;
    await expect(
      StoreLease.acquire(live, PREFIX, { ...options, sleep: sleep(() => holder.renew()) }),
    ).rejects.toMatchObject({ code: 'DESTINATION_BUSY' });
    expect(slept).toHaveLength(1);
    expect(holder.lost.aborted).toBe(false);
    await holder.release();
  });

  it('gives back nothing and throws nothing when the store is gone at release (the run failed on it): the lease is left to expire', async () => {
    const inner = new LocalStore(tempDir('claude-batch-lease-'));
    let gone = false;
    const store: Store = Object.assign(Object.create(inner) as Store, {
      get: (key: string) => (gone ? Promise.reject(new Error('connect ECONNREFUSED')) : inner.get(key)),
      put: (key: string, body: string | Uint8Array) =>
        gone ? Promise.reject(new Error('connect ECONNREFUSED')) : inner.put(key, body),
    });
    const lease = await StoreLease.acquire(store, PREFIX, { identity: podB });
    gone = true;
    await expect(lease.release()).resolves.toBeUndefined();
    expect((await leaseObjects(inner))[0]!.body.released).toBeUndefined();
  });

  it('ends a wait for a lease another host may have left as soon as the run is asked to stop, taking nothing', async () => {
    const store = new LocalStore(tempDir('claude-batch-lease-'));
    const holder = await StoreLease.acquire(store, PREFIX, { identity: podB });
    const before = await leaseObjects(store);
    const stop = new AbortController();
    const waits: string[] = [];
    // A sleep that never ends by itself, and the stop request (SIGTERM) arriving while it runs.
    const attempt = StoreLease.acquire(store, PREFIX, {
      identity: podC,
      patienceMs: LEASE_MS + 20_000,
      signal: stop.signal,
      onWait: (message) => waits.push(message),
      sleep: () => {
        stop.abort();
        return new Promise<void>(() => undefined);
      },
    });
    await expect(attempt).rejects.toMatchObject({ code: 'INTERRUPTED', failureType: 'transient_error' });
    expect(waits).toEqual([expect.stringMatching(/^waiting up to 140 s for the write lease: pid \d+ on pod-b /)]);
    expect(await leaseObjects(store)).toEqual(before);
    expect(holder.lost.aborted).toBe(false);
    await holder.release();
  });
});
