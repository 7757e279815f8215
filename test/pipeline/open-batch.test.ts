// Guards batch packing at the API's limits: a batch is sealed exactly when one more request would pass
// the request count or the measured body size, and a repeated custom_id never counts twice.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OpenBatch } from '../../connector/pipeline/open-batch.js';
import { BatchSpool, recordsFile, requestsFile } from '../../connector/journal/spool.js';
import { batchLimitsFor } from '../../connector/pipeline/record-policy.js';
import { parseConfig } from '../../connector/config/config.js';

const record = (custom_id: string, line: number) => ({
  line,
  stream: 's',
  namespace: null,
  data: { line },
  emitted_at: 1,
  raw_id: `raw-${line}`,
  custom_id,
});

async function batch() {
  return new OpenBatch(await BatchSpool.open(mkdtempSync(join(tmpdir(), 'ob-')), 0));
}

describe('OpenBatch', () => {
  it('fits exactly max_requests requests', async () => {
    const b = await batch();
    const limits = { maxRequests: 3, maxBytes: 1_000_000 };
    for (let i = 0; i < 3; i++) {
      expect(b.fits(`id${i}`, 10, limits)).toBe(true);
      await b.add(record(`id${i}`, i), `{"custom_id":"id${i}"}`, 10);
    }
    expect(b.fits('id3', 10, limits)).toBe(false);
    expect(b.fits('id0', 10, limits)).toBe(true); // a duplicate adds no request
  });

  it('measures the body as the API will: envelope, requests and commas', async () => {
    const b = await batch();
    const one = JSON.stringify({ custom_id: 'a', params: {} });
    const size = Buffer.byteLength(one);
    const exact = Buffer.byteLength(`{"requests":[${one},${one.replace('"a"', '"b"')}]}`);
    const limits = { maxRequests: 10, maxBytes: exact };
    await b.add(record('a', 1), one, size);
    expect(b.fits('b', size, limits)).toBe(true);
    expect(b.fits('b', size, { ...limits, maxBytes: exact - 1 })).toBe(false);
    await b.add(record('b', 2), one.replace('"a"', '"b"'), size);
    expect(b.bytes).toBe(exact);
  });

  it('spools every record but each distinct request once', async () => {
    const b = await batch();
    await b.add(record('a', 1), '{"custom_id":"a"}', 17);
    await b.add(record('a', 2), '{"custom_id":"a"}', 17);
    await b.spool.seal();
    expect(b.records).toBe(2);
    expect(b.requests).toBe(1);
    expect(readFileSync(recordsFile(b.spool.dir), 'utf8').trim().split('\n')).toHaveLength(2);
    expect(readFileSync(requestsFile(b.spool.dir, 0), 'utf8').trim().split('\n')).toHaveLength(1);
  });
});

describe("batchLimitsFor: the ramp-up of a run's first batches", () => {
  const config = (extra: Record<string, unknown>) =>
    parseConfig({ base_url: 'emulator', destination_path: '/tmp/x', prompt_template: '{{ a }}', ...extra });
  const caps = (extra: Record<string, unknown>, n = 8) =>
    Array.from({ length: n }, (_, seq) => batchLimitsFor(config(extra), seq).maxRequests);

  it('doubles from 1,000 up to max_requests_per_batch, on by default', () => {
    expect(caps({})).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000, 10_000, 10_000]);
    expect(caps({ max_requests_per_batch: 100_000 })).toEqual([
      1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 100_000,
    ]);
    expect(batchLimitsFor(config({ max_requests_per_batch: 100_000 }), 5000).maxRequests).toBe(100_000);
  });

  it('never goes over a smaller max, and is off with batch_ramp_up false; the byte caps are untouched', () => {
    expect(caps({ max_requests_per_batch: 10 }, 3)).toEqual([10, 10, 10]);
    expect(caps({ batch_ramp_up: false }, 3)).toEqual([10_000, 10_000, 10_000]);
    expect(batchLimitsFor(config({ max_batch_bytes: 5000 }), 0)).toMatchObject({
      maxBytes: 5000,
      maxRequestBytes: 5000 - 15,
    });
  });
});
