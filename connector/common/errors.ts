/** Airbyte failure types: who has to act. config → the user, system → us, transient → try again later. */
export type FailureType = 'config_error' | 'system_error' | 'transient_error';

/**
 * The one error type the connector raises on purpose. `code` is stable (tests and users match on it);
 * `failureType` becomes the TRACE message's failure_type.
 *
 * @example throw new ConnectorError('config_error', 'CONFIG_INVALID', 'max_tokens must be >= 1')
 */
export class ConnectorError extends Error {
  constructor(
    readonly failureType: FailureType,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ConnectorError';
  }
}

export const configError = (code: string, message: string, cause?: unknown) =>
  new ConnectorError('config_error', code, message, { cause });
export const systemError = (code: string, message: string, cause?: unknown) =>
  new ConnectorError('system_error', code, message, { cause });
export const transientError = (code: string, message: string, cause?: unknown) =>
  new ConnectorError('transient_error', code, message, { cause });

const secrets = new Set<string>();

/** Registers a value that must never leave the process; every message we print passes through redact(). */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) secrets.add(value);
}

/** Replaces registered secrets (and anything shaped like an Anthropic key) with a placeholder. */
export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('[REDACTED]');
  return out.replace(/sk-ant-[A-Za-z0-9_-]{8,}/g, '[REDACTED]');
}

/** Any thrown value → a ConnectorError, keeping ConnectorErrors as they are. */
export function asConnectorError(err: unknown): ConnectorError {
  if (err instanceof ConnectorError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return systemError('UNEXPECTED', message, err);
}
