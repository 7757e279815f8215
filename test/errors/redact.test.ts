// Guards redaction where keys really turn up: in undici's own error messages (a key pasted into base_url),
// nested in the SDK's cause chain, in a stack trace, and in what the message writer prints.
import { PassThrough } from 'node:stream';
import Anthropic from '@anthropic-ai/sdk';
import { fetch as undiciFetch } from 'undici';
import { describe, expect, it } from 'vitest';
import { apiError } from '../../connector/batches/api-failure.js';
import { asConnectorError, redact, registerSecret } from '../../connector/common/errors.js';
import { MessageWriter } from '../../connector/protocol/writer.js';
import { fakeKey } from '../helpers/fake-key.js';

const MIDDLE = 'NOTAREALKEYredactionTEST'.repeat(2);
const KEY = fakeKey(MIDDLE, 'QQ');

/** Everything a logger could print about an error: messages, codes and stacks down its cause chain. */
function dump(err: unknown): string {
  const parts: string[] = [];
  for (
    let e = err as { message?: unknown; stack?: unknown; cause?: unknown; code?: unknown } | undefined, depth = 0;
    e && depth < 10;
    e = e.cause as typeof e, depth++
  ) {
    parts.push(String(e.message ?? e), String(e.stack ?? ''), String(e.code ?? ''));
  }
  return parts.join('\n');
}

async function undiciErrorWithKey(): Promise<Error> {
  try {
    await undiciFetch(`http://user:${KEY}@127.0.0.1:9/v1/messages/batches`);
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected undici to refuse a URL with credentials');
}

describe('redact', () => {
  it('catches a key inside a real undici error message', async () => {
    const err = await undiciErrorWithKey();
    expect(err.message).toContain(KEY); // the danger is real
    expect(redact(dump(err))).not.toContain(MIDDLE);
  });

  it('catches it through the SDK cause chain and apiError', async () => {
    const inner = await undiciErrorWithKey();
    const sdk = new Anthropic.APIConnectionError({
      message: `Connection error.`,
      cause: new TypeError('fetch failed', { cause: inner }),
    });
    const wrapped = apiError(new Anthropic.APIConnectionError({ cause: inner }), 'listing batches');
    expect(wrapped.message).not.toContain(MIDDLE);
    expect(wrapped.message).toContain('[REDACTED]');
    expect(redact(dump(sdk))).not.toContain(MIDDLE);
    const unexpected = asConnectorError(new Error(`boom: Authorization: Bearer ${KEY}`, { cause: inner }));
    expect(redact(dump(unexpected))).not.toContain(MIDDLE);
  });

  it('catches an SDK APIError whose body echoes the key', () => {
    const err = Anthropic.APIError.generate(
      401,
      { type: 'error', error: { type: 'authentication_error', message: `invalid x-api-key ${KEY}` } },
      undefined,
      new Headers(),
    );
    const wrapped = apiError(err, 'checking the key');
    expect(wrapped.message).not.toContain(MIDDLE);
    expect(redact(dump(err))).not.toContain(MIDDLE);
  });

  it('catches registered secrets that do not look like Anthropic keys, and the writer redacts every line', async () => {
    const custom = 'corp-proxy-token-5u9Rk2LwQz';
    registerSecret(custom);
    expect(redact(`x-api-key: ${custom}; ${KEY}`)).toBe('x-api-key: [REDACTED]; [REDACTED]');
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString()));
    const writer = new MessageWriter(out);
    const err = await undiciErrorWithKey();
    await writer.traceError(err.message, 'system_error', dump(err), err.stack);
    await writer.log('ERROR', `retrying with ${custom}`);
    expect(text).not.toContain(MIDDLE);
    expect(text).not.toContain(custom);
    expect(
      text
        .split('\n')
        .filter(Boolean)
        .every((l) => JSON.parse(l)),
    ).toBe(true);
  });
});
