// Guards the HTTP surface around batches: auth by Bearer or x-api-key, the anthropic-version requirement, request-id on every response and error, count_tokens, and the models endpoints.
import Anthropic, { AuthenticationError, BadRequestError, NotFoundError } from '@anthropic-ai/sdk';
import type { MessageTokensCount } from '@anthropic-ai/sdk/resources/messages/messages';
import type { ModelInfo } from '@anthropic-ai/sdk/resources/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KNOWN_MODELS } from '../../emulator/models.js';
import { sdkModelIds } from '../helpers/sdk-models.js';
import { ask, clientFor, expectKeys, failure, HAIKU, KEY, MODEL_INFO_KEYS, start, type Harness } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await start();
});
afterAll(() => h.emu.close());

const REQUEST_ID = /^req_[A-Za-z0-9]+$/;

function expectAuthError(err: unknown): void {
  expect(err).toBeInstanceOf(AuthenticationError);
  const e = err as AuthenticationError;
  expect(e.status).toBe(401);
  expect(e.type).toBe('authentication_error');
  expect(e.error).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
  expect(e.requestID).toMatch(REQUEST_ID);
  expect((e.error as { request_id: string }).request_id).toBe(e.requestID);
}

describe('authentication', () => {
  it('refuses a request with no key', async () => {
    const anonymous = new Anthropic({
      apiKey: null,
      authToken: null,
      baseURL: h.emu.url,
      maxRetries: 0,
      defaultHeaders: { authorization: null },
    });
    expectAuthError(await failure(anonymous.messages.batches.list()));
    expectAuthError(await failure(anonymous.messages.batches.create({ requests: [ask('a', 'b')] })));
  });

  it('refuses a wrong key', async () => {
    expectAuthError(await failure(clientFor(h.emu, 'not-the-key').messages.batches.list()));
    expectAuthError(await failure(clientFor(h.emu, 'not-the-key').messages.batches.retrieve('msgbatch_01x')));
  });

  it('takes the key as x-api-key (older clients, the docs’ curl) as well as Bearer (SDK 1.x)', async () => {
    const viaHeader = await fetch(`${h.emu.url}/v1/messages/batches?limit=1`, {
      headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' },
    });
    expect(viaHeader.status).toBe(200);
    expect(viaHeader.headers.get('content-type')).toContain('application/json');
    expect(viaHeader.headers.get('request-id')).toMatch(REQUEST_ID);
    expect(await viaHeader.json()).toMatchObject({ data: expect.any(Array), has_more: expect.any(Boolean) });

    const viaBearer = await fetch(`${h.emu.url}/v1/messages/batches?limit=1`, {
      headers: { authorization: `Bearer ${KEY}`, 'anthropic-version': '2026-10-21' },
    });
    expect(viaBearer.status).toBe(200);

    const wrong = await fetch(`${h.emu.url}/v1/messages/batches`, {
      headers: { 'x-api-key': 'nope', 'anthropic-version': '2023-06-01' },
    });
    expect(wrong.status).toBe(401);
  });

  it('refuses an anthropic-version the API does not have', async () => {
    const res = await fetch(`${h.emu.url}/v1/messages/batches`, {
      headers: { authorization: `Bearer ${KEY}`, 'anthropic-version': 'banana' },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: unknown }).error).toEqual({
      type: 'invalid_request_error',
      message: 'anthropic-version: "banana" is not a valid version',
    });
  });

  it('requires anthropic-version', async () => {
    const res = await fetch(`${h.emu.url}/v1/messages/batches`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(res.status).toBe(400);
    const requestId = res.headers.get('request-id');
    expect(requestId).toMatch(REQUEST_ID);
    expect(await res.json()).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'anthropic-version: header is required' },
      request_id: requestId,
    });
  });
});

describe('beta namespace', () => {
  it('serves client.beta.messages.batches (same URLs, an anthropic-beta header)', async () => {
    const batch = await h.client.beta.messages.batches.create({
      requests: [
        {
          custom_id: 'beta-1',
          params: { model: HAIKU, max_tokens: 50, messages: [{ role: 'user', content: 'hello' }] },
        },
      ],
      betas: ['output-300k-2026-03-24'],
    });
    expect(batch.id).toMatch(/^msgbatch_/);
    const lines = [];
    for await (const line of await h.client.beta.messages.batches.results(batch.id, {
      betas: ['output-300k-2026-03-24'],
    }))
      lines.push(line);
    expect(lines.map((l) => [l.custom_id, l.result.type])).toEqual([['beta-1', 'succeeded']]);
  });
});

describe('request-id', () => {
  it('is on errors (err.requestID), successes (_request_id, withResponse) and the results download', async () => {
    const notFound = await failure(h.client.messages.batches.retrieve('msgbatch_01doesnotexist'));
    expect(notFound).toBeInstanceOf(NotFoundError);
    expect((notFound as NotFoundError).requestID).toMatch(REQUEST_ID);

    const batch = await h.client.messages.batches.create({ requests: [ask('rid', 'hello')] });
    expect(batch._request_id).toMatch(REQUEST_ID);
    const { data, request_id } = await h.client.messages.batches.retrieve(batch.id).withResponse();
    expect(request_id).toMatch(REQUEST_ID);
    expect((data as typeof batch)._request_id).toBe(request_id);

    const download = await fetch(data.results_url!, {
      headers: { authorization: `Bearer ${KEY}`, 'anthropic-version': '2026-10-21' },
    });
    expect(download.status).toBe(200);
    expect(download.headers.get('request-id')).toMatch(REQUEST_ID);
    expect(download.headers.get('content-type')).toBe('application/x-jsonl');
    const text = await download.text();
    expect(text.endsWith('\n')).toBe(true);
    expect(text.split('\n').filter((l) => l === '')).toEqual(['']); // only the final newline: a blank line breaks the SDK
  });

  it('answers an unknown path 404 in the API error shape', async () => {
    const res = await fetch(`${h.emu.url}/v1/nowhere`, {
      headers: { authorization: `Bearer ${KEY}`, 'anthropic-version': '2026-10-21' },
    });
    expect(res.status).toBe(404);
    expect(res.headers.get('request-id')).toMatch(REQUEST_ID);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });
});

describe('count_tokens', () => {
  it('counts input tokens, more for a longer prompt', async () => {
    const short: MessageTokensCount = await h.client.messages.countTokens({
      model: HAIKU,
      messages: [{ role: 'user', content: 'Hi there' }],
    });
    expectKeys(short, ['input_tokens']);
    expect(short.input_tokens).toBeGreaterThan(0);
    const long = await h.client.messages.countTokens({
      model: HAIKU,
      system: 'You are a careful classifier of invoices and contracts.',
      messages: [{ role: 'user', content: 'Hi there. '.repeat(50) }],
    });
    expect(long.input_tokens).toBeGreaterThan(short.input_tokens);
  });

  it('takes its own params (speed, cache_control) but not max_tokens; 404 for an unknown model', async () => {
    const ok = await h.client.messages.countTokens({
      model: HAIKU,
      messages: [{ role: 'user', content: 'x' }],
      speed: 'standard',
      cache_control: { type: 'ephemeral' },
    });
    expect(ok.input_tokens).toBeGreaterThan(0);
    const withMax = { model: HAIKU, max_tokens: 10, messages: [{ role: 'user' as const, content: 'x' }] };
    expect(await failure(h.client.messages.countTokens(withMax))).toBeInstanceOf(BadRequestError);
    expect(
      await failure(
        h.client.messages.countTokens({ model: 'claude-unknown-1', messages: [{ role: 'user', content: 'x' }] }),
      ),
    ).toBeInstanceOf(NotFoundError);
  });
});

describe('models', () => {
  it('retrieves a known model and 404s an unknown one', async () => {
    const model: ModelInfo = await h.client.models.retrieve(HAIKU);
    expectKeys(model, MODEL_INFO_KEYS);
    expect(model).toMatchObject({ id: HAIKU, type: 'model' });
    expect(model.max_tokens).toBeGreaterThan(0);
    const err = await failure(h.client.models.retrieve('claude-unknown-1'));
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).type).toBe('not_found_error');
  });

  it('lists every model across pages', async () => {
    const first = await h.client.models.list({ limit: 5 });
    expect(first.data).toHaveLength(5);
    expect(first.has_more).toBe(true);
    const ids: string[] = [];
    for await (const model of h.client.models.list({ limit: 5 })) ids.push(model.id);
    expect(ids).toEqual([...KNOWN_MODELS]);
  });

  it('knows the same models as the installed SDK', () => {
    expect([...KNOWN_MODELS]).toEqual(sdkModelIds());
  });
});
