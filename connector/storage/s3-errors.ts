import { BROKEN_CONNECTION_CODES, REFUSED_CODE } from '../common/network-errors.js';
import { ConnectorError, redact, type FailureType } from '../common/errors.js';

/** What the SDK's errors carry that we look at: never the request (its headers hold the signature). */
interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const shape = (err: unknown): SdkErrorShape =>
  typeof err === 'object' && err !== null ? (err as SdkErrorShape) : { message: String(err) };
const statusOf = (err: unknown) => shape(err).$metadata?.httpStatusCode;
const nameOf = (err: unknown) => shape(err).name ?? shape(err).Code ?? '';

export const isNotFound = (err: unknown) =>
  ['NoSuchKey', 'NotFound'].includes(nameOf(err)) || (statusOf(err) === 404 && nameOf(err) !== 'NoSuchBucket');
/** 412: the key exists. 409 ConditionalRequestConflict: another conditional write of it is under way (and wins). */
export const isPreconditionFailed = (err: unknown) =>
  statusOf(err) === 412 || nameOf(err) === 'PreconditionFailed' || nameOf(err) === 'ConditionalRequestConflict';
export const isNotImplemented = (err: unknown) => statusOf(err) === 501 || nameOf(err) === 'NotImplemented';

/** Node's and undici's codes of an endpoint that refused, broke or never answered: worth another try. */
const NETWORK_CODES: ReadonlySet<string> = new Set([...BROKEN_CONNECTION_CODES, REFUSED_CODE, 'UND_ERR_SOCKET']);
const AUTH_NAMES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'AuthorizationHeaderMalformed',
  'CredentialsProviderError',
  'InvalidClientTokenId',
]);
const THROTTLE_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestTimeoutException',
]);

/** What went wrong, in the words a user acts on, and whose move it is. */
export function classifyStorageError(err: unknown): { failureType: FailureType; code: string; hint: string } {
  const e = shape(err);
  const name = nameOf(err);
  const status = statusOf(err);
  if (name === 'NoSuchBucket')
    return {
      failureType: 'config_error',
      code: 'STORAGE_NO_BUCKET',
      hint: 'the bucket does not exist (check the bucket name in destination_path, the region and the endpoint)',
    };
  if (AUTH_NAMES.has(name) || status === 401 || status === 403) {
    return {
      failureType: 'config_error',
      code: 'STORAGE_ACCESS_DENIED',
      hint: 'access denied (check the access key, secret and session token, and that the policy allows this action on the bucket and prefix)',
    };
  }
  if (name === 'PermanentRedirect' || name === 'IncorrectEndpoint' || status === 301) {
    return {
      failureType: 'config_error',
      code: 'STORAGE_WRONG_REGION',
      hint: 'the bucket is in another region or behind another endpoint (set s3.region or s3.endpoint)',
    };
  }
  const errno =
    e.code ??
    (err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string'
      ? (err as NodeJS.ErrnoException).code
      : undefined);
  if (
    (errno && NETWORK_CODES.has(errno)) ||
    THROTTLE_NAMES.has(name) ||
    (status !== undefined && (status >= 500 || status === 429)) ||
    name === 'AbortError'
  ) {
    return {
      failureType: 'transient_error',
      code: 'STORAGE_UNAVAILABLE',
      hint:
        errno && NETWORK_CODES.has(errno)
          ? 'the endpoint cannot be reached'
          : 'the object store is unavailable or throttling',
    };
  }
  return { failureType: 'system_error', code: 'STORAGE_FAILED', hint: 'the object store refused the request' };
}

/**
 * The SDK's error as a ConnectorError: the operation, the object (as s3://bucket/key), the error's name, HTTP
 * status and message, and a hint. Built from those fields only, never from the request (whose headers hold
 * the access key id and signature), then redacted; the SDK error is not kept as the cause, so nothing that
 * prints causes can reach its request either. A ConnectorError passes through unchanged.
 */
export function storageError(op: string, where: string, err: unknown): ConnectorError {
  if (err instanceof ConnectorError) return err;
  const { failureType, code, hint } = classifyStorageError(err);
  const e = shape(err);
  const status = statusOf(err);
  const detail = [
    e.name ?? e.Code,
    status !== undefined ? `HTTP ${status}` : undefined,
    e.code && e.code !== e.name ? e.code : undefined,
  ]
    .filter(Boolean)
    .join(', ');
  const message = (e.message ?? '').split('\n')[0]!.slice(0, 300);
  return new ConnectorError(
    failureType,
    code,
    redact(`cannot ${op} ${where}: ${hint}${detail ? ` [${detail}]` : ''}${message ? `: ${message}` : ''}`),
  );
}
