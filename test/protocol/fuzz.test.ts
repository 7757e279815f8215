// Property tests on hostile protocol streams: valid messages, mutated by byte flips, truncation, CRLF/LF mixes,
// random unicode, huge strings and nested junk, cut into random chunks. The reader never throws, numbers lines
// exactly (one per newline, plus an unterminated last line), and parseMessage fails only with InputError.
// Random records then go through the request builder: only ConnectorErrors, and custom_ids always valid.
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../connector/config/config.js';
import { ConnectorError } from '../../connector/common/errors.js';
import type { AirbyteRecord } from '../../connector/protocol/messages.js';
import { InputError, parseMessage, readLines, type Line } from '../../connector/protocol/reader.js';
import { CUSTOM_ID_PATTERN, RequestBuilder } from '../../connector/requests/build.js';

const RUNS = 200;

const json = fc.jsonValue({ maxDepth: 3 });
const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary', maxLength: 40 }));
const data = fc.dictionary(
  fc.oneof(fc.string(), fc.constantFrom('id', 'body', 'a', 'list', '__proto__', 'constructor')),
  json,
  { maxKeys: 6 },
);

const recordMessage = fc.record({
  type: fc.constant('RECORD'),
  record: fc.record(
    {
      stream: fc.oneof(fc.constantFrom('notes', 'orders', '../x', ''), text),
      namespace: fc.option(text, { nil: undefined }),
      data,
      emitted_at: fc.integer({ min: 0, max: 2 ** 42 }),
    },
    { requiredKeys: ['stream', 'data', 'emitted_at'] },
  ),
});
const stateMessage = fc.record({
  type: fc.constant('STATE'),
  state: fc.record({
    type: fc.constant('STREAM'),
    stream: fc.record({ stream_descriptor: fc.record({ name: text }), stream_state: json }),
  }),
});
const logMessage = fc.record({
  type: fc.constant('LOG'),
  log: fc.record({ level: fc.constantFrom('INFO', 'WARN'), message: text }),
});
const traceMessage = fc.record({
  type: fc.constant('TRACE'),
  trace: fc.record({ type: fc.constant('ESTIMATE'), emitted_at: fc.nat(), estimate: json }),
});
const message = fc.oneof({ weight: 4, arbitrary: recordMessage }, stateMessage, logMessage, traceMessage);

/** Lines joined with LF or CRLF (mixed), sometimes ending without a newline. */
const stream = fc
  .tuple(fc.array(fc.tuple(message, fc.constantFrom('\n', '\r\n')), { maxLength: 12 }), fc.boolean())
  .map(([lines, trailing]) => {
    let out = '';
    lines.forEach(([m, eol], i) => (out += JSON.stringify(m) + (i < lines.length - 1 || trailing ? eol : '')));
    return { bytes: Buffer.from(out, 'utf8'), messages: lines.map(([m]) => m) };
  });

type Mutation = (b: Buffer) => Buffer;
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([at, byte]): Mutation => (b) => {
    if (b.length === 0) return b;
    const c = Buffer.from(b);
    c[at % c.length] = byte;
    return c;
  }),
  fc.nat().map(
    (at): Mutation =>
      (b) =>
        b.subarray(0, b.length ? at % b.length : 0),
  ),
  fc.nat().map((at): Mutation => (b) => {
    const c = Buffer.concat([b, Buffer.from('\n{"type":"LOG"}\n')]);
    c[at % (c.length - 1)] = 0; // a NUL byte (binary data)
    return c;
  }),
  fc.tuple(fc.nat(), fc.uint8Array({ maxLength: 8 })).map(([at, bytes]): Mutation => (b) => {
    const i = b.length ? at % b.length : 0;
    return Buffer.concat([b.subarray(0, i), Buffer.from(bytes), b.subarray(i)]);
  }),
  fc
    .tuple(fc.nat(), fc.constantFrom('\n', '\r\n', '\r', '\u0000', '\uFEFF', '\uD800', '"', '{', '}', '\\'))
    .map(([at, s]): Mutation => (b) => {
      const i = b.length ? at % b.length : 0;
      return Buffer.concat([b.subarray(0, i), Buffer.from(s), b.subarray(i)]);
    }),
  fc.tuple(fc.nat(), text).map(([at, s]): Mutation => (b) => {
    const i = b.length ? at % b.length : 0;
    return Buffer.concat([b.subarray(0, i), Buffer.from(`\n${s}\n`), b.subarray(i)]);
  }),
  // A huge string value, a huge line of junk, deep nesting.
  fc.constant<Mutation>((b) =>
    Buffer.concat([
      b,
      Buffer.from(`\n{"type":"RECORD","record":{"stream":"s","data":{"x":"${'y'.repeat(150_000)}"}}}\n`),
    ]),
  ),
  fc.constant<Mutation>((b) => Buffer.concat([Buffer.from('z'.repeat(120_000)), b])),
  fc.integer({ min: 900, max: 20_000 }).map(
    (d): Mutation =>
      (b) =>
        Buffer.concat([b, Buffer.from(`\n{"type":"LOG","log":${'['.repeat(d)}${']'.repeat(d)}}\n`)]),
  ),
  fc.integer({ min: 1, max: 5000 }).map(
    (d): Mutation =>
      (b) =>
        Buffer.concat([b, Buffer.from(`\n${'{"a":'.repeat(d)}`)]),
  ),
);

/** Random chunking (sizes 1…4096), so lines and multi-byte characters straddle chunk boundaries. */
function chunked(bytes: Buffer, sizes: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0, k = 0; i < bytes.length; k++) {
    const size = sizes.length ? sizes[k % sizes.length]! : bytes.length;
    chunks.push(bytes.subarray(i, i + size));
    i += size;
  }
  return chunks;
}

function expectedLineCount(bytes: Buffer): number {
  let newlines = 0;
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) newlines++;
  const tail = bytes.length - (bytes.lastIndexOf(0x0a) + 1);
  return newlines + (tail > 0 ? 1 : 0);
}

async function readAll(chunks: Buffer[], maxLineBytes?: number): Promise<Line[]> {
  const lines: Line[] = [];
  for await (const line of readLines(Readable.from(chunks), { maxLineBytes })) lines.push(line);
  return lines;
}

/** parseMessage on every line: the messages, or the InputError kinds; anything else fails the property. */
const kindsSeen = new Map<string, number>();

function parseAll(lines: Line[]): Array<unknown> {
  return lines.map((line) => {
    try {
      return parseMessage(line);
    } catch (err) {
      if (!(err instanceof InputError))
        throw new Error(`line ${line.lineNumber}: ${String(err)} is not an InputError`, { cause: err });
      expect(err).toBeInstanceOf(ConnectorError);
      expect(err.lineNumber).toBe(line.lineNumber);
      expect(err.message.length).toBeLessThan(400);
      kindsSeen.set(err.kind, (kindsSeen.get(err.kind) ?? 0) + 1);
      return err;
    }
  });
}

const chunkSizes = fc.array(fc.integer({ min: 1, max: 4096 }), { maxLength: 6 });

describe('protocol stream fuzzing', () => {
  it('valid streams, any chunking, LF/CRLF: every message back, in order', async () => {
    await fc.assert(
      fc.asyncProperty(stream, chunkSizes, async ({ bytes, messages }, sizes) => {
        const lines = await readAll(chunked(bytes, sizes));
        expect(lines.map((l) => l.lineNumber)).toEqual(lines.map((_, i) => i + 1));
        expect(lines.length).toBe(expectedLineCount(bytes));
        const parsed = parseAll(lines).filter((m) => m !== null);
        // Only a RECORD/STATE can be refused, and only for its shape (a record with empty data is fine).
        expect(JSON.stringify(parsed)).toBe(JSON.stringify(messages));
      }),
      { numRuns: RUNS },
    );
  });

  it('mutated streams: the reader never throws, numbers lines exactly, and parseMessage throws only InputError', async () => {
    await fc.assert(
      fc.asyncProperty(
        stream,
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        chunkSizes,
        fc.constantFrom(undefined, 256, 100_000),
        async ({ bytes }, mutations, sizes, maxLineBytes) => {
          const mutated = mutations.reduce<Buffer>((b, m) => m(b), bytes);
          const lines = await readAll(chunked(mutated, sizes), maxLineBytes);
          lines.forEach((l, i) => expect(l.lineNumber).toBe(i + 1));
          expect(lines.length).toBe(expectedLineCount(mutated));
          for (const l of lines) {
            if (l.problem?.kind === 'line_too_long') expect(l.text).toBe('');
            else expect(Buffer.byteLength(l.text)).toBeLessThanOrEqual(maxLineBytes ?? Infinity);
          }
          const results = parseAll(lines);
          // Every line is accounted for: a message, a blank (null), or a typed error.
          expect(results).toHaveLength(lines.length);
        },
      ),
      { numRuns: RUNS },
    );
    // The mutations reach the reader's bad paths, not just the happy one.
    for (const kind of [
      'not_json',
      'invalid_utf8',
      'nul_byte',
      'line_too_long',
      'truncated_line',
      'too_deeply_nested',
    ]) {
      expect(kindsSeen.get(kind) ?? 0, kind).toBeGreaterThan(0);
    }
  });
});

describe('request builder fuzzing', () => {
  const template = fc
    .array(
      fc.oneof(
        fc.string({ maxLength: 8 }),
        fc.constantFrom(
          '{{ id }}',
          '{{ body }}',
          '{{ a.b }}',
          '{{ list.0.x }}',
          '{{ __proto__.x }}',
          '{{',
          '}}',
          '{{ bad path }}',
        ),
      ),
      { minLength: 1, maxLength: 6 },
    )
    .map((parts) => parts.join(''));
  const settings = fc.record({
    prompt_template: template,
    system_prompt: fc.option(text, { nil: undefined }),
    max_tokens: fc.integer({ min: 1, max: 4096 }),
    temperature: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
    stream_prompt_templates: fc.dictionary(fc.constantFrom('notes', 'x.notes', 'orders'), template, { maxKeys: 2 }),
  });

  it('random records: custom_ids always valid, only ConnectorErrors', async () => {
    let built = 0;
    await fc.assert(
      fc.property(settings, fc.array(recordMessage, { minLength: 1, maxLength: 5 }), (s, messages) => {
        let builder: RequestBuilder;
        try {
          const config = parseConfig(
            {
              api_key: 'test-key',
              destination_path: '/tmp/unused',
              ...Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)),
            },
            {},
          );
          builder = new RequestBuilder(config);
        } catch (err) {
          if (!(err instanceof ConnectorError)) throw err;
          return;
        }
        for (const m of messages) {
          // The records the pipeline sees are the ones that survive parseMessage.
          let parsed;
          try {
            parsed = parseMessage({ text: JSON.stringify(m), lineNumber: 1 });
          } catch (err) {
            if (!(err instanceof InputError)) throw err;
            continue;
          }
          try {
            const request = builder.build((parsed as { record: AirbyteRecord }).record);
            expect(request.customId).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
            expect(request.customId).toMatch(CUSTOM_ID_PATTERN);
            built++;
          } catch (err) {
            if (!(err instanceof ConnectorError)) throw err;
          }
        }
      }),
      { numRuns: RUNS },
    );
    expect(built).toBeGreaterThan(RUNS / 4);
  });
});
