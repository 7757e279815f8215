import { TextDecoder } from 'node:util';
import { ConnectorError } from '../common/errors.js';
import type { AirbyteMessage, InputErrorKind } from './messages.js';

export type { InputErrorKind } from './messages.js';

/**
 * One line of stdin. `text` has its line ending (LF or CRLF) removed. A line the reader could not turn into
 * text (invalid UTF-8, a NUL byte, over `maxLineBytes`) or that the input ended in the middle of carries a
 * `problem`; parseMessage() turns it into an InputError, so a caller that decides to skip bad lines keeps
 * reading after it.
 */
export interface Line {
  text: string;
  lineNumber: number;
  /** Bytes of the line on stdin, without its line ending. */
  bytes?: number;
  /** The input ended without a newline after this line (the last line of the input). */
  unterminated?: boolean;
  /** Why this line is unusable, found while reading it; `text` is then empty. */
  problem?: { kind: Extract<InputErrorKind, 'invalid_utf8' | 'nul_byte' | 'line_too_long'>; detail: string };
}

export interface ReadLinesOptions {
  /** Longest line accepted, in bytes without its line ending (default 64 MiB). A longer line is skipped unread. */
  maxLineBytes?: number;
}

export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;

/**
 * Deepest nesting of arrays and objects accepted in a message. JSON.parse takes any depth, but JSON.stringify
 * (spool, requests, STATE echo) overflows the stack somewhere past ~5,000 levels: refused here, with a line number.
 */
export const MAX_NESTING = 1000;

/** How much of a line's own content an error message may quote: lines can hold secrets and personal data. */
const MAX_QUOTED_CHARS = 80;

/**
 * A line of stdin that is not a message this destination can act on. `kind` classifies it, so the caller
 * can apply a policy per kind (fail the sync, or skip the line and count it); `lineNumber` is the 1-based
 * stdin line. Messages never quote more than ~80 characters of the line.
 *
 * @example
 * try { message = parseMessage(line) } catch (err) { if (err instanceof InputError && err.kind === 'not_json') ... }
 */
export class InputError extends ConnectorError {
  constructor(
    readonly kind: InputErrorKind,
    readonly lineNumber: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('config_error', `INPUT_${kind.toUpperCase()}`, `stdin line ${lineNumber}: ${message}`, options);
    this.name = 'InputError';
  }
}

const MEANINGS: Record<InputErrorKind, string> = {
  not_json: 'the line is not valid JSON',
  not_object: 'the line is JSON but not an object (or a STATE message whose "state" is not an object)',
  no_type: 'the message has no string "type"',
  unknown_type: 'the message "type" is not an Airbyte message type',
  record_without_data: 'a RECORD without a "record" object, a "record.stream" name or a "record.data" object',
  record_data_not_object: 'a RECORD whose "record.data" is not a JSON object (an array, string, number…)',
  invalid_utf8: 'the line is not valid UTF-8',
  nul_byte: 'the line contains a NUL byte (binary data, not a protocol message)',
  line_too_long: 'the line is longer than the reader accepts (64 MiB by default); it was skipped unread',
  truncated_line: 'the input ends in the middle of a message (no newline, and the last fragment is not complete JSON)',
  too_deeply_nested: `the message nests arrays/objects more than ${MAX_NESTING} levels deep (it could not be written back out)`,
};

/** The one-line human meaning of each InputError kind (for docs and logs). */
export function describeInputError(kind: InputErrorKind): string {
  return MEANINGS[kind];
}

/** Every InputError kind, in the order of the docs table. */
export const INPUT_ERROR_KINDS = Object.keys(MEANINGS) as InputErrorKind[];

/** The Airbyte message types (airbyte_protocol.yaml); a destination acts on RECORD and STATE and ignores the rest. */
export const AIRBYTE_MESSAGE_TYPES: ReadonlySet<string> = new Set([
  'RECORD',
  'STATE',
  'LOG',
  'SPEC',
  'CONNECTION_STATUS',
  'CATALOG',
  'TRACE',
  'CONTROL',
  'DESTINATION_CATALOG',
]);

const NEWLINE = 0x0a;
const CR = 0x0d;

function asBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError(`readLines: unexpected chunk type ${typeof chunk}`);
}

/**
 * Splits a byte stream into lines (LF or CRLF), numbering from 1: the n-th line is the text before the n-th
 * newline, and a last line without a newline is yielded with `unterminated`. Async iteration pulls chunks on
 * demand, so a slow consumer pauses stdin (backpressure) instead of buffering the whole input.
 *
 * A line's chunks are joined once, when its newline arrives (no quadratic concatenation). A line that grows
 * past `maxLineBytes` is not buffered further: the rest of it is read and dropped up to the next newline, and
 * it is yielded with problem `line_too_long`. Each line is decoded with a fatal UTF-8 decoder: invalid UTF-8
 * is reported (`invalid_utf8`), never silently replaced; a NUL byte is reported as `nul_byte`.
 */
export async function* readLines(input: AsyncIterable<unknown>, options: ReadLinesOptions = {}): AsyncGenerator<Line> {
  for await (const lines of readLineBatches(input, options)) yield* lines;
}

/**
 * readLines(), a chunk of stdin at a time: each step yields the lines completed by one chunk (never an empty
 * array), so a consumer pays one async step per chunk rather than per line.
 */
export async function* readLineBatches(
  input: AsyncIterable<unknown>,
  options: ReadLinesOptions = {},
): AsyncGenerator<Line[]> {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  /** Bytes of the current line dropped so far because it passed maxLineBytes; -1 while the line is kept. */
  let skipped = -1;
  let lineNumber = 0;

  const tooLong = (bytes: number, unterminated: boolean): Line => {
    skipped = -1;
    return {
      text: '',
      lineNumber,
      bytes,
      ...(unterminated ? { unterminated } : {}),
      problem: { kind: 'line_too_long', detail: `${bytes} bytes, over the limit of ${maxLineBytes}` },
    };
  };
  const take = (whole: Buffer, unterminated: boolean): Line => {
    pending = [];
    pendingBytes = 0;
    if (whole.length && whole[whole.length - 1] === CR) whole = whole.subarray(0, whole.length - 1);
    if (whole.length > maxLineBytes) return tooLong(whole.length, unterminated);
    if (lineNumber === 1 && whole.length >= 3 && whole[0] === 0xef && whole[1] === 0xbb && whole[2] === 0xbf)
      whole = whole.subarray(3);
    return decodeLine(decoder, whole, lineNumber, unterminated);
  };

  for await (const chunk of input) {
    const buf = asBuffer(chunk);
    const lines: Line[] = [];
    let start = 0;
    for (let nl = buf.indexOf(NEWLINE, start); nl !== -1; nl = buf.indexOf(NEWLINE, start)) {
      lineNumber++;
      if (skipped >= 0) {
        const crlf = nl > start ? buf[nl - 1] === CR : false;
        lines.push(tooLong(skipped + nl - start - (crlf ? 1 : 0), false));
      } else if (pendingBytes + nl - start > maxLineBytes + 1) {
        // Longer than the limit even if it ends in CRLF: never joined.
        const bytes = pendingBytes + nl - start - (nl > start && buf[nl - 1] === CR ? 1 : 0);
        pending = [];
        pendingBytes = 0;
        lines.push(tooLong(bytes, false));
      } else if (pending.length) {
        lines.push(take(Buffer.concat([...pending, buf.subarray(start, nl)], pendingBytes + nl - start), false));
      } else {
        lines.push(take(buf.subarray(start, nl), false));
      }
      start = nl + 1;
    }
    if (start < buf.length) {
      const rest = buf.length - start;
      if (skipped >= 0) skipped += rest;
      else if (pendingBytes + rest > maxLineBytes + 1) {
        // Past the limit: drop what we hold and only count the rest of the line from now on.
        skipped = pendingBytes + rest;
        pending = [];
        pendingBytes = 0;
      } else {
        // A copy: the stream may reuse its chunk, and a small tail should not pin a large one.
        pending.push(Buffer.from(buf.subarray(start)));
        pendingBytes += rest;
      }
    }
    if (lines.length) yield lines;
  }
  if (skipped >= 0) {
    lineNumber++;
    yield [tooLong(skipped, true)];
  } else if (pendingBytes > 0) {
    lineNumber++;
    yield [take(pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes), true)];
  }
}

function decodeLine(decoder: TextDecoder, bytes: Buffer, lineNumber: number, unterminated: boolean): Line {
  const nul = bytes.indexOf(0);
  let text = '';
  let problem: Line['problem'];
  if (nul !== -1) problem = { kind: 'nul_byte', detail: `a NUL byte at byte ${nul + 1} of the line` };
  else {
    try {
      text = decoder.decode(bytes);
    } catch {
      problem = { kind: 'invalid_utf8', detail: `at byte ${firstInvalidUtf8(bytes) + 1} of the line` };
    }
  }
  const line: Line = { text, lineNumber, bytes: bytes.length };
  if (unterminated) line.unterminated = true;
  if (problem) line.problem = problem;
  return line;
}

/** Offset of the first byte where `bytes` stops being well-formed UTF-8 (RFC 3629 table), for the message only. */
function firstInvalidUtf8(bytes: Buffer): number {
  const cont = (i: number, lo = 0x80, hi = 0xbf) => i < bytes.length && bytes[i]! >= lo && bytes[i]! <= hi;
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    let ok: boolean;
    let len: number;
    if (b < 0x80) [ok, len] = [true, 1];
    else if (b >= 0xc2 && b <= 0xdf) [ok, len] = [cont(i + 1), 2];
    else if (b === 0xe0) [ok, len] = [cont(i + 1, 0xa0) && cont(i + 2), 3];
    else if (b === 0xed) [ok, len] = [cont(i + 1, 0x80, 0x9f) && cont(i + 2), 3];
    else if (b >= 0xe1 && b <= 0xef) [ok, len] = [cont(i + 1) && cont(i + 2), 3];
    else if (b === 0xf0) [ok, len] = [cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3), 4];
    else if (b === 0xf4) [ok, len] = [cont(i + 1, 0x80, 0x8f) && cont(i + 2) && cont(i + 3), 4];
    else if (b >= 0xf1 && b <= 0xf3) [ok, len] = [cont(i + 1) && cont(i + 2) && cont(i + 3), 4];
    else [ok, len] = [false, 1];
    if (!ok) return i;
    i += len;
  }
  return 0;
}

/** At most MAX_QUOTED_CHARS of `text`, for an error message. */
function quote(text: string): string {
  const chars = [...text.slice(0, MAX_QUOTED_CHARS * 2)];
  return JSON.stringify(
    chars.length > MAX_QUOTED_CHARS ? chars.slice(0, MAX_QUOTED_CHARS).join('') + '…' : chars.join(''),
  );
}

/** JSON.parse's explanation, bounded (V8 quotes a few characters of the input in it). */
function parseDetail(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.length > 120 ? `${message.slice(0, 120)}…` : message;
}

/** True when `value` nests arrays/objects deeper than `limit` (iterative: a deep value must not overflow us). */
function nestingBeyond(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const values: object[] = [value];
  const depths: number[] = [1];
  while (values.length) {
    const v = values.pop()! as Record<string, unknown>;
    const depth = depths.pop()!;
    if (depth > limit) return true;
    if (Array.isArray(v)) {
      for (const child of v) {
        if (typeof child === 'object' && child !== null) {
          values.push(child);
          depths.push(depth + 1);
        }
      }
    } else {
      for (const key in v) {
        const child = v[key];
        if (typeof child === 'object' && child !== null) {
          values.push(child);
          depths.push(depth + 1);
        }
      }
    }
  }
  return false;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses one protocol line. Blank lines return null. Anything that is not a usable message throws an
 * InputError (config_error) naming the stdin line and its kind; see describeInputError() for each kind.
 * Known Airbyte message types other than RECORD and STATE are returned for the caller to ignore.
 */
export function parseMessage(line: Line): AirbyteMessage | null {
  const n = line.lineNumber;
  if (line.problem)
    throw new InputError(line.problem.kind, n, `${describeInputError(line.problem.kind)} (${line.problem.detail})`);
  const first = line.text.charCodeAt(0);
  // A line that starts with '{' (every message) is not blank: trim() only for the rest.
  if (first !== 0x7b && line.text.trim() === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(line.text);
  } catch (err) {
    if (line.unterminated) {
      throw new InputError(
        'truncated_line',
        n,
        `the input ends in the middle of a message: the last line has no newline and is not complete JSON (${parseDetail(err)})`,
      );
    }
    throw new InputError('not_json', n, `not valid JSON (${parseDetail(err)})`);
  }
  // Nesting n levels deep takes at least 2n characters: a shorter line cannot be too deep.
  if (line.text.length > 2 * MAX_NESTING && nestingBeyond(value, MAX_NESTING))
    throw new InputError('too_deeply_nested', n, `arrays/objects nested more than ${MAX_NESTING} levels deep`);
  if (!isObject(value)) {
    const what = Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`;
    throw new InputError('not_object', n, `expected a JSON object (an Airbyte message), got ${what}`);
  }
  const type = value.type;
  if (typeof type !== 'string') {
    throw new InputError(
      'no_type',
      n,
      type === undefined
        ? 'message has no "type"'
        : `message "type" is not a string (${type === null ? 'null' : typeof type})`,
    );
  }
  if (!AIRBYTE_MESSAGE_TYPES.has(type)) {
    throw new InputError('unknown_type', n, `message type ${quote(type)} is not an Airbyte message type`);
  }
  if (type === 'RECORD') {
    const record = value.record;
    if (!isObject(record)) throw new InputError('record_without_data', n, 'RECORD without a "record" object');
    if (typeof record.stream !== 'string')
      throw new InputError('record_without_data', n, 'RECORD without a string "record.stream"');
    const data = record.data;
    if (data === undefined || data === null) {
      throw new InputError('record_without_data', n, `RECORD for stream ${quote(record.stream)} has no "data"`);
    }
    if (!isObject(data)) {
      const what = Array.isArray(data) ? 'an array' : `a ${typeof data}`;
      throw new InputError(
        'record_data_not_object',
        n,
        `RECORD for stream ${quote(record.stream)}: "data" is ${what}, not a JSON object`,
      );
    }
  } else if (type === 'STATE' && !isObject(value.state)) {
    throw new InputError('not_object', n, 'STATE message whose "state" is not an object');
  }
  return value as unknown as AirbyteMessage;
}
