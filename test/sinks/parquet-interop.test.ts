// Guards that what the encoder writes is Parquet to every reader, not just to one: an edge-case matrix (nulls,
// unicode with NUL and 4-byte characters, int64/double/timestamp/date extremes, strings larger than a page,
// text pages cut exactly at their size limit, hundreds of row groups, 0-row files) × every codec, read back
// by hyparquet, arrow-rs (parquet-wasm) and DuckDB, each compared value by value with the rows written.
import { describe, expect, it } from 'vitest';
import { PARQUET_COMPRESSIONS, type ParquetCompression } from '../../connector/sinks/parquet-file.js';
import { KINDS, parquetWriterInTempDir } from '../helpers/parquet-files.js';
import { canon, READERS, type Row } from '../helpers/parquet-readers.js';

const writeRows = parquetWriterInTempDir('parquet-interop-');

/** A row as every reader should give it back (canon's form), from the values written. */
function expectedRow(row: Row): Row {
  return Object.fromEntries(
    KINDS.map(([name, kind]) => {
      const v = row[name];
      const wide = (kind === 'integer' || kind === 'timestamp') && v !== undefined && v !== null;
      return [name, canon(wide ? BigInt(v as number | bigint) : v)];
    }),
  );
}

const base = (k: number): Row => ({
  _airbyte_raw_id: `r${k}`,
  _airbyte_extracted_at: 1_767_225_600_000_000n + BigInt(k),
  _claude_custom_id: `c${k}`,
  _claude_status: 'succeeded',
});

const UNICODE = [
  '',
  '\0',
  'a\0b',
  '\0\0\0',
  '😀',
  '𝄞 music',
  'é and é', // precomposed, then e + combining accent
  '日本語のテキスト',
  'עברית RTL',
  '👨‍👩‍👧 family (ZWJ)',
  '\uFFFF',
  '\u{10FFFF}',
  'tab\tnewline\ncr\r',
  '\u2028\u2029',
];

const INT64 = [
  -(2n ** 63n),
  2n ** 63n - 1n,
  0,
  -1,
  1,
  Number.MAX_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER,
  2 ** 32,
  -(2 ** 32),
  -(2 ** 32) - 1,
  2n ** 53n + 1n,
];
const DOUBLES = [
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  Number.MIN_VALUE,
  -Number.MIN_VALUE,
  -0,
  0,
  Infinity,
  -Infinity,
  0.1,
  1e-300,
];
// DuckDB reads the widest timestamps as ±infinity, so the extremes are those its range holds; hyparquet and
// arrow-rs read the full int64 range (the `int64` case).
const TIMESTAMPS = [-(2n ** 62n), 2n ** 62n, 0n, -1n, 1n, 253_402_300_799_999_999n];
const DATES = [-2_147_483_647, 2_147_483_647, 0, -1, 2_932_896];

interface Case {
  rows: Row[];
  rowGroupSize?: number;
  /** DuckDB cannot hold every value of this case (see TIMESTAMPS). */
  notDuckDB?: boolean;
  /** Cases that cost seconds per codec run with the default and the smallest codec only (CI time). */
  codecs?: readonly ParquetCompression[];
}

const HEAVY: readonly ParquetCompression[] = ['SNAPPY', 'ZSTD'];

const CASES: Record<string, Case> = {
  'zero rows': { rows: [] },
  'one row, every optional column null': { rows: [base(0)] },
  'nulls at every density, all-null and no-null chunks': {
    rowGroupSize: 64,
    rows: Array.from({ length: 200 }, (_, k) => ({
      ...base(k),
      i: k % 2 ? null : k,
      x: k % 3 ? undefined : k / 3,
      b: k % 5 === 0 ? null : k % 2 === 0,
      t: k % 7 === 0 ? null : BigInt(k) * 1_000_000n,
      d: k > 100 ? null : k,
      s: k < 128 ? undefined : `s${k}`,
    })),
  },
  unicode: {
    rows: UNICODE.map((s, k) => ({ ...base(k), _airbyte_raw_id: `${s}#${k}`, s, j: JSON.stringify({ s, k }) })),
  },
  'int64, double, timestamp and date extremes': {
    rows: Array.from({ length: 11 }, (_, k) => ({
      ...base(k),
      i: INT64[k],
      x: DOUBLES[k],
      t: TIMESTAMPS[k],
      d: DATES[k],
    })),
  },
  'int64 range in timestamps': {
    notDuckDB: true,
    rows: INT64.map((t, k) => ({ ...base(k), _airbyte_extracted_at: t, t })),
  },
  'strings larger than a page (1 MiB)': {
    codecs: HEAVY,
    rows: [3 << 19, 1 << 20, (1 << 20) - 4, 1, 0].map((n, k) => ({
      ...base(k),
      s: 'é😀x'.repeat(Math.ceil(n / 7)).slice(0, n),
      j: JSON.stringify({ long: 'y'.repeat(n) }),
    })),
  },
  'text pages cut exactly at 1 MiB': {
    codecs: HEAVY,
    // 4-byte length + 1020 bytes: 1024 values fill a page to the byte; 1021 bytes: the limit falls inside a value.
    rows: Array.from({ length: 2100 }, (_, k) => ({
      ...base(k),
      s: `${String(k).padStart(6, '0')}`.padEnd(k < 1100 ? 1020 : 1021, 'z'),
    })),
  },
  'hundreds of one-row row groups': {
    codecs: HEAVY,
    rowGroupSize: 1,
    rows: Array.from({ length: 200 }, (_, k) => ({ ...base(k), i: k, s: k % 4 ? `v${k}` : null })),
  },
  'row groups of 7 over 300 rows': {
    rowGroupSize: 7,
    rows: Array.from({ length: 300 }, (_, k) => ({ ...base(k), i: k * 7919, b: k % 3 === 0, d: k })),
  },
};

const write = (name: string, c: Case, compression: ParquetCompression) =>
  writeRows(`${name.replace(/\W+/g, '-')}-${compression}.parquet`, c.rows, {
    rowGroupSize: c.rowGroupSize ?? 1000,
    compression,
  });

describe('Parquet interop: every codec, every edge case, three independent readers', () => {
  const matrix = Object.keys(CASES).flatMap((name) =>
    (CASES[name]!.codecs ?? PARQUET_COMPRESSIONS).map((codec) => [name, codec] as const),
  );
  it.each(matrix)('%s (%s)', async (name, codec) => {
    const c = CASES[name]!;
    const path = await write(name, c, codec);
    const want = c.rows.map(expectedRow);
    for (const [reader, read] of Object.entries(READERS)) {
      if (reader === 'duckdb' && c.notDuckDB) continue;
      const got = await read(path);
      expect(got.length, `${reader}: row count`).toBe(want.length);
      // Row by row, so a mismatch names the reader and the row rather than printing 2,100 rows.
      got.forEach((row, k) => expect(row, `${reader}: row ${k}`).toEqual(want[k]));
    }
  });
});
