// Guards the spool's chunked writer: every record and request line reaches disk whole, in order, as UTF-8,
// whether it fits a chunk or is larger than one, and seal() leaves complete files.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BatchSpool, recordsFile, requestsFile } from '../../connector/journal/spool.js';
import type { SpooledRecord } from '../../connector/types/shared.js';

const record = (line: number, body: string): SpooledRecord => ({
  line,
  stream: 's',
  namespace: null,
  data: { body },
  emitted_at: 1,
  raw_id: `raw-${line}`,
  custom_id: `r${line}`,
});

describe('BatchSpool', () => {
  it('writes every line in order, small and larger than a chunk, multi-byte text included', async () => {
    const spool = await BatchSpool.open(mkdtempSync(join(tmpdir(), 'spool-')), 0);
    const bodies = [
      'é😀\u2028"q"',
      'x'.repeat(300_000),
      'ü'.repeat(100_000),
      ...Array.from({ length: 3000 }, (_, i) => `small ${i} ` + 'z'.repeat(i % 500)),
      '😀'.repeat(70_000),
      'end',
    ];
    const records = bodies.map((b, i) => record(i + 1, b));
    const requests = bodies.map((b, i) => JSON.stringify({ custom_id: `r${i + 1}`, params: { content: b } }));
    for (let i = 0; i < records.length; i++) {
      spool.addRequest(requests[i]!);
      spool.addRecord(records[i]!);
      await spool.backpressure();
    }
    await spool.seal();
    expect(readFileSync(recordsFile(spool.dir), 'utf8')).toBe(records.map((r) => JSON.stringify(r) + '\n').join(''));
    expect(readFileSync(requestsFile(spool.dir, 0), 'utf8')).toBe(requests.map((r) => r + '\n').join(''));
  });

  it('splices data given as its input text in as it is: the line parses to the same record', async () => {
    const spool = await BatchSpool.open(mkdtempSync(join(tmpdir(), 'spool-')), 0);
    const texts = ['{ "body" : "é😀\\u2028\\"q\\"" ,\t"n": 1.50 }', '{}', '{"nested":{"a":[1,{"b":null}]},"body":"x"}'];
    const records = texts.map((text, i) => ({
      ...record(i + 1, ''),
      data: JSON.parse(text) as Record<string, unknown>,
      cached: '{"custom_id":"x"}',
    }));
    records.forEach((r, i) => spool.addRecord(r, texts[i]));
    await spool.seal();
    const lines = readFileSync(recordsFile(spool.dir), 'utf8').trimEnd().split('\n');
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(records);
    expect(lines[0]).toContain(`"data":${texts[0]}}`);
  });
});
