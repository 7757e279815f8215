import type { ConnectorConfig } from '../config/config.js';
import { ConnectorError } from '../errors.js';
import type { BuiltRequest } from '../requests/build.js';
import type { SpooledRecord } from '../state/spool.js';
import { BatchShape, type BatchLimits } from './open-batch.js';

/** The batch caps, and the largest single request that can still go into a batch. */
export function batchLimits(config: ConnectorConfig): BatchLimits & { maxRequestBytes: number } {
  return {
    maxRequests: config.max_requests_per_batch,
    maxBytes: config.max_batch_bytes,
    maxRequestBytes: config.max_batch_bytes - BatchShape.overhead(0),
  };
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
      throw new ConnectorError('config_error', 'RECORD_MISSING_FIELD', `stdin line ${lineNumber}: ${what} (missing_field_policy is "fail"; "skip" or "render_empty" let the run go on)`);
    }
    return { type: 'missing_field', message: `${what}; not sent (missing_field_policy "skip")` };
  }
  const { maxRequestBytes, maxBytes } = batchLimits(config);
  if (request.bytes > maxRequestBytes) return { type: 'too_large', message: `the request is ${request.bytes} bytes, over max_batch_bytes (${maxBytes}); not sent` };
  return undefined;
}
