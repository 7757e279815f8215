// Guards the stdin reader against hostile input: every bad line is a typed InputError naming its line and
// kind, secrets in a line are never echoed whole, huge lines are skipped without buffering, and the
// reader keeps pulling chunks on demand (backpressure).
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConnectorError } from '../../connector/common/errors.js';
import {
  describeInputError,
  INPUT_ERROR_KINDS,
  InputError,
  MAX_NESTING,
  parseMessage,
  readLineBatches,
  readLines,
  type InputErrorKind,
  type Line,
} from '../../connector/protocol/reader.js';

async function lines(chunks: Array<Buffer | string>, maxLineBytes?: number): Promise<Line[]> {
  const out: Line[] = [];
  for await (const line of readLines(Readable.from(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c))), {
    maxLineBytes,
  }))
    out.push(line);
  return out;
}

/** The outcome of each line: the message type, null for blank, or the InputError kind. */
async function outcomes(chunks: Array<Buffer | string>, maxLineBytes?: number): Promise<Array<string | null>> {
  return (await lines(chunks, maxLineBytes)).map((line) => {
    try {
      return parseMessage(line)?.type ?? null;
    } catch (err) {
      expect(err).toBeInstanceOf(InputError);
      const e = err as InputError;
      expect(e.lineNumber).toBe(line.lineNumber);
      expect(e.message).toMatch(new RegExp(`^stdin line ${line.lineNumber}: `));
      return `!${e.kind}`;
    }
  });
}

const record = (data: unknown = { a: 1 }) =>
  JSON.stringify({ type: 'RECORD', record: { stream: 's', data, emitted_at: 1 } });
const state = JSON.stringify({
  type: 'STATE',
  state: { type: 'STREAM', stream: { stream_descriptor: { name: 's' } } },
});

describe('readLineBatches', () => {
  it('yields the lines each chunk completes, numbered as readLines numbers them', async () => {
    const chunks = ['a\nb', '\r\nc\n', 'no newline yet', ' still', '\n\nlast'].map((c) => Buffer.from(c));
    const batches: string[][] = [];
    for await (const batch of readLineBatches(Readable.from(chunks)))
      batches.push(batch.map((l) => `${l.lineNumber}:${l.text}${l.unterminated ? '$' : ''}`));
    expect(batches).toEqual([['1:a'], ['2:b', '3:c'], ['4:no newline yet still', '5:'], ['6:last$']]);
  });
});

describe('readLines', () => {
  it('numbers LF and CRLF lines from 1, across chunk boundaries, and keeps blank lines', async () => {
    const text = `${record()}\r\n\n${state}\n${record()}`;
    const chunks = [...Buffer.from(text)].map((b) => Buffer.from([b])); // one byte per chunk
    const got = await lines(chunks);
    expect(got.map((l) => [l.lineNumber, l.text])).toEqual([
      [1, record()],
      [2, ''],
      [3, state],
      [4, record()],
    ]);
    expect(got[3]!.unterminated).toBe(true);
  });

  it('yields nothing for empty input', async () => {
    expect(await lines([])).toEqual([]);
    expect(await lines([''])).toEqual([]);
  });

  it('strips a UTF-8 byte order mark on the first line only', async () => {
    expect(await outcomes([Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${record()}\n`)])])).toEqual([
      'RECORD',
    ]);
  });

  it('reports invalid UTF-8 instead of replacing it, and goes on with the next line', async () => {
    const bad = Buffer.concat([
      Buffer.from('{"type":"RECORD","record":{"stream":"s","data":{"a":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}}}\n'),
    ]);
    const got = await lines([bad, `${record()}\n`]);
    expect(got[0]!.problem?.kind).toBe('invalid_utf8');
    expect(got[0]!.problem?.detail).toMatch(/byte 54 /);
    expect(await outcomes([bad, `${record()}\n`])).toEqual(['!invalid_utf8', 'RECORD']);
    // Overlong encodings and surrogates are not UTF-8 either.
    expect(await outcomes([Buffer.from([0xc0, 0xaf, 0x0a]), Buffer.from([0xed, 0xa0, 0x80, 0x0a])])).toEqual([
      '!invalid_utf8',
      '!invalid_utf8',
    ]);
  });

  it('accepts multi-byte characters split across chunks', async () => {
    const text = Buffer.from(`${record({ t: 'é€😀' })}\n`);
    const chunks = [...text].map((b) => Buffer.from([b]));
    const [line] = await lines(chunks);
    expect((parseMessage(line!) as { record: { data: unknown } }).record.data).toEqual({ t: 'é€😀' });
  });

  it('reports NUL bytes', async () => {
    expect(await outcomes([Buffer.from('{"type":"LOG"\u0000}\n'), `${record()}\n`])).toEqual(['!nul_byte', 'RECORD']);
  });

  it('skips a line over maxLineBytes without buffering it, and reads on', async () => {
    const big = `{"type":"RECORD","record":{"stream":"s","data":{"x":"${'y'.repeat(5000)}"}}}`;
    const chunks = [`${record()}\n`, ...big.match(/.{1,64}/g)!, '\n', `${record()}\n`];
    const got = await lines(chunks, 1024);
    expect(got.map((l) => l.problem?.kind ?? 'ok')).toEqual(['ok', 'line_too_long', 'ok']);
    expect(got[1]!.bytes).toBe(big.length);
    expect(await outcomes(chunks, 1024)).toEqual(['RECORD', '!line_too_long', 'RECORD']);
  });

  it('takes a line of exactly maxLineBytes, with or without CRLF, and refuses one byte more', async () => {
    const exact = `{"type":"LOG","log":{"level":"INFO","message":"${'m'.repeat(100)}"}}`;
    const max = Buffer.byteLength(exact);
    expect(await outcomes([`${exact}\n${exact}\r\n${exact} \n`], max)).toEqual(['LOG', 'LOG', '!line_too_long']);
    expect(await outcomes([`${exact} `], max)).toEqual(['!line_too_long']);
  });

  it('accepts a line of tens of megabytes under the default limit', async () => {
    const payload = 'z'.repeat(24 * 1024 * 1024);
    async function* chunks() {
      yield Buffer.from('{"type":"RECORD","record":{"stream":"s","data":{"x":"');
      const piece = Buffer.from(payload.slice(0, 65536));
      for (let i = 0; i < payload.length / 65536; i++) yield piece;
      yield Buffer.from('"}}}\n');
    }
    const started = Date.now();
    const out: Line[] = [];
    for await (const line of readLines(chunks())) out.push(line);
    expect(out).toHaveLength(1);
    const message = parseMessage(out[0]!) as unknown as { record: { data: { x: string } } };
    expect(message.record.data.x.length).toBe(payload.length);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('accepts a final line without newline when it is complete JSON, and reports a truncated one', async () => {
    expect(await outcomes([`${record()}\n${state}`])).toEqual(['RECORD', 'STATE']);
    expect(await outcomes([`${record()}\n${state.slice(0, 20)}`])).toEqual(['RECORD', '!truncated_line']);
    expect(await outcomes([`${record()}\n   `])).toEqual(['RECORD', null]);
  });

  it('pulls chunks on demand (backpressure)', async () => {
    let pulled = 0;
    async function* source() {
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield Buffer.from(`${record()}\n`);
      }
    }
    const it = readLines(source());
    await it.next();
    await it.next();
    expect(pulled).toBeLessThanOrEqual(3);
    await it.return(undefined);
  });
});

describe('parseMessage', () => {
  const cases: Array<[string, InputErrorKind | string | null]> = [
    ['not json', 'not_json'],
    ['{"type":"RECORD"', 'not_json'],
    ['[1,2]', 'not_object'],
    ['"RECORD"', 'not_object'],
    ['null', 'not_object'],
    ['42', 'not_object'],
    ['{}', 'no_type'],
    ['{"type":7}', 'no_type'],
    ['{"type":"RECORDZ"}', 'unknown_type'],
    ['{"type":"record","record":{}}', 'unknown_type'],
    ['{"type":"RECORD"}', 'record_without_data'],
    ['{"type":"RECORD","record":[]}', 'record_without_data'],
    ['{"type":"RECORD","record":{"data":{}}}', 'record_without_data'],
    ['{"type":"RECORD","record":{"stream":"s"}}', 'record_without_data'],
    ['{"type":"RECORD","record":{"stream":"s","data":null}}', 'record_without_data'],
    ['{"type":"RECORD","record":{"stream":"s","data":[1]}}', 'record_data_not_object'],
    ['{"type":"RECORD","record":{"stream":"s","data":"x"}}', 'record_data_not_object'],
    ['{"type":"STATE"}', 'not_object'],
    ['{"type":"STATE","state":{}}', 'STATE'],
    ['{"type":"LOG","log":{"level":"INFO","message":"hi"}}', 'LOG'],
    ['{"type":"TRACE","trace":{}}', 'TRACE'],
    ['{"type":"CONTROL"}', 'CONTROL'],
    ['   ', null],
    ['', null],
  ];
  it.each(cases)('%s → %s', (text, expected) => {
    const line = { text, lineNumber: 7 };
    if (expected === null || /^[A-Z]+$/.test(expected)) {
      expect(parseMessage(line)?.type ?? null).toBe(expected);
      return;
    }
    try {
      parseMessage(line);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(InputError);
      expect(err).toBeInstanceOf(ConnectorError);
      const e = err as InputError;
      expect(e.kind).toBe(expected);
      expect(e.lineNumber).toBe(7);
      expect(e.failureType).toBe('config_error');
      expect(e.code).toBe(`INPUT_${expected.toUpperCase()}`);
      expect(e.message).toMatch(/^stdin line 7: /);
    }
  });

  it('refuses nesting deeper than MAX_NESTING (JSON.stringify would overflow later), iteratively', () => {
    const deep = (d: number) =>
      `{"type":"RECORD","record":{"stream":"s","data":{"x":${'['.repeat(d)}${']'.repeat(d)}}}}`;
    expect(parseMessage({ text: deep(MAX_NESTING - 3), lineNumber: 1 })?.type).toBe('RECORD');
    for (const d of [MAX_NESTING - 2, 10_000, 200_000]) {
      expect(() => parseMessage({ text: deep(d), lineNumber: 3 })).toThrow(
        expect.objectContaining({ kind: 'too_deeply_nested', lineNumber: 3 }),
      );
    }
    // The tightest nesting there is ([[[…]]], no spaces): exactly at the limit and one past it.
    const tight = (d: number) =>
      JSON.stringify({
        type: 'RECORD',
        record: { stream: 's', data: { x: JSON.parse('['.repeat(d) + ']'.repeat(d)) } },
      });
    expect(parseMessage({ text: tight(MAX_NESTING - 3), lineNumber: 1 })?.type).toBe('RECORD');
    expect(() => parseMessage({ text: tight(MAX_NESTING - 2), lineNumber: 2 })).toThrow(
      expect.objectContaining({ kind: 'too_deeply_nested' }),
    );
    // Objects count as levels too, including a "__proto__" key (an own property after JSON.parse).
    const objects = (d: number) =>
      '{"type":"RECORD","record":{"stream":"s","data":' + '{"__proto__":'.repeat(d) + '{}' + '}'.repeat(d) + '}}';
    expect(parseMessage({ text: objects(MAX_NESTING - 3), lineNumber: 1 })?.type).toBe('RECORD');
    expect(() => parseMessage({ text: objects(MAX_NESTING - 2), lineNumber: 4 })).toThrow(
      expect.objectContaining({ kind: 'too_deeply_nested', lineNumber: 4 }),
    );
  });

  it('never echoes more than ~80 characters of a line', () => {
    const secret = 'sk-ant-api03-' + 'S'.repeat(200);
    const texts = [
      `{"type":"RECORD","record":{"stream":"${secret}","data":[1]}}`,
      `{"type":"${secret}"}`,
      `${secret} not json`,
      `{"type":"RECORD","record":{"stream":"s","data":{"k":"${secret}"}} trailing`,
      `{"a":"${secret}`,
    ];
    for (const text of texts) {
      for (const unterminated of [false, true]) {
        try {
          parseMessage({ text, lineNumber: 1, unterminated });
          expect.unreachable();
        } catch (err) {
          const m = (err as Error).message;
          expect(m.length).toBeLessThan(260);
          expect(m).not.toContain('S'.repeat(81));
        }
      }
    }
  });

  it('has a description for every kind', () => {
    expect(INPUT_ERROR_KINDS).toHaveLength(11);
    for (const kind of INPUT_ERROR_KINDS) expect(describeInputError(kind)).toMatch(/\w/);
  });
});
