import type { ConnectorConfig } from '../config/config.js';
import { ConnectorError } from '../common/errors.js';
import type { BuiltRequest } from '../requests/build.js';
import { BatchShape, type BatchLimits } from './open-batch.js';
import type { SpooledRecord } from '../types/shared.js';

/** The batch caps, and the largest single request that can still go into a batch. */
export function batchLimits(config: ConnectorConfig): BatchLimits & { maxRequestBytes: number } {
  return {
    maxRequests: config.max_requests_per_batch,
    maxBytes: config.max_batch_bytes,
    maxRequestBytes: config.max_batch_bytes - BatchShape.overhead(0),
  };
}

/** Requests in a run's first batch under batch_ramp_up; each next batch may hold twice as many. */
export const RAMP_FIRST_REQUESTS = 1000;

/**
 * The caps of the run's batch number `seq` (0 = first). Under batch_ramp_up the first batches are smaller
 * (1,000 requests, 2,000, 4,000, … up to max_requests_per_batch): a sync of 10,000 records then has its
 * first answers back, and Parquet being written, while most of its input is still being read, where one
 * full batch would wait for the last record before anything is sent. `write` and `estimate` both pack with it.
 */
export function batchLimitsFor(config: ConnectorConfig, seq: number): BatchLimits & { maxRequestBytes: number } {
  const limits = batchLimits(config);
  if (!config.batch_ramp_up) return limits;
  return { ...limits, maxRequests: Math.min(limits.maxRequests, RAMP_FIRST_REQUESTS * 2 ** Math.min(seq, 30)) };
}

/** How a record's request is built under the oversize policy: cut to fit, or left whole (and then skipped). */
export function buildLimits(config: ConnectorConfig): { maxBytes?: number } {
  return config.oversize_policy === 'truncate' ? { maxBytes: batchLimits(config).maxRequestBytes } : {};
}

/**
 * Why a record is not sent (a row records it), under the missing-field and oversize policies; undefined if
 * it is sent. `missing_field_policy: fail` ends the run here, naming the line.
 */
export function skipFor(request: BuiltRequest, config: ConnectorConfig, lineNumber: number): SpooledRecord['skip'] {
  if (request.missingFields.length > 0 && config.missing_field_policy !== 'render_empty') {
    const what = `the record lacks ${request.missingFields.map((f) => `"${f}"`).join(', ')}, used by the prompt template`;
    if (config.missing_field_policy === 'fail') {
      throw new ConnectorError(
        'config_error',
        'RECORD_MISSING_FIELD',
        `stdin line ${lineNumber}: ${what} (missing_field_policy is "fail"; "skip" or "render_empty" let the run go on)`,
      );
    }
    return { type: 'missing_field', message: `${what}; not sent (missing_field_policy "skip")` };
  }
  const { maxRequestBytes, maxBytes } = batchLimits(config);
  if (request.bytes > maxRequestBytes)
    return {
      type: 'too_large',
      message: `the request is ${request.bytes} bytes, over max_batch_bytes (${maxBytes}); not sent`,
    };
  return undefined;
}
