// Guards fault injection as the real SDK experiences it: 429/529/500 answers with the right classes and headers, the duplicate-batch trap of a retried create, errored/expired shares that a resubmission clears, a results download cut mid-body, early 404s, connection resets, and the call/submission counters.
import Anthropic, {
  APIConnectionError,
  InternalServerError,
  NotFoundError,
  OverloadedError,
  RateLimitError,
} from '@anthropic-ai/sdk';
import type { MessageBatchIndividualResponse } from '@anthropic-ai/sdk/resources/messages/batches';
import { describe, expect, it } from 'vitest';
import { ask, failure, harnessPerTest, KEY, resultLines, resultsById, retrieveEnded, succeeded } from './helpers.js';

const harness = harnessPerTest();

const requestsFor = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => ask(`${prefix}-${i}`, `document ${i}`));

describe('HTTP faults', () => {
  it('429 on create: RateLimitError with retry-after, and no batch', async () => {
    const { client, emu } = await harness();
    emu.faults.http.push({ endpoint: 'create', status: 429, retryAfterSeconds: 1, calls: [1] });
    const err = await failure(client.messages.batches.create({ requests: requestsFor('r', 2) }));
    expect(err).toBeInstanceOf(RateLimitError);
    const e = err as RateLimitError;
    expect(e.status).toBe(429);
    expect(e.type).toBe('rate_limit_error');
    expect(e.headers.get('retry-after')).toBe('1');
    expect(e.requestID).toMatch(/^req_/);
    expect((await client.messages.batches.list()).data).toHaveLength(0);

    await client.messages.batches.create({ requests: requestsFor('r', 2) });
    expect(emu.calls.create).toBe(2);
    expect(emu.calls.list).toBe(1);
  });

  it('spend-cap 429: EnforcedSpendLimitReachedError, no retry-after', async () => {
    const { client, emu } = await harness();
    emu.faults.http.push({ endpoint: 'create', status: 429, errorCode: 'enforced_spend_limit_reached' });
    const err = await failure(client.messages.batches.create({ requests: requestsFor('s', 1) }));
    expect(err).toBeInstanceOf(Anthropic.EnforcedSpendLimitReachedError);
    expect(err).toBeInstanceOf(RateLimitError);
    const e = err as RateLimitError;
    expect(e.errorCode).toBe('enforced_spend_limit_reached');
    expect(e.headers.get('retry-after')).toBeNull();
  });

  it('529 on retrieve: OverloadedError, then the next retrieve works', async () => {
    const { client, emu } = await harness();
    const batch = await client.messages.batches.create({ requests: requestsFor('o', 1) });
    emu.faults.http.push({ endpoint: 'retrieve', status: 529, calls: [1] });
    const err = await failure(client.messages.batches.retrieve(batch.id));
    expect(err).toBeInstanceOf(OverloadedError);
    expect((err as OverloadedError).status).toBe(529);
    expect((err as OverloadedError).type).toBe('overloaded_error');
    await retrieveEnded(client, batch.id);
    expect(emu.calls.retrieve).toBe(2);
  });

  it('after-effect 500 on create: the client sees a failure but the batch exists (reconcile with list)', async () => {
    const { client, emu } = await harness();
    emu.faults.http.push({ endpoint: 'create', status: 500, afterEffect: true, calls: [1] });
    const requests = requestsFor('ae', 3);
    const err = await failure(client.messages.batches.create({ requests }));
    expect(err).toBeInstanceOf(InternalServerError);
    expect((err as InternalServerError).status).toBe(500);

    const listed = (await client.messages.batches.list()).data;
    expect(listed).toHaveLength(1);
    expect(emu.requestsOf(listed[0]!.id)?.map((r) => r.custom_id)).toEqual(requests.map((r) => r.custom_id));
  });

  it('after-effect 500 with SDK retries on: a second, duplicate batch', async () => {
    const { emu } = await harness();
    const retrying = new Anthropic({ apiKey: KEY, baseURL: emu.url, maxRetries: 2 });
    emu.faults.http.push({ endpoint: 'create', status: 500, afterEffect: true, retryAfterMs: 1, calls: [1] });
    const created = await retrying.messages.batches.create({ requests: requestsFor('dup', 2) });
    expect(emu.calls.create).toBe(2);
    const ids = (await retrying.messages.batches.list()).data.map((b) => b.id);
    expect(ids).toHaveLength(2);
    expect(ids).toContain(created.id);
    expect(emu.submissions().get('dup-0')).toBe(2);
  });

  it('x-should-retry: false stops the SDK retrying', async () => {
    const { emu } = await harness();
    const retrying = new Anthropic({ apiKey: KEY, baseURL: emu.url, maxRetries: 2 });
    emu.faults.http.push({ endpoint: 'list', status: 503, shouldRetry: false });
    expect(await failure(retrying.messages.batches.list())).toBeInstanceOf(InternalServerError);
    expect(emu.calls.list).toBe(1);
  });

  it('a wildcard rule with times: the first two calls of any endpoint fail, the third passes', async () => {
    const { client, emu } = await harness();
    emu.faults.http.push({ endpoint: '*', status: 503, times: 2 });
    expect(await failure(client.messages.batches.list())).toBeInstanceOf(InternalServerError);
    expect(await failure(client.models.list())).toBeInstanceOf(InternalServerError);
    expect((await client.messages.batches.list()).data).toEqual([]);
    expect(emu.calls).toMatchObject({ list: 2, models: 1 });
  });

  it('connection reset: APIConnectionError, then the endpoint works again', async () => {
    const { client, emu } = await harness();
    emu.faults.http.push({ endpoint: 'list', resetConnection: true, calls: [1] });
    expect(await failure(client.messages.batches.list())).toBeInstanceOf(APIConnectionError);
    expect((await client.messages.batches.list()).data).toEqual([]);
    expect(emu.calls.list).toBe(2);
  });

  it('notFoundAfterCreate: the first retrieve of a new batch 404s, the second works', async () => {
    const { client, emu } = await harness({ faults: { notFoundAfterCreate: 1 } });
    const batch = await client.messages.batches.create({ requests: requestsFor('nf', 2) });
    const err = await failure(client.messages.batches.retrieve(batch.id));
    expect(err).toBeInstanceOf(NotFoundError);
    await retrieveEnded(client, batch.id);
    expect((await resultsById(client, batch.id)).size).toBe(2);
    expect(emu.calls).toMatchObject({ create: 1, retrieve: 3, results: 1 });
  });
});

describe('result faults', () => {
  it('erroredShare: about half come back api_error, and resubmitting them succeeds', async () => {
    const { client, emu } = await harness({ faults: { erroredShare: 0.5, erroredAttempts: 1 } });
    const n = 40;
    const first = await client.messages.batches.create({ requests: requestsFor('e', n) });
    const ended = await retrieveEnded(client, first.id);
    const results = await resultsById(client, first.id);
    const failed = [...results].filter(([, r]) => r.type === 'errored').map(([id]) => id);
    expect(failed.length).toBeGreaterThan(n * 0.25);
    expect(failed.length).toBeLessThan(n * 0.75);
    expect(ended.request_counts).toMatchObject({ errored: failed.length, succeeded: n - failed.length });
    for (const id of failed) {
      const r = results.get(id);
      expect(r?.type === 'errored' && r.error.error.type).toBe('api_error');
    }

    const retry = await client.messages.batches.create({ requests: failed.map((id) => ask(id, 'again')) });
    const retried = await resultsById(client, retry.id);
    for (const id of failed) succeeded(retried.get(id));
    expect((await retrieveEnded(client, retry.id)).request_counts.succeeded).toBe(failed.length);

    const submissions = emu.submissions();
    expect(submissions.size).toBe(n);
    for (const [id, times] of submissions) expect(times).toBe(failed.includes(id) ? 2 : 1);
  });

  it('expiredShare: some come back expired in an otherwise finished batch, and resubmitting them succeeds', async () => {
    const { client } = await harness({ faults: { expiredShare: 0.3 } });
    const first = await client.messages.batches.create({ requests: requestsFor('x', 30) });
    const ended = await retrieveEnded(client, first.id);
    const results = await resultsById(client, first.id);
    const expired = [...results].filter(([, r]) => r.type === 'expired').map(([id]) => id);
    expect(expired.length).toBeGreaterThan(0);
    expect(expired.length).toBeLessThan(30);
    expect(ended.request_counts).toEqual({
      processing: 0,
      succeeded: 30 - expired.length,
      errored: 0,
      canceled: 0,
      expired: expired.length,
    });

    const retry = await client.messages.batches.create({ requests: expired.map((id) => ask(id, 'again')) });
    for (const [, r] of await resultsById(client, retry.id)) expect(r.type).toBe('succeeded');
  });

  it('dropResultsAfterLines: the download dies after 3 lines; downloading again gets everything', async () => {
    const { client, emu } = await harness({ faults: { dropResultsAfterLines: 3 } });
    const batch = await client.messages.batches.create({ requests: requestsFor('d', 10) });
    await retrieveEnded(client, batch.id);

    const partial: MessageBatchIndividualResponse[] = [];
    const err = await failure(
      (async () => {
        for await (const line of await client.messages.batches.results(batch.id)) partial.push(line);
      })(),
    );
    // What undici says when the socket closes mid-body (anthropic-sdk-typescript#960): not retried by the SDK.
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toBe('terminated');
    expect(partial).toHaveLength(3);

    const full = await resultLines(client, batch.id);
    expect(full).toHaveLength(10);
    expect(new Set(full.map((l) => l.custom_id)).size).toBe(10);
    for (const line of partial) expect(full).toContainEqual(line);
    expect(emu.calls.results).toBe(2);
  });

  it('invalidOutputShare: answers that parse as neither the schema nor a label', async () => {
    const { client } = await harness({ faults: { invalidOutputShare: 1 } });
    const schema = { type: 'object', properties: { kind: { type: 'string' } }, required: ['kind'] };
    const batch = await client.messages.batches.create({
      requests: [
        ask('j', 'some text', { output_config: { format: { type: 'json_schema', schema } } }),
        ask('l', 'Labels: spam, ham\n\nsome text'),
      ],
    });
    const results = await resultsById(client, batch.id);
    const text = (id: string) => {
      const m = succeeded(results.get(id));
      return m.content[0]?.type === 'text' ? m.content[0].text : '';
    };
    expect(() => JSON.parse(text('j'))).toThrow();
    expect(['spam', 'ham']).not.toContain(text('l'));
  });

  it('resultsWithoutContentType: the SDK still decodes the file', async () => {
    const { client } = await harness({ faults: { resultsWithoutContentType: true } });
    const batch = await client.messages.batches.create({ requests: requestsFor('ct', 3) });
    expect(await resultLines(client, batch.id)).toHaveLength(3);
  });
});
