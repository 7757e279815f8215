import type { MessageBatchIndividualResponse } from '@anthropic-ai/sdk/resources/messages/batches';
import type { Answer, Outcome, Verdict } from '../types/shared.js';

/** Reads one results line into an Outcome. `errored` keeps the inner error type (the envelope's is always "error"). */
export function outcomeOf(response: MessageBatchIndividualResponse | undefined): Outcome {
  if (!response) return { status: 'missing' };
  const result = response.result;
  switch (result.type) {
    case 'succeeded': {
      const m = result.message;
      const output = m.content.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('');
      return {
        status: 'succeeded',
        output,
        model: m.model,
        stopReason: m.stop_reason,
        inputTokens: m.usage.input_tokens,
        outputTokens: m.usage.output_tokens,
        cacheReadTokens: m.usage.cache_read_input_tokens ?? 0,
        cacheWriteTokens: m.usage.cache_creation_input_tokens ?? 0,
      };
    }
    case 'errored':
      return {
        status: 'errored',
        errorType: result.error?.error?.type ?? 'unknown_error',
        errorMessage: result.error?.error?.message ?? 'no message',
      };
    case 'expired':
      return { status: 'expired' };
    case 'canceled':
      return { status: 'canceled' };
    default: {
      const never: never = result;
      return {
        status: 'errored',
        errorType: 'unknown_result_type',
        errorMessage: `unknown result type ${JSON.stringify((never as { type?: unknown }).type)}`,
      };
    }
  }
}

function putAnswer(row: Record<string, unknown>, answer: Answer): void {
  row._claude_output = answer.output;
  row._claude_model = answer.model;
  if (answer.stopReason !== null) row._claude_stop_reason = answer.stopReason;
  row._claude_input_tokens = answer.inputTokens;
  row._claude_output_tokens = answer.outputTokens;
  row._claude_cache_read_tokens = answer.cacheReadTokens;
  row._claude_cache_write_tokens = answer.cacheWriteTokens;
}

const ERROR_TEXT = {
  expired: ['expired', 'the batch reached its 24 h limit before this request ran'],
  canceled: ['canceled', 'the batch was canceled before this request ran'],
  missing: ['result_missing', 'the results file has no line for this request'],
} as const;

/**
 * Sets the enrichment columns of a row for an outcome (column names as in sinks/arrow-schema.ts). Written
 * straight into the row, once per output row: a column without a value is left out (null).
 */
export function putEnrichmentColumns(
  row: Record<string, unknown>,
  outcome: Outcome,
  batchId: string | undefined,
  customId: string,
): void {
  row._claude_custom_id = customId;
  row._claude_status = outcome.status;
  if (batchId !== undefined) row._claude_batch_id = batchId;
  switch (outcome.status) {
    case 'succeeded':
      putAnswer(row, outcome);
      return;
    case 'invalid_output':
      putAnswer(row, outcome);
      row._claude_error_type = 'invalid_output';
      row._claude_error = outcome.reason;
      return;
    case 'errored':
    case 'skipped':
      row._claude_error_type = outcome.errorType;
      row._claude_error = outcome.errorMessage;
      return;
    case 'expired':
    case 'canceled':
    case 'missing':
      [row._claude_error_type, row._claude_error] = ERROR_TEXT[outcome.status];
      return;
    default: {
      const never: never = outcome;
      throw new Error(`unhandled outcome ${JSON.stringify(never)}`);
    }
  }
}

/** Error types worth sending again unchanged: the API's trouble, not the request's. */
const RETRYABLE_ERRORS = new Set(['api_error', 'overloaded_error', 'rate_limit_error', 'timeout_error']);

export interface ResubmitPolicy {
  retryExpired: boolean;
  retryCanceled: boolean;
}

export function verdictOf(outcome: Outcome): Verdict {
  if (outcome.status === 'succeeded' || outcome.status === 'invalid_output')
    return { status: outcome.status, stopReason: outcome.stopReason };
  return 'errorType' in outcome ? { status: outcome.status, errorType: outcome.errorType } : { status: outcome.status };
}

/** Why a request should go into a follow-up batch, or undefined if its outcome is final. */
export function resubmitReason(outcome: Verdict, policy: ResubmitPolicy): string | undefined {
  switch (outcome.status) {
    case 'errored':
      return outcome.errorType !== undefined && RETRYABLE_ERRORS.has(outcome.errorType) ? outcome.errorType : undefined;
    case 'expired':
      return policy.retryExpired ? 'expired' : undefined;
    case 'canceled':
      return policy.retryCanceled ? 'canceled' : undefined;
    case 'missing':
      return 'missing';
    default:
      return undefined;
  }
}
