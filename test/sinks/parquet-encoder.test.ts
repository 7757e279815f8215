// Guards the columnar Parquet encoder: every column kind, with nulls at every density (RLE and bit-packed
// definition levels), several pages per chunk and several row groups, round-trips exactly through two
// independent readers (DuckDB and parquetjs-lite's reader), and the numeric statistics are right.
import fc from 'fast-check';
import parquet from 'parquetjs-lite';
import { describe, expect, it } from 'vitest';
import { streamArrowSchema } from '../../connector/sinks/arrow-schema.js';
import type { ParquetOptions } from '../../connector/sinks/parquet-file.js';
import { duck } from '../helpers/duckdb.js';
import { parquetWriterInTempDir } from '../helpers/parquet-files.js';

const schema = streamArrowSchema({
  properties: {
    i: { type: ['null', 'integer'] },
    x: { type: ['null', 'number'] },
    b: { type: ['null', 'boolean'] },
    t: { type: ['null', 'string'], format: 'date-time' },
    d: { type: ['null', 'string'], format: 'date' },
    s: { type: ['null', 'string'] },
  },
});

type Row = Record<string, unknown>;

const write = parquetWriterInTempDir('parquet-encoder-', schema);

function base(k: number): Row {
  return {
    _airbyte_raw_id: `r${k}`,
    _airbyte_extracted_at: BigInt(k) * 1000n,
    _claude_custom_id: `c${k}`,
    _claude_status: 'succeeded',
  };
}

const cell = {
  // Numbers are written as two 32-bit words, bigints as one 64-bit value: both, over their whole ranges.
  i: fc.oneof(
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.constantFrom(2 ** 32, -(2 ** 32), -(2 ** 32) - 1, Number.MIN_SAFE_INTEGER),
  ),
  x: fc.double({ noNaN: true, noDefaultInfinity: true }),
  b: fc.boolean(),
  t: fc.bigInt({ min: -(10n ** 16n), max: 10n ** 16n }),
  d: fc.integer({ min: -800_000, max: 800_000 }),
  s: fc.string({ unit: 'grapheme', maxLength: 40 }),
};
const maybe = <T>(arb: fc.Arbitrary<T>, nullRate: number) =>
  fc.option(arb, {
    nil: undefined,
    freq: nullRate === 0 ? Number.MAX_SAFE_INTEGER : Math.max(1, Math.round(1 / nullRate)),
  });

function rowsArb(nullRate: number) {
  return fc.array(
    fc.record(
      {
        i: maybe(cell.i, nullRate),
        x: maybe(cell.x, nullRate),
        b: maybe(cell.b, nullRate),
        t: maybe(cell.t, nullRate),
        d: maybe(cell.d, nullRate),
        s: maybe(cell.s, nullRate),
      },
      { requiredKeys: [] },
    ),
    { minLength: 1, maxLength: 60 },
  );
}

/** What DuckDB gives back for a value we wrote, in comparable form. */
function expected(column: string, v: unknown): unknown {
  if (v === undefined || v === null) return null;
  switch (column) {
    case 'i':
      return BigInt(v as number | bigint).toString();
    case 'x':
      return Object.is(v, -0) ? 0 : v;
    case 't':
      return (v as bigint).toString();
    default:
      return v;
  }
}

const SELECT = `SELECT i::VARCHAR i, x, b, epoch_us(t)::VARCHAR t, (d - DATE '1970-01-01')::INTEGER d, s FROM read_parquet('PATH') ORDER BY _airbyte_raw_id`;

describe('columnar Parquet encoder', () => {
  it.each([0, 0.1, 0.5, 0.9, 1])('round-trips random rows with a null rate of %s through DuckDB', async (nullRate) => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        rowsArb(nullRate),
        fc.constantFrom('SNAPPY', 'GZIP', 'UNCOMPRESSED'),
        fc.integer({ min: 1, max: 25 }),
        async (data, compression, rowGroupSize) => {
          const rows: Row[] = data.map((r, k) => ({ ...base(1000 + k), ...r }));
          const path = await write(`rand-${nullRate}-${n++}.parquet`, rows, {
            compression: compression as ParquetOptions['compression'],
            rowGroupSize,
          });
          // -0 is written as it is, but whether a reader hands back -0 or 0 is the reader's choice: both count.
          const back = (await duck(SELECT.replace('PATH', path))).map((r) => (Object.is(r.x, -0) ? { ...r, x: 0 } : r));
          const want = rows.map((r) =>
            Object.fromEntries(['i', 'x', 'b', 't', 'd', 's'].map((c) => [c, expected(c, r[c])])),
          );
          expect(back).toEqual(want);
        },
      ),
      { numRuns: 12, seed: 20261125 + Math.round(nullRate * 100) },
    );
  });

  it('splits long columns into several pages and row groups that read back in order', async () => {
    const text = (k: number) => `${k}:` + 'é€😀 long text '.repeat(400); // ~6 KB of UTF-8 with multi-byte characters
    const rows = Array.from({ length: 1500 }, (_, k) => ({
      ...base(k),
      i: k,
      s: k % 7 === 0 ? undefined : text(k),
      b: k % 3 === 0,
    }));
    const path = await write('pages.parquet', rows, { rowGroupSize: 700 });
    const pages = await duck(`SELECT count(*)::INTEGER n FROM parquet_metadata('${path}')`);
    expect(pages[0]!.n).toBeGreaterThan(0);
    const groups = await duck(
      `SELECT DISTINCT row_group_id::INTEGER g, row_group_num_rows::INTEGER r FROM parquet_metadata('${path}') ORDER BY g`,
    );
    expect(groups).toEqual([
      { g: 0, r: 700 },
      { g: 1, r: 700 },
      { g: 2, r: 100 },
    ]);
    const back = await duck(`SELECT i::INTEGER i, s, b FROM read_parquet('${path}') ORDER BY i`);
    expect(back.length).toBe(1500);
    back.forEach((r, k) => {
      expect(r.i).toBe(k);
      expect(r.s).toBe(k % 7 === 0 ? null : text(k));
      expect(r.b).toBe(k % 3 === 0);
    });
    // 700 rows of ~6 KB are ~4 MB of text: more than one page in that chunk.
    const { size } = (
      await duck(
        `SELECT max(total_uncompressed_size)::BIGINT size FROM parquet_metadata('${path}') WHERE path_in_schema = 's'`,
      )
    )[0] as { size: bigint };
    expect(Number(size)).toBeGreaterThan(2 * (1 << 20));
  });

  it('cuts fixed-width columns into several pages within one row group, nulls bit-packed per page', async () => {
    // 8-byte values: a page holds 131,072 of them, so 300,000 rows make three pages per column, each with
    // its own definition levels (a null every third row) and the statistics of the whole chunk.
    const n = 300_000;
    const rows = Array.from({ length: n }, (_, k) => ({
      ...base(k),
      i: k % 3 === 1 ? null : k - 1000,
      x: k % 3 === 2 ? undefined : k / 4,
      b: k % 5 === 0 ? null : k % 2 === 0,
    }));
    const path = await write('fixed-pages.parquet', rows, { rowGroupSize: n });
    const [agg] = await duck(
      `SELECT count(*)::INTEGER n, count(i)::INTEGER ni, sum(i)::BIGINT si, count(x)::INTEGER nx, sum(x)::DOUBLE sx, count(b)::INTEGER nb, sum(b::INTEGER)::INTEGER sb FROM read_parquet('${path}')`,
    );
    const present = (f: (k: number) => boolean) => Array.from({ length: n }, (_, k) => k).filter(f);
    expect(agg).toEqual({
      n,
      ni: present((k) => k % 3 !== 1).length,
      si: BigInt(present((k) => k % 3 !== 1).reduce((a, k) => a + (k - 1000), 0)),
      nx: present((k) => k % 3 !== 2).length,
      sx: present((k) => k % 3 !== 2).reduce((a, k) => a + k / 4, 0),
      nb: present((k) => k % 5 !== 0).length,
      sb: present((k) => k % 5 !== 0 && k % 2 === 0).length,
    });
    const spots = await duck(`SELECT i::BIGINT i, x, b FROM read_parquet('${path}') LIMIT 3 OFFSET 131070`);
    expect(spots).toEqual([
      { i: 131070n - 1000n, x: 131070 / 4, b: null },
      { i: null, x: 131071 / 4, b: false },
      { i: 131072n - 1000n, x: null, b: true },
    ]);
    const stats = await duck(
      `SELECT stats_min::BIGINT lo, stats_max::BIGINT hi FROM parquet_metadata('${path}') WHERE path_in_schema = 'i'`,
    );
    expect(stats).toEqual([{ lo: -1000n, hi: BigInt(n - 1 - 1000) }]);
  });

  it('writes min/max/null-count statistics for numeric columns that DuckDB reads', async () => {
    const rows = [
      { ...base(1), i: -5, x: 0, t: -1_000_000n, d: -3 },
      { ...base(2), i: 2n ** 62n, x: -2.5, t: 7n, d: 10 },
      { ...base(3) },
    ];
    const path = await write('stats.parquet', rows);
    const stats = await duck(
      `SELECT path_in_schema p, stats_min_value mn, stats_max_value mx, stats_null_count::INTEGER null_count FROM parquet_metadata('${path}') WHERE path_in_schema IN ('i','x','d','s') ORDER BY p`,
    );
    expect(stats).toEqual([
      { p: 'd', mn: '1969-12-29', mx: '1970-01-11', null_count: 1 },
      { p: 'i', mn: '-5', mx: String(2n ** 62n), null_count: 1 },
      { p: 's', mn: null, mx: null, null_count: 3 },
      { p: 'x', mn: '-2.5', mx: '0.0', null_count: 1 },
    ]);
    // Statistics are usable: a filter DuckDB could prune with gives the right answer.
    expect(await duck(`SELECT count(*)::INTEGER n FROM read_parquet('${path}') WHERE i > 1000`)).toEqual([{ n: 1 }]);
  });

  it('is read by parquetjs-lite too, nulls and all', async () => {
    const rows: Row[] = Array.from({ length: 30 }, (_, k) => ({
      ...base(k),
      i: k % 4 === 0 ? undefined : k,
      s: k % 5 === 0 ? undefined : `s${k}`,
      b: k % 2 === 0,
    }));
    const path = await write('lite.parquet', rows, { rowGroupSize: 8 });
    const reader = await parquet.ParquetReader.openFile(path);
    try {
      const cursor = reader.getCursor();
      const seen: Row[] = [];
      for (let r = await cursor.next(); r; r = await cursor.next()) seen.push(r);
      expect(seen.map((r) => [r._airbyte_raw_id, r.i ?? null, r.s ?? null, r.b])).toEqual(
        rows.map((r) => [r._airbyte_raw_id, r.i === undefined ? null : BigInt(r.i as number), r.s ?? null, r.b]),
      );
    } finally {
      await reader.close();
    }
  });

  it('an empty file (no rows) is still a valid Parquet file', async () => {
    const path = await write('empty.parquet', []);
    expect(await duck(`SELECT count(*)::INTEGER n FROM read_parquet('${path}')`)).toEqual([{ n: 0 }]);
  });
});
