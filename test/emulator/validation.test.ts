// Guards what create refuses synchronously (envelope, count, size, custom_id rules → HTTP 400/413, no batch made) versus per-request param problems, which the real API reports only as `errored` results while the rest of the batch runs.
import { BadRequestError, ContentTooLargeError } from '@anthropic-ai/sdk';
import type { BatchCreateParams } from '@anthropic-ai/sdk/resources/messages/batches';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ask,
  clientFor,
  ERROR_RESPONSE_KEYS,
  errored,
  expectKeys,
  failure,
  HAIKU,
  rawRequest,
  resultsById,
  retrieveEnded,
  start,
  succeeded,
  type Harness,
} from './helpers.js';

let strict: Harness;
let roomy: Harness;
beforeAll(async () => {
  strict = await start({ maxRequestsPerBatch: 5, maxBodyBytes: 2000 });
  roomy = await start();
});
afterAll(() => Promise.all([strict.emu.close(), roomy.emu.close()]));

/** The create fails with a 400 invalid_request_error whose message contains `text`, and leaves no batch behind. */
async function refused(requests: BatchCreateParams.Request[], text: string): Promise<void> {
  const before = (await strict.client.messages.batches.list()).data.length;
  const err = await failure(strict.client.messages.batches.create({ requests }));
  expect(err).toBeInstanceOf(BadRequestError);
  const e = err as BadRequestError;
  expect(e.status).toBe(400);
  expect(e.type).toBe('invalid_request_error');
  expect(e.message).toContain(text);
  expect(e.apiMessage).toContain(text);
  expect(e.requestID).toMatch(/^req_/);
  expect((e.error as { request_id?: string }).request_id).toBe(e.requestID);
  expect((await strict.client.messages.batches.list()).data.length).toBe(before);
}

describe('create refuses the envelope', () => {
  it('refuses a 65-character custom_id with the API’s own message', async () => {
    await refused([ask('x'.repeat(65), 'hi')], 'requests.0.custom_id: String should have at most 64 characters');
  });

  it('accepts a 64-character custom_id', async () => {
    const batch = await strict.client.messages.batches.create({ requests: [ask('x'.repeat(64), 'hi')] });
    expect(batch.request_counts.processing).toBe(1);
  });

  it('refuses custom_ids with characters outside [a-zA-Z0-9_-], and an empty one', async () => {
    for (const bad of ['has space', 'dot.id', 'slash/id', 'ümlaut', 'colon:1']) {
      await refused([ask('fine', 'a'), ask(bad, 'b')], 'requests.1.custom_id: String should match pattern');
    }
    await refused([ask('', 'a')], 'requests.0.custom_id: String should have at least 1 character');
  });

  it('refuses a custom_id repeated within the batch', async () => {
    await refused([ask('same', 'a'), ask('other', 'b'), ask('same', 'c')], 'requests.2.custom_id');
  });

  it('refuses an empty request list', async () => {
    await refused([], 'requests: List should have at least 1 item');
  });

  it('refuses more requests than the per-batch maximum, and takes exactly the maximum', async () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => ask(`m${i}`, 'x'));
    await refused(many(6), 'requests: List should have at most 5 items');
    const batch = await strict.client.messages.batches.create({ requests: many(5) });
    expect(batch.request_counts.processing).toBe(5);
  });

  it('answers 413 request_too_large for a body over the byte limit', async () => {
    const before = (await strict.client.messages.batches.list()).data.length;
    const err = await failure(strict.client.messages.batches.create({ requests: [ask('big', 'y'.repeat(2500))] }));
    expect(err).toBeInstanceOf(ContentTooLargeError);
    const e = err as ContentTooLargeError;
    expect(e.status).toBe(413);
    expect(e.type as string).toBe('request_too_large'); // the edge's type: not in the SDK's ErrorType union
    expect((await strict.client.messages.batches.list()).data.length).toBe(before);
    await strict.client.messages.batches.create({ requests: [ask('small', 'y'.repeat(1500))] });
    // The edge answers before the API looks at the key.
    const anyKey = await failure(
      clientFor(strict.emu, 'wrong-key').messages.batches.create({ requests: [ask('big', 'y'.repeat(2500))] }),
    );
    expect(anyKey).toBeInstanceOf(ContentTooLargeError);
  });
});

describe('per-request params fail only their own request', () => {
  it('returns errored results for bad params while the other requests succeed', async () => {
    const { client } = roomy;
    const base = { model: HAIKU, max_tokens: 100, messages: [{ role: 'user', content: 'hello' }] };
    const requests = [
      ask('good-1', 'first good one'),
      rawRequest('zero-tokens', { ...base, max_tokens: 0 }),
      rawRequest('unknown-model', { ...base, model: 'claude-nonexistent-9' }),
      rawRequest('streaming', { ...base, stream: true }),
      rawRequest('extra-key', { ...base, frobnicate: 1 }),
      rawRequest('too-many-tokens', { ...base, max_tokens: 10_000_000 }),
      rawRequest('no-messages', { model: HAIKU, max_tokens: 10 }),
      rawRequest('speed', { ...base, speed: 'fast' }),
      ask('good-2', 'second good one'),
    ];
    const created = await client.messages.batches.create({ requests });
    expect(created.request_counts.processing).toBe(requests.length);

    const ended = await retrieveEnded(client, created.id);
    expect(ended.request_counts).toMatchObject({ succeeded: 2, errored: requests.length - 2 });

    const results = await resultsById(client, created.id);
    succeeded(results.get('good-1'));
    succeeded(results.get('good-2'));
    const innerType = (id: string) => {
      const result = errored(results.get(id));
      expectKeys(result, ['error', 'type']);
      expectKeys(result.error, ERROR_RESPONSE_KEYS);
      expect(result.error.type).toBe('error');
      expect(result.error.error.message.length).toBeGreaterThan(0);
      return result.error.error.type;
    };
    expect(innerType('zero-tokens')).toBe('invalid_request_error');
    expect(innerType('unknown-model')).toBe('not_found_error');
    expect(innerType('streaming')).toBe('invalid_request_error');
    expect(innerType('extra-key')).toBe('invalid_request_error');
    expect(innerType('too-many-tokens')).toBe('invalid_request_error');
    expect(innerType('no-messages')).toBe('invalid_request_error');
    expect(innerType('speed')).toBe('invalid_request_error');
  });

  it("caches a prompt prefix only from the model's own minimum (4,096 tokens on Haiku 4.5, 1,024 on Sonnet 4.5)", async () => {
    const { client } = roomy;
    // ~2,000 tokens of shared prefix, sent twice per model: a write then a read where the model caches it.
    const system = [
      {
        type: 'text' as const,
        text: 'Follow the house style. '.repeat(330),
        cache_control: { type: 'ephemeral' as const },
      },
    ];
    const requests = ['a', 'b'].flatMap((n) => [
      ask(`haiku-${n}`, 'hi', { system }),
      ask(`sonnet-${n}`, 'hi', { system, model: 'claude-sonnet-4-5' }),
    ]);
    const results = await resultsById(client, (await client.messages.batches.create({ requests })).id);
    const usage = (id: string) => {
      const r = results.get(id);
      if (r?.type !== 'succeeded') throw new Error(`${id}: ${JSON.stringify(r)}`);
      return r.message.usage;
    };
    for (const id of ['haiku-a', 'haiku-b'])
      expect(usage(id)).toMatchObject({ cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
    expect(usage('sonnet-a').cache_creation_input_tokens).toBeGreaterThan(1024);
    expect(usage('sonnet-b').cache_read_input_tokens).toBe(usage('sonnet-a').cache_creation_input_tokens);
  });

  it("holds max_tokens to each model's output ceiling (64k for the 4.5 models, 128k for later ones)", async () => {
    const { client } = roomy;
    const requests = [
      ask('sonnet-45-over', 'hi', { model: 'claude-sonnet-4-5', max_tokens: 64_001 }),
      ask('sonnet-45-at', 'hi', { model: 'claude-sonnet-4-5', max_tokens: 64_000 }),
      ask('haiku-55-high', 'hi', { model: 'claude-haiku-5-5', max_tokens: 100_000 }),
    ];
    const results = await resultsById(client, (await client.messages.batches.create({ requests })).id);
    expect(errored(results.get('sonnet-45-over')).error.error.message).toBe(
      'max_tokens: 64001 > 64000, which is the maximum allowed number of output tokens for claude-sonnet-4-5',
    );
    succeeded(results.get('sonnet-45-at'));
    succeeded(results.get('haiku-55-high'));
  });

  it('refuses sampling parameters where the model does, and temperature with top_p everywhere', async () => {
    const { client } = roomy;
    const requests = [
      rawRequest('opus-47-temp', {
        model: 'claude-opus-4-7',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'hi' }],
        temperature: 0.2,
      }),
      rawRequest('haiku-both', {
        model: HAIKU,
        max_tokens: 10,
        messages: [{ role: 'user', content: 'hi' }],
        temperature: 0.2,
        top_p: 0.9,
      }),
      rawRequest('haiku-temp', {
        model: HAIKU,
        max_tokens: 10,
        messages: [{ role: 'user', content: 'hi' }],
        temperature: 0.2,
      }),
    ];
    const results = await resultsById(client, (await client.messages.batches.create({ requests })).id);
    const message = (id: string) => errored(results.get(id)).error.error.message;
    expect(message('opus-47-temp')).toBe('`temperature` is deprecated for this model.');
    expect(message('haiku-both')).toMatch(/`temperature` and `top_p` cannot both be specified/);
    succeeded(results.get('haiku-temp'));
  });

  it('refuses a prompt longer than the context window, per request', async () => {
    const { client } = roomy;
    // ~4 characters per token in the emulator's estimate: 900k characters is ~225k tokens.
    const requests = [ask('too-long', 'word '.repeat(180_000)), ask('fits', 'word '.repeat(1_000))];
    const results = await resultsById(client, (await client.messages.batches.create({ requests })).id);
    const long = errored(results.get('too-long')).error.error;
    expect(long.type).toBe('invalid_request_error');
    expect(long.message).toMatch(/^prompt is too long: \d+ tokens > 200000 maximum$/);
    succeeded(results.get('fits'));
  });

  it('refuses a structured-output schema outside the strict subset, and takes its strict form', async () => {
    const { client } = roomy;
    const withSchema = (id: string, schema: Record<string, unknown>) =>
      rawRequest(id, {
        model: HAIKU,
        max_tokens: 100,
        messages: [{ role: 'user', content: 'Invoice total 12.50' }],
        output_config: { format: { type: 'json_schema', schema } },
      });
    const total = { type: 'number' };
    const requests = [
      withSchema('open-root', { type: 'object', properties: { total }, required: ['total'] }),
      withSchema('open-true', { type: 'object', properties: { total }, additionalProperties: true }),
      withSchema('open-nested', {
        type: 'object',
        properties: { sender: { type: 'object', properties: { name: { type: 'string' } } } },
        additionalProperties: false,
      }),
      withSchema('minimum', {
        type: 'object',
        properties: { total: { type: 'number', minimum: 0 } },
        additionalProperties: false,
      }),
      withSchema('array-root', { type: 'array', items: total }),
      withSchema('strict', {
        type: 'object',
        properties: {
          total,
          kind: { enum: ['a', 'b'] },
          tags: { type: 'array', items: { type: 'string' }, minItems: 1 },
          due: { type: 'string', format: 'date', description: '{pattern: "x"}' },
        },
        required: ['total'],
        additionalProperties: false,
      }),
    ];
    const results = await resultsById(client, (await client.messages.batches.create({ requests })).id);
    const message = (id: string) => {
      const { error } = errored(results.get(id)).error;
      expect(error.type).toBe('invalid_request_error');
      return error.message;
    };
    expect(message('open-root')).toBe(
      "output_config.format.schema: For 'object' type, 'additionalProperties' must be explicitly set to false",
    );
    expect(message('open-true')).toContain("'additionalProperties' must be explicitly set to false");
    expect(message('open-nested')).toContain('output_config.format.schema.properties.sender:');
    expect(message('minimum')).toBe(
      "output_config.format.schema.properties.total: 'minimum' is not supported in structured output schemas",
    );
    expect(message('array-root')).toContain("must be of type 'object'");
    succeeded(results.get('strict'));
  });

  it('accepts every body param the SDK declares for a Messages request (except those barred from batches)', async () => {
    const { client } = roomy;
    // One request per optional body key of MessageCreateParamsBase (resources/messages/messages.d.ts).
    const optional: Array<Partial<BatchCreateParams.Request['params']>> = [
      { cache_control: { type: 'ephemeral' } },
      { container: null },
      { diagnostics: null },
      { inference_geo: 'us' },
      { metadata: { user_id: 'u-1' } },
      { output_config: { effort: 'low' } },
      { service_tier: 'auto' },
      { stop_sequences: ['###'] },
      { system: [{ type: 'text', text: 'Be brief.' }] },
      { thinking: { type: 'adaptive' } },
      { tool_choice: { type: 'auto' } },
      { tools: [{ name: 'lookup', input_schema: { type: 'object', properties: {} } }] },
    ];
    const requests = optional.map((params, i) => ask(`opt-${i}`, 'hello', params));
    const created = await client.messages.batches.create({ requests });
    const results = await resultsById(client, created.id);
    for (const [i, params] of optional.entries()) {
      expect(results.get(`opt-${i}`)?.type, JSON.stringify(params)).toBe('succeeded');
    }
  });
});
