import type { Readable } from 'node:stream';
import { ConnectorError } from '../errors.js';
import type { AirbyteMessage } from './messages.js';

export interface Line {
  text: string;
  lineNumber: number;
}

/**
 * Splits a byte stream into lines (LF or CRLF), numbering from 1. Async iteration pulls chunks on demand,
 * so a slow consumer pauses stdin (backpressure) instead of buffering the whole input.
 */
export async function* readLines(input: Readable): AsyncGenerator<Line> {
  let pending: Buffer[] = [];
  let lineNumber = 0;
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    let nl: number;
    while ((nl = buf.indexOf(0x0a, start)) !== -1) {
      const piece = buf.subarray(start, nl);
      const whole = pending.length ? Buffer.concat([...pending, piece]) : piece;
      pending = [];
      lineNumber++;
      yield { text: stripCr(whole).toString('utf8'), lineNumber };
      start = nl + 1;
    }
    if (start < buf.length) pending.push(Buffer.from(buf.subarray(start)));
    buf = Buffer.alloc(0);
  }
  if (pending.length) {
    lineNumber++;
    yield { text: stripCr(Buffer.concat(pending)).toString('utf8'), lineNumber };
  }
}

function stripCr(buf: Buffer): Buffer {
  return buf.length && buf[buf.length - 1] === 0x0d ? buf.subarray(0, buf.length - 1) : buf;
}

/** Parses one protocol line. Blank lines return null; anything that is not a typed message object throws. */
export function parseMessage(line: Line): AirbyteMessage | null {
  if (line.text.trim() === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(line.text);
  } catch (err) {
    throw new ConnectorError(
      'system_error',
      'INPUT_NOT_JSON',
      `stdin line ${line.lineNumber}: not valid JSON (${(err as Error).message})`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConnectorError('system_error', 'INPUT_NOT_OBJECT', `stdin line ${line.lineNumber}: expected a JSON object`);
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string') {
    throw new ConnectorError('system_error', 'INPUT_NO_TYPE', `stdin line ${line.lineNumber}: message has no "type"`);
  }
  if (type === 'RECORD') {
    const record = (value as { record?: unknown }).record as Record<string, unknown> | undefined;
    if (!record || typeof record !== 'object' || typeof record.stream !== 'string') {
      throw new ConnectorError('system_error', 'INPUT_BAD_RECORD', `stdin line ${line.lineNumber}: RECORD without record.stream`);
    }
    const data = record.data;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      throw new ConnectorError(
        'system_error',
        'INPUT_BAD_RECORD',
        `stdin line ${line.lineNumber}: RECORD for stream "${record.stream}" has no object "data"`,
      );
    }
  }
  return value as AirbyteMessage;
}
