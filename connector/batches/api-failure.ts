import { BROKEN_CONNECTION_CODES, REFUSED_CODE } from '../common/network-errors.js';
import Anthropic from '@anthropic-ai/sdk';
import { ConnectorError, redact, type FailureType } from '../common/errors.js';
import { Interrupted } from './interrupted.js';

/**
 * The one place that decides what an API failure means: retry, wait as the API asks, look whether a create
 * went through, or give up (and whose problem it is). Callers never look at status codes themselves; they
 * act on the returned action and raise `failure.error(what)` when they give up.
 */

/** Which call failed. A create is the one that is not idempotent: a retried create can make a second, paid batch. */
export type ApiCall = 'create' | 'retrieve' | 'list' | 'results' | 'cancel' | 'models' | 'count_tokens';

/**
 * - `retry`: a transient failure; wait (`waitMs`, or the caller's backoff) and call again, within the patience.
 * - `pace`: the API is up and pacing us (a rate-limit 429): wait as long as it asks; never an outage.
 * - `reconcile`: a create whose answer was lost after it was sent: it may have made the batch, so list recent
 *   batches and adopt a match before creating again.
 * - `settled`: what the call was for already holds (cancelling a batch that has ended or is unknown).
 * - `give_up`: no retry can help; raise `error(what)`.
 */
export type ApiAction = 'retry' | 'pace' | 'reconcile' | 'settled' | 'give_up';

/** What went wrong, in a word callers may branch on (never a status code). */
export type FailureKind =
  | 'aborted'
  | 'unreachable'
  | 'timeout'
  | 'connection_cut'
  | 'auth'
  | 'billing'
  | 'spend_limit'
  | 'rate_limited'
  | 'not_found'
  | 'conflict'
  | 'request_timeout'
  | 'rejected'
  | 'server_error'
  | 'overloaded'
  | 'not_ready'
  | 'unexpected';

export interface ApiCallContext {
  call: ApiCall;
  /** Failed attempts before this one (0 for the first): bounds the tolerances that are counted, not timed. */
  attempt?: number;
  /** When the batch a retrieve/results call names was created (ms); unknown counts as just created. */
  createdAt?: number;
  /**
   * The current time on the caller's clock (ms), for an HTTP-date `retry-after` and the batch's age. The
   * classifier never reads the wall clock: without it, such a `retry-after` is not used (the caller's
   * backoff applies) and the batch counts as just created (the early-404 tolerance is still bounded by
   * attempts).
   */
  now?: number;
}

export interface ApiFailure {
  action: ApiAction;
  kind: FailureKind;
  failureType: FailureType;
  /** Stable code of the ConnectorError raised on giving up, e.g. API_401, API_SPEND_LIMIT, API_UNREACHABLE. */
  code: string;
  /** How long the API asked us to wait (`retry-after-ms`, `retry-after` in seconds or as an HTTP date). */
  waitMs?: number;
  status?: number;
  /** The API's `error.type`, `error.details.error_code` and `request-id`, kept for messages. */
  errorType?: string;
  errorCode?: string;
  requestId?: string;
  /** The error to raise when giving up, its message naming `what` was being done (secrets redacted). */
  error(what: string): ConnectorError;
}

/** The API may not know a batch for a short while after create; after this, a 404 means it is gone. */
export const EARLY_404_WINDOW_MS = 2 * 60_000;
/** Lookups of a batch the API answers 404 for, while it is young, before it counts as gone. */
const EARLY_404_ATTEMPTS = 5;
/** Restarts of a results download cut mid-body before giving up on it. */
const BODY_RESTARTS = 8;
/** A `retry-after` further out than this is not believed (a clock or header gone wrong): the backoff is used. */
const MAX_WAIT_MS = 24 * 60 * 60_000;

/** Classifies any thrown value from an API call: an SDK error, a plain network error, an abort, or our own. */
export function classifyApiFailure(err: unknown, context: ApiCallContext): ApiFailure {
  if (isAbort(err)) return local(err, 'give_up', 'aborted', 'transient_error', 'API_ABORTED');
  if (err instanceof ConnectorError) {
    const kind = err.code === RESULTS_NOT_READY ? 'not_ready' : 'unexpected';
    return {
      action: err.failureType === 'transient_error' ? 'retry' : 'give_up',
      kind,
      failureType: err.failureType,
      code: err.code,
      error: () => err,
    };
  }
  if (err instanceof Anthropic.APIError && err.status !== undefined) return classifyAnswer(err, err.status, context);
  return classifyNetwork(err, context);
}

/** `classifyApiFailure(err, context).error(what)`: the ConnectorError for a failure given up on. */
export function apiError(err: unknown, what: string, context: ApiCallContext = { call: 'list' }): ConnectorError {
  return classifyApiFailure(err, context).error(what);
}

/** The code of the transient error raised while a batch that has ended has no results_url yet. */
export const RESULTS_NOT_READY = 'RESULTS_NOT_READY';

/** An HTTP answer: status, error body and headers. */
function classifyAnswer(
  err: InstanceType<typeof Anthropic.APIError>,
  status: number,
  context: ApiCallContext,
): ApiFailure {
  const { call } = context;
  const attempt = context.attempt ?? 0;
  const code = err.errorCode ?? undefined;
  const answer = (
    action: ApiAction,
    kind: FailureKind,
    failureType: FailureType,
    hint = '',
    codeName = `API_${status}`,
  ): ApiFailure => {
    const waitMs =
      action === 'retry' || action === 'pace' || action === 'reconcile'
        ? waitFrom(err.headers, context.now)
        : undefined;
    return {
      action,
      kind,
      failureType,
      code: codeName,
      status,
      ...(waitMs !== undefined ? { waitMs } : {}),
      ...(err.type ? { errorType: err.type } : {}),
      ...(code ? { errorCode: code } : {}),
      ...(err.requestID ? { requestId: err.requestID } : {}),
      error: (what) => httpError(err, status, what, failureType, codeName, hint),
    };
  };
  // The spend cap holds until the user lifts it (or the month turns): waiting cannot help, whatever the headers say.
  if ((status === 429 || status === 402) && (code ?? '').includes('spend_limit')) {
    return answer(
      'give_up',
      'spend_limit',
      'config_error',
      ': the spend limit is reached; raise it or wait for it to reset',
      'API_SPEND_LIMIT',
    );
  }
  if (call === 'cancel' && (status === 400 || status === 404 || status === 409))
    return answer('settled', status === 404 ? 'not_found' : 'conflict', 'system_error');
  // Our knowledge of the API, before its header: a batch is briefly unknown right after its create.
  if (status === 404 && (call === 'retrieve' || call === 'results')) {
    const age = context.createdAt === undefined || context.now === undefined ? 0 : context.now - context.createdAt;
    const young = age < EARLY_404_WINDOW_MS && attempt < EARLY_404_ATTEMPTS;
    return answer(young ? 'retry' : 'give_up', 'not_found', 'transient_error');
  }
  const kind = kindOf(status);
  const failureType = failureTypeOf(status, call);
  // The API's own word on whether another try can succeed, as the SDK reads it.
  const shouldRetry = err.headers?.get('x-should-retry');
  if (shouldRetry === 'false') return answer('give_up', kind, failureType, hintOf(status));
  if (shouldRetry === 'true' || isRetryableStatus(status)) {
    if (status === 429) return answer('pace', kind, 'transient_error');
    // A 5xx may come after the create went through; a 4xx proves it was refused.
    if (call === 'create') return answer(status >= 500 ? 'reconcile' : 'retry', kind, 'transient_error');
    return answer('retry', kind, 'transient_error');
  }
  return answer('give_up', kind, failureType, hintOf(status));
}

/** Statuses that a later identical call can succeed on: timeouts, conflicts, pacing, server trouble (529 too). */
function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

function kindOf(status: number): FailureKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 402) return 'billing';
  if (status === 404) return 'not_found';
  if (status === 408) return 'request_timeout';
  if (status === 409) return 'conflict';
  if (status === 429) return 'rate_limited';
  if (status === 529) return 'overloaded';
  if (status >= 500) return 'server_error';
  return 'rejected';
}

/** Who must act on a failure given up on: the user for a key, permission or billing problem, us otherwise. */
function failureTypeOf(status: number, call: ApiCall): FailureType {
  if (status === 401 || status === 402 || status === 403) return 'config_error';
  if (status === 404 && call === 'models') return 'config_error';
  return isRetryableStatus(status) ? 'transient_error' : 'system_error';
}

function hintOf(status: number): string {
  if (status === 401 || status === 403) return ': check the API key and its workspace permissions';
  if (status === 402) return ': a billing problem on the account';
  return '';
}

function httpError(
  err: InstanceType<typeof Anthropic.APIError>,
  status: number,
  what: string,
  failureType: FailureType,
  code: string,
  hint: string,
): ConnectorError {
  const type = err.type ?? 'unknown_error';
  const apiMessage = err.apiMessage ?? err.message;
  const requestId = err.requestID ? `, request_id ${err.requestID}` : '';
  return new ConnectorError(
    failureType,
    code,
    redact(`${what} failed: HTTP ${status} ${type}: ${apiMessage}${requestId}${hint}`),
    { cause: err },
  );
}

/** No HTTP answer: the connection was refused, broke, timed out, or the value is not a network error at all. */
function classifyNetwork(err: unknown, context: ApiCallContext): ApiFailure {
  const codes = causeCodes(err);
  const create = context.call === 'create';
  if (codes.some((c) => c === REFUSED_CODE)) return unreachable(err, 'retry', 'unreachable');
  if (err instanceof Anthropic.APIConnectionTimeoutError)
    return unreachable(err, create ? 'reconcile' : 'retry', 'timeout');
  if (isCut(err, codes)) {
    if (create) return unreachable(err, 'reconcile', 'connection_cut');
    const giveUp = context.call === 'results' && (context.attempt ?? 0) >= BODY_RESTARTS;
    return unreachable(err, giveUp ? 'give_up' : 'retry', 'connection_cut');
  }
  if (
    err instanceof Anthropic.APIConnectionError ||
    codes.some((c) => BROKEN_CONNECTION_CODES.has(c) || c.startsWith('UND_ERR_'))
  ) {
    return unreachable(err, create ? 'reconcile' : 'retry', 'unreachable');
  }
  return local(err, 'give_up', 'unexpected', 'system_error', 'API_UNEXPECTED');
}

function unreachable(err: unknown, action: ApiAction, kind: FailureKind): ApiFailure {
  return {
    action,
    kind,
    failureType: 'transient_error',
    code: 'API_UNREACHABLE',
    error: (what) => {
      // The most telling detail: a network code anywhere down the chain (undici nests it), else the cause's words.
      const cause = (err as { cause?: { message?: string } }).cause;
      const detail = causeCodes(err)[0] ?? cause?.message ?? (err as Error)?.message ?? String(err);
      return new ConnectorError(
        'transient_error',
        'API_UNREACHABLE',
        redact(`${what}: cannot reach the API (${detail})`),
        { cause: err },
      );
    },
  };
}

function local(err: unknown, action: ApiAction, kind: FailureKind, failureType: FailureType, code: string): ApiFailure {
  return {
    action,
    kind,
    failureType,
    code,
    error: (what) => {
      const message = err instanceof Error ? err.message : String(err);
      return new ConnectorError(failureType, code, redact(`${what} failed: ${message}`), { cause: err });
    },
  };
}

/**
 * Our own stop (an aborted signal, the SDK's user abort): never retried; the caller decides what stopping
 * means. undici's own aborts of a broken connection (an UND_ERR_ code) are network failures, not stops.
 */
function isAbort(err: unknown): boolean {
  if (err instanceof Interrupted || err instanceof Anthropic.APIUserAbortError) return true;
  return (
    (err as { name?: unknown } | null)?.name === 'AbortError' && !causeCodes(err).some((c) => c.startsWith('UND_ERR_'))
  );
}

/** A connection that broke mid-way (undici "terminated", a reset, the other side closing). */
function isCut(err: unknown, codes: string[]): boolean {
  const e = err as { name?: string; message?: string } | null;
  return (
    (e?.name === 'TypeError' && /terminated/i.test(e.message ?? '')) ||
    codes.some((c) => c === 'UND_ERR_SOCKET' || c === 'ECONNRESET' || c === 'UND_ERR_ABORTED') ||
    /terminated|ECONNRESET|other side closed/i.test(e?.message ?? '')
  );
}

/** The `code`s along an error's cause chain (undici nests the socket error two levels down). */
function causeCodes(err: unknown): string[] {
  const codes: string[] = [];
  let e = err as { code?: unknown; cause?: unknown } | null | undefined;
  for (let depth = 0; e && typeof e === 'object' && depth < 5; depth++, e = e.cause as typeof e) {
    if (typeof e.code === 'string') codes.push(e.code);
  }
  return codes;
}

/**
 * The wait the API asked for: `retry-after-ms`, else `retry-after` as seconds or as an HTTP date (against
 * `now`, the caller's clock; none given, a date is not used). Absent, non-positive or absurd values give
 * undefined (the caller's backoff applies).
 */
export function waitFrom(headers: Headers | undefined, now: number | undefined): number | undefined {
  if (!headers) return undefined;
  const ms = parseFloat(headers.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms > 0 && ms <= MAX_WAIT_MS) return Math.ceil(ms);
  const after = headers.get('retry-after');
  if (!after) return undefined;
  const seconds = /^\s*\d+(\.\d+)?\s*$/.test(after) ? parseFloat(after) : NaN;
  const wait = Number.isFinite(seconds) ? seconds * 1000 : now === undefined ? NaN : Date.parse(after) - now;
  return Number.isFinite(wait) && wait > 0 && wait <= MAX_WAIT_MS ? Math.ceil(wait) : undefined;
}
