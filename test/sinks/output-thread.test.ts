// The output thread's heap limit shapes garbage collection (a lower limit, a smaller growing factor) but must
// never be what a batch runs out of: it grows with the batch size, answer length and row group size.
import { describe, expect, it } from 'vitest';
import { outputThreadHeapMb } from '../../connector/sinks/output-thread.js';

describe('outputThreadHeapMb', () => {
  it('is about half a gigabyte for the default settings (10,000 requests per batch, 512 tokens, 10,000-row groups)', () => {
    const mb = outputThreadHeapMb({ max_requests_per_batch: 10_000, max_tokens: 512, row_group_size: 10_000 });
    expect(mb).toBeGreaterThanOrEqual(512);
    expect(mb).toBeLessThan(600);
    expect(outputThreadHeapMb({ max_requests_per_batch: 100, max_tokens: 64, row_group_size: 100 })).toBe(512);
  });

  it('leaves at least twice what a batch of long answers and a large row group hold', () => {
    const config = { max_requests_per_batch: 100_000, max_tokens: 1024, row_group_size: 100_000 };
    const heldMb = (100_000 * (1024 * 8 + 2048) + 100_000 * 8192) / 2 ** 20;
    expect(outputThreadHeapMb(config)).toBeGreaterThanOrEqual(2 * heldMb);
  });

  it('is capped at 8 GB', () => {
    expect(outputThreadHeapMb({ max_requests_per_batch: 100_000, max_tokens: 64_000, row_group_size: 1_000_000 })).toBe(8192);
  });
});
