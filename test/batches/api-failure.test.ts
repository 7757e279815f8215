// Guards the one decision every API caller acts on: for each status × call kind, each header the API uses to
// steer retries (x-should-retry, retry-after-ms, retry-after as seconds or a date), the spend cap, the early
// 404 after a create, network failures without an answer and our own stops, classifyApiFailure() gives
// the action (retry, pace, reconcile, settled, give_up) and who must act (the failure type).
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { classifyApiFailure, type ApiAction, type ApiCall } from '../../connector/batches/api-failure.js';
import { Interrupted } from '../../connector/batches/interrupted.js';
import { ConnectorError, transientError } from '../../connector/common/errors.js';
import { fakeKey } from '../helpers/fake-key.js';

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  408: 'timeout_error',
  409: 'invalid_request_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  502: 'api_error',
  503: 'api_error',
  504: 'api_error',
  529: 'overloaded_error',
};

/** An error as the SDK raises it for an HTTP answer: APIError.generate() picks the subclass. */
function answer(
  status: number,
  headers: Record<string, string> = {},
  errorCode?: string,
  message = 'it went wrong',
): InstanceType<typeof Anthropic.APIError> {
  const body = {
    type: 'error',
    error: {
      type: TYPE_BY_STATUS[status] ?? 'api_error',
      message,
      ...(errorCode ? { details: { error_code: errorCode } } : {}),
    },
  };
  return Anthropic.APIError.generate(status, body, undefined, new Headers({ 'request-id': 'req_0123', ...headers }));
}

const CALLS: ApiCall[] = ['create', 'retrieve', 'list', 'results', 'cancel', 'models', 'count_tokens'];

// status → the SDK class it arrives as, then the action for create, retrieve, list, results, cancel, models, count_tokens.
const STATUS_TABLE: Array<[number, string, ApiAction[]]> = [
  [400, 'BadRequestError', ['give_up', 'give_up', 'give_up', 'give_up', 'settled', 'give_up', 'give_up']],
  [401, 'AuthenticationError', ['give_up', 'give_up', 'give_up', 'give_up', 'give_up', 'give_up', 'give_up']],
  [402, 'PaymentRequiredError', ['give_up', 'give_up', 'give_up', 'give_up', 'give_up', 'give_up', 'give_up']],
  [403, 'PermissionDeniedError', ['give_up', 'give_up', 'give_up', 'give_up', 'give_up', 'give_up', 'give_up']],
  [404, 'NotFoundError', ['give_up', 'retry', 'give_up', 'retry', 'settled', 'give_up', 'give_up']],
  [408, 'RequestTimeoutError', ['retry', 'retry', 'retry', 'retry', 'retry', 'retry', 'retry']],
  [409, 'ConflictError', ['retry', 'retry', 'retry', 'retry', 'settled', 'retry', 'retry']],
  [413, 'ContentTooLargeError', ['give_up', 'give_up', 'give_up', 'give_up', 'give_up', 'give_up', 'give_up']],
  [429, 'RateLimitError', ['pace', 'pace', 'pace', 'pace', 'pace', 'pace', 'pace']],
  [500, 'InternalServerError', ['reconcile', 'retry', 'retry', 'retry', 'retry', 'retry', 'retry']],
  [502, 'InternalServerError', ['reconcile', 'retry', 'retry', 'retry', 'retry', 'retry', 'retry']],
  [503, 'ServiceUnavailableError', ['reconcile', 'retry', 'retry', 'retry', 'retry', 'retry', 'retry']],
  [504, 'GatewayTimeoutError', ['reconcile', 'retry', 'retry', 'retry', 'retry', 'retry', 'retry']],
  [529, 'OverloadedError', ['reconcile', 'retry', 'retry', 'retry', 'retry', 'retry', 'retry']],
];

describe('classifyApiFailure: statuses × call kinds', () => {
  for (const [status, className, actions] of STATUS_TABLE) {
    it(`HTTP ${status} (${className})`, () => {
      const err = answer(status);
      expect(err.name).toBe(className);
      const got = CALLS.map((call) => classifyApiFailure(err, { call }).action);
      expect(Object.fromEntries(CALLS.map((c, i) => [c, got[i]]))).toEqual(
        Object.fromEntries(CALLS.map((c, i) => [c, actions[i]])),
      );
    });
  }

  it('gives up on a key, permission or billing problem as the user’s (config_error), with a hint', () => {
    for (const status of [401, 402, 403]) {
      const f = classifyApiFailure(answer(status), { call: 'list' });
      expect(f.failureType).toBe('config_error');
      expect(f.error('listing batches').message).toMatch(status === 402 ? /billing/ : /check the API key/);
    }
    expect(classifyApiFailure(answer(404), { call: 'models' })).toMatchObject({
      failureType: 'config_error',
      kind: 'not_found',
    });
  });

  it('gives up on a request the API rejects as ours to fix (system_error), and on what a retry would not cure', () => {
    expect(classifyApiFailure(answer(400), { call: 'create' })).toMatchObject({
      action: 'give_up',
      failureType: 'system_error',
      kind: 'rejected',
      code: 'API_400',
    });
    expect(classifyApiFailure(answer(413), { call: 'create' }).failureType).toBe('system_error');
  });

  it('keeps the API’s error type, error code and request id', () => {
    const f = classifyApiFailure(answer(529, {}, undefined, 'Overloaded'), { call: 'retrieve' });
    expect(f).toMatchObject({
      status: 529,
      errorType: 'overloaded_error',
      requestId: 'req_0123',
      kind: 'overloaded',
      failureType: 'transient_error',
    });
    const e = classifyApiFailure(answer(500, { 'x-should-retry': 'false' }), { call: 'retrieve' }).error(
      'polling batch msgbatch_1',
    );
    expect(e).toBeInstanceOf(ConnectorError);
    expect(e.message).toBe('polling batch msgbatch_1 failed: HTTP 500 api_error: it went wrong, request_id req_0123');
    expect(e.code).toBe('API_500');
  });
});

describe('classifyApiFailure: headers', () => {
  const NOW = Date.parse('2026-12-03T00:00:00Z');

  it('takes the wait from retry-after-ms first, then retry-after in seconds or as an HTTP date', () => {
    const wait = (headers: Record<string, string>) =>
      classifyApiFailure(answer(429, headers), { call: 'create', now: NOW }).waitMs;
    expect(wait({ 'retry-after-ms': '1500', 'retry-after': '9' })).toBe(1500);
    expect(wait({ 'retry-after': '7' })).toBe(7000);
    expect(wait({ 'retry-after': '0.5' })).toBe(500);
    expect(wait({ 'retry-after': new Date(NOW + 30_000).toUTCString() })).toBe(30_000);
    expect(wait({})).toBeUndefined();
    // Nothing usable: the caller's backoff applies.
    expect(wait({ 'retry-after': '0' })).toBeUndefined();
    expect(wait({ 'retry-after': 'soon' })).toBeUndefined();
    expect(wait({ 'retry-after': new Date(NOW - 30_000).toUTCString() })).toBeUndefined();
    expect(wait({ 'retry-after': String(3 * 24 * 3600) })).toBeUndefined();
    expect(wait({ 'retry-after-ms': '-5', 'retry-after': '2' })).toBe(2000);
    // A 5xx's wait is kept too (a create in doubt reconciles after it).
    expect(classifyApiFailure(answer(503, { 'retry-after': '3' }), { call: 'create' })).toMatchObject({
      action: 'reconcile',
      waitMs: 3000,
    });
    // No wait on giving up.
    expect(classifyApiFailure(answer(400, { 'retry-after': '3' }), { call: 'create' }).waitMs).toBeUndefined();
  });

  it('honours x-should-retry either way', () => {
    const f = (status: number, value: string, call: ApiCall) =>
      classifyApiFailure(answer(status, { 'x-should-retry': value }), { call });
    expect(f(500, 'false', 'retrieve')).toMatchObject({ action: 'give_up', failureType: 'transient_error' });
    expect(f(529, 'false', 'create').action).toBe('give_up');
    expect(f(429, 'false', 'list').action).toBe('give_up');
    expect(f(400, 'true', 'retrieve')).toMatchObject({ action: 'retry', failureType: 'transient_error' });
    // A 4xx proves the create was refused: retried without looking. A 5xx leaves doubt.
    expect(f(400, 'true', 'create').action).toBe('retry');
    expect(f(500, 'true', 'create').action).toBe('reconcile');
    expect(f(429, 'true', 'create').action).toBe('pace');
  });
});

describe('classifyApiFailure: the spend cap', () => {
  for (const code of ['enforced_spend_limit_reached', 'contract_spend_limit_reached']) {
    it(`gives up on ${code} as a config_error, whatever the headers say`, () => {
      for (const call of CALLS) {
        const f = classifyApiFailure(answer(429, { 'x-should-retry': 'true', 'retry-after': '60' }, code), { call });
        expect(f).toMatchObject({
          action: 'give_up',
          kind: 'spend_limit',
          failureType: 'config_error',
          code: 'API_SPEND_LIMIT',
          errorCode: code,
        });
        expect(f.waitMs).toBeUndefined();
      }
      const e = classifyApiFailure(answer(429, {}, code), { call: 'create' }).error('creating a batch');
      expect(e.message).toMatch(
        /^creating a batch failed: HTTP 429 rate_limit_error: .*spend limit is reached; raise it or wait for it to reset$/,
      );
    });
  }

  it('paces other coded 429s (ramp_limit_exceeded): they pass by waiting', () => {
    expect(
      classifyApiFailure(answer(429, { 'retry-after': '5' }, 'ramp_limit_exceeded'), { call: 'create' }),
    ).toMatchObject({ action: 'pace', waitMs: 5000 });
  });
});

describe('classifyApiFailure: a 404 after create', () => {
  const NOW = Date.parse('2026-12-03T00:00:00Z');
  it('is tolerated for a young batch and a few attempts, then means the batch is gone', () => {
    const f = (createdAgoMs: number | undefined, attempt: number, call: ApiCall = 'retrieve') =>
      classifyApiFailure(answer(404), {
        call,
        attempt,
        now: NOW,
        ...(createdAgoMs !== undefined ? { createdAt: NOW - createdAgoMs } : {}),
      });
    expect(f(10_000, 0)).toMatchObject({ action: 'retry', kind: 'not_found', failureType: 'transient_error' });
    expect(f(undefined, 4).action).toBe('retry');
    expect(f(10_000, 5)).toMatchObject({ action: 'give_up', kind: 'not_found' });
    expect(f(3 * 60_000, 0)).toMatchObject({ action: 'give_up', kind: 'not_found' });
    expect(f(undefined, 0, 'results').action).toBe('retry');
    expect(f(undefined, 5, 'results').action).toBe('give_up');
    // The tolerance is ours, from how the API behaves: it holds even when the header says not to retry.
    expect(classifyApiFailure(answer(404, { 'x-should-retry': 'false' }), { call: 'retrieve' }).action).toBe('retry');
  });
});

describe('classifyApiFailure: no answer', () => {
  const refused = () =>
    new Anthropic.APIConnectionError({
      cause: Object.assign(new TypeError('fetch failed'), {
        cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
      }),
    });
  const generic = () => new Anthropic.APIConnectionError({ message: 'Connection error.' });
  const timeout = () => new Anthropic.APIConnectionTimeoutError();
  const cut = () =>
    new TypeError('terminated', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });
  const reset = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
  const dns = () => Object.assign(new Error('getaddrinfo ENOTFOUND api.example'), { code: 'ENOTFOUND' });

  const TABLE: Array<[string, () => unknown, Partial<Record<ApiCall, ApiAction>>, string]> = [
    [
      'a refused connection (nothing was sent)',
      refused,
      { create: 'retry', retrieve: 'retry', list: 'retry' },
      'unreachable',
    ],
    [
      'a connection error',
      generic,
      { create: 'reconcile', retrieve: 'retry', list: 'retry', results: 'retry' },
      'unreachable',
    ],
    ['a timeout', timeout, { create: 'reconcile', retrieve: 'retry', models: 'retry' }, 'timeout'],
    [
      'a body cut mid-way (undici terminated)',
      cut,
      { create: 'reconcile', results: 'retry', retrieve: 'retry' },
      'connection_cut',
    ],
    ['a reset', reset, { create: 'reconcile', list: 'retry' }, 'connection_cut'],
    ['a DNS failure', dns, { create: 'reconcile', retrieve: 'retry' }, 'unreachable'],
  ];
  for (const [what, make, actions, kind] of TABLE) {
    it(what, () => {
      for (const [call, action] of Object.entries(actions) as Array<[ApiCall, ApiAction]>) {
        expect(classifyApiFailure(make(), { call }), `${call}`).toMatchObject({
          action,
          kind,
          failureType: 'transient_error',
          code: 'API_UNREACHABLE',
        });
      }
    });
  }

  it('restarts a cut download a bounded number of times', () => {
    expect(classifyApiFailure(cut(), { call: 'results', attempt: 7 }).action).toBe('retry');
    expect(classifyApiFailure(cut(), { call: 'results', attempt: 8 }).action).toBe('give_up');
  });

  it('names the network cause in the message and redacts a key in it', () => {
    const key = fakeKey('NOTAREALKEYclassifierTEST', 'ZZ');
    const err = new Anthropic.APIConnectionError({ cause: Object.assign(new Error(`bad url https://x:${key}@h`), {}) });
    const message = classifyApiFailure(err, { call: 'list' }).error('listing batches').message;
    expect(message).toMatch(/^listing batches: cannot reach the API \(/);
    expect(message).not.toContain('NOTAREALKEYclassifierTEST');
    expect(classifyApiFailure(refused(), { call: 'list' }).error('listing batches').message).toBe(
      'listing batches: cannot reach the API (ECONNREFUSED)',
    );
  });

  it('never retries our own stop', () => {
    for (const err of [
      new Interrupted(),
      new Anthropic.APIUserAbortError(),
      Object.assign(new Error('aborted'), { name: 'AbortError' }),
    ]) {
      for (const call of CALLS)
        expect(classifyApiFailure(err, { call })).toMatchObject({ action: 'give_up', kind: 'aborted' });
    }
    // undici aborting a request on a broken socket is the network's doing, not ours.
    const undiciAbort = Object.assign(new Error('Request aborted'), { name: 'AbortError', code: 'UND_ERR_ABORTED' });
    expect(classifyApiFailure(undiciAbort, { call: 'results' })).toMatchObject({
      action: 'retry',
      kind: 'connection_cut',
    });
  });

  it('gives up on anything else as ours (system_error), and keeps a ConnectorError as it is', () => {
    expect(classifyApiFailure(new Error('boom'), { call: 'retrieve' })).toMatchObject({
      action: 'give_up',
      failureType: 'system_error',
      code: 'API_UNEXPECTED',
    });
    expect(classifyApiFailure('a string', { call: 'create' }).error('creating a batch').message).toBe(
      'creating a batch failed: a string',
    );
    const notReady = transientError('RESULTS_NOT_READY', 'no results_url yet');
    expect(classifyApiFailure(notReady, { call: 'results' })).toMatchObject({ action: 'retry', kind: 'not_ready' });
    expect(classifyApiFailure(notReady, { call: 'results' }).error('x')).toBe(notReady);
    const config = new ConnectorError('config_error', 'CONFIG_INVALID', 'bad');
    expect(classifyApiFailure(config, { call: 'list' })).toMatchObject({
      action: 'give_up',
      failureType: 'config_error',
      code: 'CONFIG_INVALID',
    });
  });

  it('redacts a key the API echoes in its message', () => {
    const key = fakeKey('NOTAREALKEYechoedTEST000', 'YY');
    const e = classifyApiFailure(answer(401, {}, undefined, `invalid x-api-key ${key}`), { call: 'list' }).error(
      'checking the key',
    );
    expect(e.message).not.toContain('NOTAREALKEYechoedTEST000');
    expect(e.failureType).toBe('config_error');
  });
});
