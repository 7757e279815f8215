// Guards the emulator's account model: the scaled API clock, the latency model, and the tier limits (RPM token
// bucket, processing queue, spend cap) answered as the API does: 429 rate_limit_error with retry-after, or the
// spend-cap 429 with error_code and no retry-after. Time moves only by advance() or an injected wall clock.
import { RateLimitError } from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { latencyFor } from '../../emulator/latency.js';
import { limitsFrom } from '../../emulator/cli.js';
import { ask, failure, harnessPerTest, HOUR_MS } from './helpers.js';

const harness = harnessPerTest();
const requests = (n: number, tag = 'r') => Array.from({ length: n }, (_, i) => ask(`${tag}-${i}`, `note ${i}`));

describe('scaled clock', () => {
  it('runs API time `factor` times faster than the wall clock: an hour-long batch ends after a wall second', async () => {
    let wall = 1_700_000_000_000;
    const { client } = await harness({ clockFactor: 3600, now: () => wall, processingMs: HOUR_MS });
    const created = await client.messages.batches.create({ requests: requests(3) });
    wall += 999;
    expect((await client.messages.batches.retrieve(created.id)).processing_status).toBe('in_progress');
    wall += 1;
    const ended = await client.messages.batches.retrieve(created.id);
    expect(ended.processing_status).toBe('ended');
    // Every timestamp is API time: ended an hour after it was created, expiring 24 API hours after.
    expect(Date.parse(ended.ended_at!) - Date.parse(ended.created_at)).toBe(HOUR_MS);
    expect(Date.parse(ended.expires_at) - Date.parse(ended.created_at)).toBe(24 * HOUR_MS);
  });

  it('expires a batch whose drawn duration passes 24 h: the processed part succeeds, the rest is expired', async () => {
    const { client, emu } = await harness({ latency: { expireShare: 1 } });
    const created = await client.messages.batches.create({ requests: requests(10) });
    emu.advance(24 * HOUR_MS);
    const ended = await client.messages.batches.retrieve(created.id);
    expect(ended.request_counts).toMatchObject({ succeeded: 5, expired: 5 });
  });
});

describe('latency model', () => {
  it('is seeded, grows with batch size, and mostly ends within an hour with some longer', () => {
    const draw = latencyFor({}, 7);
    expect(draw(3, 10_000)).toBe(latencyFor({}, 7)(3, 10_000));
    const durations = Array.from({ length: 1000 }, (_, i) => draw(i, 10_000));
    const underHour = durations.filter((d) => d < HOUR_MS).length / durations.length;
    expect(underHour).toBeGreaterThan(0.8);
    expect(durations.some((d) => d > HOUR_MS)).toBe(true);
    expect(Math.max(...durations)).toBeLessThan(24 * HOUR_MS);
    expect(
      latencyFor({ sigma: 0, slowShare: 0 }, 1)(0, 20_000) - latencyFor({ sigma: 0, slowShare: 0 }, 1)(0, 10_000),
    ).toBe(10_000 * 60);
  });
});

describe('tier limits', () => {
  it('refuses calls past the RPM bucket with 429 rate_limit_error and retry-after, and lets them through once it refills', async () => {
    const { client, emu } = await harness({ limits: { requestsPerMinute: 60, burstSeconds: 5 } });
    for (let i = 0; i < 5; i++) await client.messages.batches.list({ limit: 1 });
    const refused = await failure(client.messages.batches.list({ limit: 1 }));
    expect(refused).toBeInstanceOf(RateLimitError);
    expect((refused as RateLimitError).type).toBe('rate_limit_error');
    expect((refused as RateLimitError).headers?.get('retry-after')).toBe('1');
    // count_tokens is not a batch endpoint: not counted.
    await client.messages.countTokens({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'hi' }] });
    emu.advance(1000);
    await client.messages.batches.list({ limit: 1 });
    expect(emu.limitStats()).toMatchObject({ accepted: 6, refusedRpm: 1, peakRpm: 6 });
  });

  it('refuses a create that would overfill the processing queue until earlier batches end', async () => {
    const { client, emu } = await harness({
      processingMs: HOUR_MS,
      limits: { maxQueuedRequests: 5, queueRetryAfterSeconds: 30 },
    });
    await client.messages.batches.create({ requests: requests(3, 'a') });
    const refused = await failure(client.messages.batches.create({ requests: requests(3, 'b') }));
    expect(refused).toBeInstanceOf(RateLimitError);
    expect((refused as RateLimitError).headers?.get('retry-after')).toBe('30');
    await client.messages.batches.create({ requests: requests(2, 'c') });
    emu.advance(HOUR_MS);
    await client.messages.batches.create({ requests: requests(3, 'b') });
    expect(emu.limitStats()).toMatchObject({ refusedQueue: 1, peakQueued: 5 });
  });

  it('answers the spend cap with error_code enforced_spend_limit_reached and no retry-after, on creates only', async () => {
    const { client } = await harness({ limits: { spendCapUsd: 1e-9 } });
    const first = await client.messages.batches.create({ requests: requests(2) });
    const refused = await failure(client.messages.batches.create({ requests: requests(2, 'x') }));
    expect(refused).toBeInstanceOf(RateLimitError);
    expect((refused as RateLimitError).errorCode).toBe('enforced_spend_limit_reached');
    expect((refused as RateLimitError).headers?.get('retry-after')).toBeNull();
    expect((await client.messages.batches.retrieve(first.id)).id).toBe(first.id);
  });

  it('takes a tier from the CLI options, single limits overriding it', () => {
    expect(limitsFrom({ tier: 'start' })).toEqual({
      requestsPerMinute: 1000,
      maxQueuedRequests: 200_000,
      spendCapUsd: 500,
    });
    expect(limitsFrom({ tier: 'build', rpm: 50 })).toMatchObject({ requestsPerMinute: 50, maxQueuedRequests: 300_000 });
    expect(limitsFrom({})).toBeUndefined();
    expect(() => limitsFrom({ tier: 'gold' })).toThrow(/--tier/);
  });
});
