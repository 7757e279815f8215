// The spool stores each record's data as cut from its input line: whatever the line's layout, the cut text
// must parse to exactly the data JSON.parse saw, or the scan must give up (the caller then serialises).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { recordDataText } from '../../connector/protocol/record-span.js';

const dataOf = (line: string) => (JSON.parse(line) as { record: { data: unknown } }).record.data;

/** The same JSON with its insignificant whitespace (only ever between tokens) spread out. */
const spaced = (value: unknown, pick: number) =>
  JSON.stringify(value, null, 1).replace(/\n/g, [' ', '\t', '\r', '  \t'][pick % 4]!);

const data = fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 8 });
const message = fc.record({
  data,
  stream: fc.string(),
  extra: fc.jsonValue(),
  order: fc.constantFrom(['type', 'record'], ['record', 'type'], ['extra', 'record', 'type']),
  recordOrder: fc.constantFrom(
    ['stream', 'data', 'emitted_at'],
    ['data', 'stream', 'emitted_at'],
    ['emitted_at', 'meta', 'stream', 'data'],
  ),
});

function lineOf(m: {
  data: unknown;
  stream: string;
  extra: unknown;
  order: readonly string[];
  recordOrder: readonly string[];
}): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const key of m.recordOrder)
    record[key] =
      key === 'data' ? m.data : key === 'stream' ? m.stream : key === 'meta' ? { changes: [m.extra] } : 1700000000000;
  const top: Record<string, unknown> = {};
  for (const key of m.order) top[key] = key === 'type' ? 'RECORD' : key === 'record' ? record : m.extra;
  return top;
}

describe('recordDataText', () => {
  it('cuts out text that parses to the very data JSON.parse read, compact or spaced, in any key order', () => {
    fc.assert(
      fc.property(message, fc.nat(), (m, pick) => {
        const value = lineOf(m);
        for (const line of [JSON.stringify(value), spaced(value, pick)]) {
          const text = recordDataText(line);
          expect(text).toBeDefined();
          expect(JSON.parse(text!)).toEqual(dataOf(line));
        }
      }),
      { numRuns: 400 },
    );
  });

  it('takes the last of repeated keys, as JSON.parse does', () => {
    const line =
      '{"type":"RECORD","record":{"data":{"a":1},"stream":"s","data":{"b":"}\\"{"}},"record":{"stream":"s","data":{"c":[1,{"d":null}]}}}';
    expect(recordDataText(line)).toBe('{"c":[1,{"d":null}]}');
    expect(JSON.parse(recordDataText(line)!)).toEqual(dataOf(line));
  });

  it('skips strings that end in backslashes and hold braces, quotes and non-BMP text', () => {
    const line = String.raw`{"type":"RECORD","record":{"stream":"a\\","x":"\\\"}{","data":{"k\\":"v\\\\","😀":"\u2028}","n":-1.5e-3,"t":true,"z":[]},"emitted_at":1}}`;
    expect(JSON.parse(recordDataText(line)!)).toEqual(dataOf(line));
  });

  it('decodes escaped keys, and gives up on shapes it cannot cut', () => {
    expect(recordDataText('{"type":"RECORD","record":{"stream":"s","d\\u0061ta":{"a":1}}}')).toBe('{"a":1}');
    expect(recordDataText('{"type":"RECORD","rec\\u006frd":{"stream":"s","data":{"a":1}}}')).toBe('{"a":1}');
    expect(recordDataText('{"type":"RECORD","record":{"stream":"s","data":{"a":1},"d\\u0061ta":{"b":2}}}')).toBe(
      '{"b":2}',
    );
    expect(recordDataText('{"type":"RECORD","record":{"stream":"s","data":[1]}}')).toBeUndefined();
    expect(recordDataText('{"type":"STATE","state":{}}')).toBeUndefined();
    expect(recordDataText('[]')).toBeUndefined();
  });
});
