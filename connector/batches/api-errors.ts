import Anthropic from '@anthropic-ai/sdk';
import { ConnectorError, redact, type FailureType } from '../common/errors.js';

/**
 * Wraps an SDK/transport error in a ConnectorError whose failure type says who must act: a rejected key or
 * an exhausted spend cap is the user's (config), throttling/outages/network are transient, anything else
 * is ours (system). The message names the action, the HTTP status, the API's error type and request id.
 */
export function apiError(err: unknown, action: string): ConnectorError {
  if (err instanceof ConnectorError) return err;
  if (err instanceof Anthropic.APIConnectionError) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const detail = cause?.code ?? cause?.message ?? err.message;
    return new ConnectorError('transient_error', 'API_UNREACHABLE', redact(`${action}: cannot reach the API (${detail})`), { cause: err });
  }
  if (err instanceof Anthropic.APIError) {
    const status = err.status ?? 0;
    const type = err.type ?? 'unknown_error';
    const apiMessage = err.apiMessage ?? err.message;
    const requestId = err.requestID ? `, request_id ${err.requestID}` : '';
    let failureType: FailureType = 'system_error';
    let hint = '';
    if (status === 401 || status === 403) {
      failureType = 'config_error';
      hint = ': check the API key and its workspace permissions';
    } else if (status === 429 && err.errorCode?.includes('spend_limit')) {
      failureType = 'config_error';
      hint = ': the spend limit is reached; raise it or wait for it to reset';
    } else if (status === 402) {
      failureType = 'config_error';
      hint = ': a billing problem on the account';
    } else if (status === 408 || status === 409 || status === 429 || status >= 500) {
      failureType = 'transient_error';
    }
    return new ConnectorError(
      failureType,
      `API_${status || 'ERROR'}`,
      redact(`${action} failed: HTTP ${status} ${type}: ${apiMessage}${requestId}${hint}`),
      { cause: err },
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ConnectorError('system_error', 'API_UNEXPECTED', redact(`${action} failed: ${message}`), { cause: err });
}

/** Seconds to wait before retrying, from retry-after(-ms) headers when the API gave them. */
export function retryAfterMs(err: unknown): number | undefined {
  if (!(err instanceof Anthropic.APIError) || !err.headers) return undefined;
  const ms = Number(err.headers.get('retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return ms;
  const s = Number(err.headers.get('retry-after'));
  return Number.isFinite(s) && s > 0 ? s * 1000 : undefined;
}

/**
 * A 429 that is the API pacing us (requests per minute, a full processing queue, acceleration): it says when to
 * come back, and is never an outage. The spend cap is not pacing: it will not pass by waiting.
 */
export function isPacing(err: unknown): boolean {
  return err instanceof Anthropic.APIError && err.status === 429 && !isSpendCap(err);
}

/** The spend-cap 429 (`enforced_spend_limit_reached` and its contract variant): only the user can lift it. */
export function isSpendCap(err: unknown): boolean {
  return err instanceof Anthropic.APIError && err.status === 429 && (err.errorCode ?? '').includes('spend_limit');
}

export function httpStatus(err: unknown): number | undefined {
  return err instanceof Anthropic.APIError ? err.status : undefined;
}
