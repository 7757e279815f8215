// Guards the two rules that let a sync ride the API's limits: a pacing 429 waits as long as the API asks and
// never uses up the outage patience (the spend cap is not pacing), and admission control reserves queue room
// per create, learns from refusals and wakes waiting creates when a batch ends. Virtual sleeps only.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { classifyApiFailure } from '../../connector/batches/api-failure.js';
import { withRetry } from '../../connector/batches/retry.js';
import { submitBatch } from '../../connector/batches/lifecycle.js';
import { QueueAdmission } from '../../connector/pipeline/admission.js';
import { tempDir } from '../helpers/cli.js';
import { FakeBatchesApi, ManualClock } from '../pipeline/fakes.js';

const rateLimited = (errorCode?: string) =>
  Anthropic.APIError.generate(
    429,
    {
      type: 'error',
      error: {
        type: 'rate_limit_error',
        message: 'slow down',
        ...(errorCode ? { details: { error_code: errorCode } } : {}),
      },
    },
    undefined,
    new Headers({ 'retry-after': '60' }),
  );

describe('pacing 429s', () => {
  const action = (err: unknown) => classifyApiFailure(err, { call: 'create' }).action;

  it('are told apart from the spend cap', () => {
    expect(action(rateLimited())).toBe('pace');
    expect(action(rateLimited('enforced_spend_limit_reached'))).toBe('give_up');
    expect(classifyApiFailure(rateLimited('enforced_spend_limit_reached'), { call: 'create' }).kind).toBe(
      'spend_limit',
    );
    expect(action(Anthropic.APIError.generate(529, undefined, undefined, new Headers()))).toBe('reconcile');
  });

  it('are waited out far beyond the patience, which still bounds an outage', async () => {
    let waited = 0;
    const sleep = async (ms: number) => void (waited += ms);
    let calls = 0;
    // 100 refusals of 60 s each (100 minutes) against a patience of 10 s: the call still succeeds.
    const classify = (err: unknown) => classifyApiFailure(err, { call: 'retrieve' });
    const policy = { baseMs: 1000, capMs: 60_000, patienceMs: 10_000 };
    const ok = await withRetry(
      async () => (++calls <= 100 ? Promise.reject(rateLimited()) : 'done'),
      classify,
      policy,
      sleep,
    );
    expect(ok).toBe('done');
    expect(waited).toBe(100 * 60_000);
    const outage = Anthropic.APIError.generate(503, undefined, undefined, new Headers({ 'retry-after': '4' }));
    waited = 0;
    await expect(withRetry(() => Promise.reject(outage), classify, policy, sleep)).rejects.toBe(outage);
    expect(waited).toBe(8000); // two 4 s waits; a third would pass the 10 s patience
  });
});

describe('QueueAdmission', () => {
  it('reserves room per create under max_queued_requests and lets a waiting create in when a batch ends', async () => {
    const admission = new QueueAdmission(10);
    await admission.admit(6);
    let second = false;
    const waiting = admission.admit(6).then(() => (second = true));
    await Promise.resolve();
    expect(second).toBe(false);
    expect(admission.queued).toBe(6);
    admission.ended(6);
    await waiting;
    expect(admission.queued).toBe(6);
  });

  it('after a refusal, holds other creates until one of ours ends; a create that goes through lifts it', async () => {
    const admission = new QueueAdmission();
    await admission.admit(5);
    admission.submitted();
    await admission.admit(5); // refused by the API: its retry sleep teaches the limit (5 in flight before it)
    let woken = false;
    const sleepOver = admission.refusedSleep(async (_ms, wake) => {
      await wake;
      woken = true;
    }, 5)(60_000);
    let third = false;
    const waiting = admission.admit(5).then(() => (third = true));
    await Promise.resolve();
    expect(third).toBe(false);
    admission.ended(5); // the first batch ended: the refused create wakes before its retry-after
    await sleepOver;
    expect(woken).toBe(true);
    admission.submitted();
    await waiting;
    expect(admission.refusals).toBe(1);
  });

  it('counts a create refused to pace us (429), not one retried after a 5xx or a failed listing', async () => {
    const clock = new ManualClock();
    const api = new FakeBatchesApi(clock);
    const path = join(tempDir('claude-batch-pacing-'), 'requests.jsonl');
    writeFileSync(path, JSON.stringify({ custom_id: 'a', params: { max_tokens: 16 } }) + '\n');
    const admission = new QueueAdmission();
    await admission.admit(5);
    admission.submitted();
    await admission.admit(1);
    // A 500 (doubt: the listing that settles it is rate-limited once), a 429 refusal, a 503, then accepted.
    api.failCreates = [500, 429, 503];
    api.failNext('list', 429);
    const submitted = await submitBatch(
      api,
      path,
      { requests: 1, since: new Date(clock.now()), claimed: () => false },
      {
        pollIntervalMs: 1000,
        retry: { baseMs: 1000, capMs: 60_000, patienceMs: 600_000 },
        sleep: clock.sleep,
        now: () => clock.now(),
        log: () => undefined,
        refusedSleep: admission.refusedSleep(clock.sleep, 1),
      },
    );
    expect(submitted.reconciled).toBe(false);
    expect(api.calls).toEqual(['create', 'list', 'list', 'create', 'create', 'list', 'create']);
    expect(admission.refusals).toBe(1);
    // Only the refusal's wait may end early when one of our batches ends.
    expect(clock.wakeable).toEqual([false, false, true, false]);
  });
});
