// Guards the spool line reader and the create body built from spooled bytes: every line comes back exactly
// (LF or CRLF, a missing last newline, lines longer than a read), custom_ids are read as JSON.parse would,
// and the create body is the same JSON the SDK would have sent for the parsed requests.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createBody } from '../../connector/batches/lifecycle.js';
import { customIdOfLine, forEachLine, textLines } from '../../connector/common/lines.js';

const file = (content: string | Buffer) => {
  const path = join(mkdtempSync(join(tmpdir(), 'lines-')), 'f.jsonl');
  writeFileSync(path, content);
  return path;
};

async function lines(path: string, chunk?: number): Promise<string[]> {
  const out: string[] = [];
  await forEachLine(path, (buf, start, end) => out.push(buf.toString('utf8', start, end)), chunk);
  // textLines (strings, one array per read) must agree with forEachLine line for line.
  const text: string[] = [];
  for await (const batch of textLines(path, chunk)) text.push(...batch);
  expect(text).toEqual(out);
  return out;
}

describe('forEachLine', () => {
  it('yields every non-empty line without its LF or CRLF, whatever the read size', async () => {
    const content = 'a\r\n{"x":"é😀"}\n\n\r\nlast-' + 'y'.repeat(5000) + '\nno newline';
    const expected = ['a', '{"x":"é😀"}', 'last-' + 'y'.repeat(5000), 'no newline'];
    for (const chunk of [1, 2, 3, 7, 64, 4096, 1 << 20]) expect(await lines(file(content), chunk)).toEqual(expected);
    expect(await lines(file(''))).toEqual([]);
    expect(await lines(file('\n\n'))).toEqual([]);
    expect(await lines(file('x\r'))).toEqual(['x']);
  });

  it('splits a multi-megabyte file into its lines', async () => {
    const rows = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ i, text: 'z'.repeat(i % 977) }));
    expect(await lines(file(rows.join('\n') + '\n'))).toEqual(rows);
  });
});

describe('customIdOfLine', () => {
  const id = (line: string) => customIdOfLine(Buffer.from(line), 0, Buffer.byteLength(line));
  it('reads the id of a request line as JSON.parse would', () => {
    const lines = [
      JSON.stringify({ custom_id: 'rABC_-9', params: { x: '"custom_id":"no"' } }),
      JSON.stringify({ params: {}, custom_id: 'second' }),
      '{"custom_id":"esc\\u0061ped","params":{}}',
      ' {"custom_id":"spaced"}',
      JSON.stringify({ custom_id: 'x'.repeat(64) }),
      JSON.stringify({ custom_id: 'x'.repeat(70) }),
      JSON.stringify({ custom_id: 'ünï' }),
    ];
    for (const line of lines) expect(id(line)).toBe(JSON.parse(line).custom_id);
    expect(() => id('{"custom_id":"broken')).toThrow(SyntaxError);
  });
});

describe('createBody', () => {
  const read = async (path: string) => {
    const body = await createBody(path);
    const parts: Buffer[] = [];
    for await (const chunk of body.chunks()) parts.push(chunk);
    const bytes = Buffer.concat(parts);
    expect(bytes.length).toBe(body.bytes);
    return { text: bytes.toString('utf8'), requests: body.requests };
  };

  it('is the JSON of {requests} built from the spooled lines, bytes untouched, sized exactly', async () => {
    const requests = [
      {
        custom_id: 'r1',
        params: { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'é "q" \n 😀 \u2028' }] },
      },
      { custom_id: 'r2', params: { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: '' }] } },
    ];
    const got = await read(file(requests.map((r) => JSON.stringify(r)).join('\r\n') + '\n\n'));
    expect(got.requests).toBe(2);
    expect(got.text).toBe(JSON.stringify({ requests }));
    expect(await read(file(''))).toEqual({ text: '{"requests":[]}', requests: 0 });
  });

  it('streams a body larger than one read, joined across reads, and again for a second attempt', async () => {
    const requests = Array.from({ length: 3000 }, (_, i) => ({
      custom_id: `r${i}`,
      params: { messages: [{ content: 'x'.repeat(i % 700) }] },
    }));
    const path = file(requests.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const first = await read(path);
    expect(first.requests).toBe(3000);
    expect(JSON.parse(first.text)).toEqual({ requests });
    expect(await read(path)).toEqual(first);
  });

  it('refuses a damaged requests file instead of sending it', async () => {
    await expect(createBody(file('{"custom_id":"r1","params":{}}\nnot json\n'))).rejects.toThrow(SyntaxError);
  });
});
