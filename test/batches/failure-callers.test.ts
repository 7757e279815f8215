// Guards what each caller of classifyApiFailure() does with its answer, against the emulator with the real
// SDK: a create answered 500 after it went through is adopted, not made twice; a create refused with 429
// waits as long as the API asks and never lists; a reset create lists first; the spend cap and
// x-should-retry: false stop at once; an early 404 on retrieve is ridden out and an old one means the batch
// is lost; cancel of an unknown batch is no error; the poller's list retries a 5xx and gives up on a bad key.
// Sleeps are virtual: they only record the wait.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BatchLost,
  cancelBatch,
  submitBatch,
  waitUntilEnded,
  type LifecycleOptions,
} from '../../connector/batches/lifecycle.js';
import { BatchPoller } from '../../connector/batches/poller.js';
import { sdkBatchesApi } from '../../connector/ports/sdk-batches-api.js';
import { ConnectorError } from '../../connector/common/errors.js';
import { ask, clientFor, harnessPerTest } from '../emulator/helpers.js';

const harness = harnessPerTest();
const dir = mkdtempSync(join(tmpdir(), 'failure-callers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function requestsFile(name: string, n: number): string {
  const path = join(dir, `${name}.jsonl`);
  writeFileSync(
    path,
    Array.from({ length: n }, (_, i) => JSON.stringify(ask(`${name}-${i}`, `note ${i}`))).join('\n') + '\n',
  );
  return path;
}

/** The tests' clock: a batch's age is measured on it, never on the wall clock. */
const NOW = Date.parse('2026-06-01T00:00:00Z');

function options(patienceMs = 60_000): LifecycleOptions & { waits: number[]; logs: string[] } {
  const waits: number[] = [];
  const logs: string[] = [];
  return {
    pollIntervalMs: 1000,
    retry: { baseMs: 10, capMs: 100, patienceMs },
    sleep: async (ms) => void waits.push(ms),
    now: () => NOW,
    log: (m) => logs.push(m),
    waits,
    logs,
  };
}

const expected = (requests: number) => ({ requests, since: new Date(Date.now() - 1000), claimed: () => false });

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('submitBatch', () => {
  it('adopts the batch a create made before its 500, and never creates it twice', async () => {
    const { client, emu } = await harness();
    emu.faults.http.push({ endpoint: 'create', status: 500, afterEffect: true, retryAfterMs: 250, calls: [1] });
    const o = options();
    const submitted = await submitBatch(sdkBatchesApi(client), requestsFile('adopt', 3), expected(3), o);
    expect(submitted.reconciled).toBe(true);
    expect(emu.calls.create).toBe(1);
    expect(emu.calls.list).toBe(1);
    expect(o.waits).toEqual([250]);
    expect(o.logs.join('\n')).toMatch(/HTTP 500 api_error.*after checking whether it went through/);
  });

  it('waits out 429s as long as the API asks, past the patience, without listing', async () => {
    const { client, emu } = await harness();
    emu.faults.http.push({ endpoint: 'create', status: 429, retryAfterSeconds: 30, calls: [1, 2, 3] });
    const o = options(1000);
    const submitted = await submitBatch(sdkBatchesApi(client), requestsFile('paced', 2), expected(2), o);
    expect(submitted.reconciled).toBe(false);
    expect(o.waits).toEqual([30_000, 30_000, 30_000]);
    expect(emu.calls.create).toBe(4);
    expect(emu.calls.list).toBe(0);
  });

  it('lists before creating again after the connection was reset mid-create', async () => {
    const { client, emu } = await harness();
    emu.faults.http.push({ endpoint: 'create', resetConnection: true, calls: [1] });
    const submitted = await submitBatch(sdkBatchesApi(client), requestsFile('reset', 2), expected(2), options());
    expect(submitted.reconciled).toBe(false);
    expect(emu.calls.list).toBe(1);
    expect(emu.calls.create).toBe(2);
    expect((await client.messages.batches.list()).data).toHaveLength(1);
  });

  it('stops at once on the spend cap, as a config_error', async () => {
    const { client, emu } = await harness();
    emu.faults.http.push({ endpoint: 'create', status: 429, errorCode: 'enforced_spend_limit_reached' });
    const err = await rejection(submitBatch(sdkBatchesApi(client), requestsFile('capped', 1), expected(1), options()));
    expect(err).toBeInstanceOf(ConnectorError);
    expect(err).toMatchObject({ failureType: 'config_error', code: 'API_SPEND_LIMIT' });
    expect((err as Error).message).toMatch(
      /^creating a batch failed: HTTP 429 rate_limit_error: .*request_id req_.*spend limit is reached/,
    );
    expect(emu.calls.create).toBe(1);
  });

  it('stops at once when the API says not to retry', async () => {
    const { client, emu } = await harness();
    emu.faults.http.push({ endpoint: 'create', status: 503, shouldRetry: false });
    const err = await rejection(
      submitBatch(sdkBatchesApi(client), requestsFile('no-retry', 1), expected(1), options()),
    );
    expect(err).toMatchObject({ failureType: 'transient_error', code: 'API_503' });
    expect(emu.calls.create).toBe(1);
  });
});

describe('waitUntilEnded, cancelBatch and the poller', () => {
  it('rides out 404s right after create, and calls an old batch the API does not know lost', async () => {
    const { client, emu } = await harness();
    emu.faults.notFoundAfterCreate = 2;
    const batch = await client.messages.batches.create({ requests: [ask('young', 'hi')] });
    const o = options();
    const ended = await waitUntilEnded(sdkBatchesApi(client), batch.id, { ...o, createdAt: NOW });
    expect(ended.processing_status).toBe('ended');
    expect(o.waits).toHaveLength(2);
    const err = await rejection(
      waitUntilEnded(sdkBatchesApi(client), 'msgbatch_013NotAnIdWeMade', {
        ...options(),
        createdAt: NOW - 10 * 60_000,
      }),
    );
    expect(err).toBeInstanceOf(BatchLost);
  });

  it('cancels nothing, without an error, for a batch the API does not know; a bad key is a config_error', async () => {
    const { client, emu } = await harness();
    expect(await cancelBatch(sdkBatchesApi(client), 'msgbatch_013NotAnIdWeMade')).toBeUndefined();
    const err = await rejection(cancelBatch(sdkBatchesApi(clientFor(emu, 'not-the-key')), 'msgbatch_013NotAnIdWeMade'));
    expect(err).toMatchObject({ failureType: 'config_error', code: 'API_401' });
  });

  it('the poller retries a failed list and gives up on a bad key', async () => {
    const { client, emu } = await harness();
    const batch = await client.messages.batches.create({ requests: [ask('polled', 'hi')] });
    emu.faults.http.push({ endpoint: 'list', status: 529, calls: [1, 2] });
    const o = options();
    const ended = await new BatchPoller(sdkBatchesApi(client), o).waitUntilEnded(
      batch.id,
      Date.parse(batch.created_at),
    );
    expect(ended.processing_status).toBe('ended');
    expect(o.waits).toHaveLength(2);
    const err = await rejection(
      new BatchPoller(sdkBatchesApi(clientFor(emu, 'not-the-key')), options()).waitUntilEnded(
        batch.id,
        Date.parse(batch.created_at),
      ),
    );
    expect(err).toMatchObject({ failureType: 'config_error', code: 'API_401' });
    expect((err as Error).message).toMatch(/^listing batches to poll them failed: HTTP 401 authentication_error/);
  });
});
