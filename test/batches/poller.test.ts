// Guards polling at scale: with 200 batches in flight, one list call per poll interval sees them all, so the
// calls per minute to the batch endpoints stay flat (here 2 a minute against a 60 RPM account) whatever the
// number of batches; each batch is handed over as soon as a poll sees it ended. Virtual time: the poller's
// sleep moves the emulator's clock, so nothing depends on timing.
import { describe, expect, it } from 'vitest';
import type { MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';
import { BatchPoller } from '../../connector/batches/poller.js';
import { sdkBatchesApi } from '../../connector/ports/sdk-batches-api.js';
import { ask, harnessPerTest } from '../emulator/helpers.js';

const harness = harnessPerTest();
const MINUTE = 60_000;

describe('BatchPoller', () => {
  it('keeps 200 batches in flight within a 60 RPM budget: one list call per interval, none per batch', async () => {
    // Batch i ends i+1 minutes after it is created; the bucket holds four minutes of calls so the 200 creates fit.
    const { client, emu } = await harness({
      processingMs: (i) => (i + 1) * MINUTE,
      limits: { requestsPerMinute: 60, burstSeconds: 240 },
    });
    const created: MessageBatch[] = [];
    for (let i = 0; i < 200; i++)
      created.push(await client.messages.batches.create({ requests: [ask(`r${i}`, `note ${i}`)] }));
    const before = emu.limitStats().accepted;
    const start = emu.now();
    const poller = new BatchPoller(sdkBatchesApi(client), {
      pollIntervalMs: 30_000,
      retry: { baseMs: 1000, capMs: 60_000, patienceMs: 60_000 },
      sleep: async (ms) => emu.advance(ms),
      now: () => emu.now(),
      log: () => undefined,
    });
    const endedAt = new Map<string, number>();
    await Promise.all(
      created.map((b) =>
        poller.waitUntilEnded(b.id, Date.parse(b.created_at)).then((e) => endedAt.set(e.id, emu.now())),
      ),
    );
    const minutes = (emu.now() - start) / MINUTE;
    // 200 minutes of processing, polled every 30 s: ~400 list calls in all, none per batch.
    expect(minutes).toBeGreaterThanOrEqual(200);
    expect(minutes).toBeLessThanOrEqual(201);
    expect(emu.calls.retrieve).toBe(0);
    expect(poller.calls).toBe(emu.limitStats().accepted - before);
    expect(poller.calls / minutes).toBeLessThanOrEqual(2.05);
    expect(emu.limitStats().refusedRpm).toBe(0);
    // Each batch is seen ended within one poll interval of its end.
    for (const [i, b] of created.entries())
      expect(endedAt.get(b.id)! - (Date.parse(b.created_at) + (i + 1) * MINUTE)).toBeLessThanOrEqual(30_000);
  });

  it('looks up a batch the list does not show on its own, and reports one that is gone', async () => {
    const { client, emu } = await harness({ processingMs: MINUTE });
    const batch = await client.messages.batches.create({ requests: [ask('a', 'x')] });
    const poller = new BatchPoller(sdkBatchesApi(client), {
      pollIntervalMs: 30_000,
      retry: { baseMs: 1, capMs: 5, patienceMs: 100 },
      sleep: async (ms) => emu.advance(ms),
      now: () => emu.now(),
      log: () => undefined,
    });
    // An id the API never made (created long ago, so its 404 is not an early one): BatchLost.
    const missing = poller.waitUntilEnded('msgbatch_01nonexistent', Date.parse(batch.created_at) - 3_600_000_000);
    const found = poller.waitUntilEnded(batch.id, Date.parse(batch.created_at));
    await expect(missing).rejects.toMatchObject({ name: 'BatchLost' });
    expect((await found).processing_status).toBe('ended');
  });
});
