// Not part of the default suite's assertions on speed: measures what the cache costs at scale. Run with
//   CACHE_BENCH=1 CACHE_BENCH_N=1000000 npx vitest run test/cache/bench.test.ts
// It guards the design goal that memory does not grow with the number of entries (the table is on disk).
import { rmSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { ResultCache } from '../../connector/cache/result-cache.js';
import { idFor, tempDir } from './helpers.js';

const N = Number(process.env.CACHE_BENCH_N ?? 1_000_000);
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

describe.runIf(process.env.CACHE_BENCH)('result cache at scale', () => {
  it(`holds ${N} entries with flat memory, and reports lookups/s`, () => {
    const dir = tempDir('cache-bench');
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    try {
      const cache = ResultCache.open(dir);
      // a realistic value: ~600 bytes, like a short succeeded message with usage
      const line = (i: number) =>
        JSON.stringify({
          custom_id: idFor(i),
          result: {
            type: 'succeeded',
            message: {
              id: `msg_${i}`,
              type: 'message',
              role: 'assistant',
              model: 'claude-haiku-4-5',
              content: [{ type: 'text', text: `label ${i} `.repeat(30) }],
              stop_reason: 'end_turn',
              usage: { input_tokens: 812, output_tokens: 64 },
            },
          },
        });
      gc();
      const rssBefore = process.memoryUsage().rss;
      const heapBefore = process.memoryUsage().heapUsed;
      const memory: string[] = [];
      let t = performance.now();
      const chunk = 50_000;
      for (let from = 0; from < N; from += chunk) {
        const batch: Array<[string, string]> = [];
        for (let i = from; i < Math.min(N, from + chunk); i++) batch.push([idFor(i), line(i)]);
        cache.putMany(batch);
        if ((from + chunk) % (N / 5) === 0) {
          gc();
          const m = process.memoryUsage();
          memory.push(
            `  after ${from + chunk} entries: RSS ${mb(m.rss)}, heap used ${mb(m.heapUsed)}, external ${mb(m.external)}`,
          );
        }
      }
      const putSeconds = (performance.now() - t) / 1000;
      gc();
      const rssAfter = process.memoryUsage().rss;
      const heapAfter = process.memoryUsage().heapUsed;
      const stats = cache.stats();
      expect(stats.entries).toBe(N);

      const lookups = 200_000;
      const hitIds = Array.from({ length: lookups }, (_, k) => idFor(Math.floor((k * 7919) % N)));
      const missIds = Array.from({ length: lookups }, (_, k) => idFor(N + k));
      for (const id of hitIds) cache.get(id); // warm up the JIT and the page cache
      t = performance.now();
      let hits = 0;
      for (const id of hitIds) if (cache.get(id) !== undefined) hits++;
      const hitRate = lookups / ((performance.now() - t) / 1000);
      t = performance.now();
      let misses = 0;
      for (const id of missIds) if (cache.get(id) === undefined) misses++;
      const missRate = lookups / ((performance.now() - t) / 1000);
      expect(hits).toBe(lookups);
      expect(misses).toBe(lookups);
      cache.close();
      t = performance.now();
      const reopened = ResultCache.open(dir);
      const reopenMs = performance.now() - t;
      reopened.close();

      console.log(
        [
          `entries ${N}, values ${mb(stats.bytes)} in ${stats.segments} segments, table ${stats.tableSlots} slots (${mb(stats.tableSlots * 32)}), load ${stats.loadFactor.toFixed(2)}, rebuilds ${stats.rebuilds}`,
          `putMany: ${(N / putSeconds).toFixed(0)} entries/s (${putSeconds.toFixed(1)} s)`,
          `RSS ${mb(rssBefore)} → ${mb(rssAfter)} (+${mb(rssAfter - rssBefore)}), heap used ${mb(heapBefore)} → ${mb(heapAfter)} (after forced gc)`,
          ...memory,
          `get: ${hitRate.toFixed(0)} hits/s, ${missRate.toFixed(0)} misses/s (warm page cache)`,
          `clean reopen: ${reopenMs.toFixed(1)} ms`,
        ].join('\n'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
