// Guards the footer's statistics against the data: for every column kind the connector writes, each row
// group's min, max and null count are what the rows of that group hold (text in UTF-8 byte order, which is not
// JavaScript's UTF-16 order), as hyparquet decodes them and as DuckDB reads them; and the footer says
// TYPE_ORDER for every column, without which a reader may not trust min/max at all.
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ColumnKind } from '../../connector/sinks/arrow-schema.js';
import { MAX_TEXT_BOUND_BYTES } from '../../connector/sinks/parquet-statistics.js';
import { EVERY_KIND, KINDS, parquetWriterInTempDir } from '../helpers/parquet-files.js';
import { footerOf, rawFooterOf, type Row } from '../helpers/parquet-readers.js';

const write = parquetWriterInTempDir('parquet-stats-');

/** A small deterministic generator (mulberry32), so the data is the same on every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

// Texts whose UTF-16 order differs from their UTF-8 byte order: '\uFFFF' sorts after '😀' in JavaScript, before it in bytes.
const TEXTS = ['', '\0', 'a', 'a\0', 'Z', 'é', '\uFFFF', '😀', '\u{10FFFF}', 'zzz', '日本', 'ab', 'abc'];

function rows(n: number, seed: number, infinities = true): Row[] {
  const next = random(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!;
  const maybe = <T>(v: T) => (next() < 0.25 ? null : v);
  return Array.from({ length: n }, (_, k) => ({
    _airbyte_raw_id: `r${k}`,
    _airbyte_extracted_at: 1_767_225_600_000_000n + BigInt(Math.floor(next() * 1e9)),
    _claude_custom_id: pick(TEXTS) + k,
    _claude_status: pick(['succeeded', 'errored', 'expired']),
    i: maybe(pick([-(2n ** 63n), 2n ** 63n - 1n, Math.floor((next() - 0.5) * 2 ** 40), -1, 0])),
    x: maybe(
      pick([
        -0,
        0,
        -1.5,
        next() * 1e6,
        infinities ? -Infinity : -1e300,
        infinities ? Infinity : 1e300,
        Number.MIN_VALUE,
      ]),
    ),
    b: maybe(next() < 0.5),
    t: maybe(BigInt(Math.floor((next() - 0.5) * 2 ** 52))),
    d: maybe(Math.floor((next() - 0.5) * 100_000)),
    s: maybe(pick(TEXTS)),
    j: maybe(JSON.stringify({ v: pick(TEXTS) })),
  }));
}

/** Orders two values of a column kind as Parquet's type-defined order does. */
function compare(kind: ColumnKind, a: unknown, b: unknown): number {
  if (kind === 'string' || kind === 'json') return Buffer.compare(Buffer.from(a as string), Buffer.from(b as string));
  if (kind === 'integer' || kind === 'timestamp')
    return BigInt(a as bigint) < BigInt(b as bigint) ? -1 : BigInt(a as bigint) > BigInt(b as bigint) ? 1 : 0;
  return Number(a) - Number(b);
}

/** What the statistics of one column over `group` must be, in hyparquet's decoded form. */
function expectedStats(kind: ColumnKind, name: string, group: Row[]): { min?: unknown; max?: unknown; nulls: bigint } {
  const values = group.map((r) => r[name]).filter((v) => v !== null && v !== undefined);
  const nulls = BigInt(group.length - values.length);
  if (values.length === 0) return { nulls };
  const sorted = [...values].sort((a, b) => compare(kind, a, b));
  const wide = (v: unknown) => (kind === 'integer' || kind === 'timestamp' ? BigInt(v as bigint) : v);
  return { min: wide(sorted[0]), max: wide(sorted[sorted.length - 1]), nulls };
}

describe('Parquet statistics', () => {
  it('match every row group of every column kind, as hyparquet decodes them', async () => {
    const data = rows(150, 18);
    const path = await write('stats.parquet', data, { rowGroupSize: 13 });
    const footer = await footerOf(path);
    expect(footer.row_groups).toHaveLength(Math.ceil(150 / 13));
    const kindsSeen = new Set<ColumnKind>();
    footer.row_groups.forEach((rg, g) => {
      const group = data.slice(g * 13, (g + 1) * 13);
      rg.columns.forEach((chunk, c) => {
        const [name, kind] = KINDS[c]!;
        kindsSeen.add(kind);
        const stats = chunk.meta_data!.statistics!;
        const want = expectedStats(kind, name, group);
        const where = `row group ${g}, column ${name} (${kind})`;
        expect(stats.null_count, where).toBe(want.nulls);
        // Zero bounds compare equal whatever their sign (the spec writes a zero min as -0.0, a zero max as +0.0).
        const same = (v: unknown) => (typeof v === 'number' && v === 0 ? 0 : v);
        expect(same(stats.min_value), `${where}: min`).toEqual(same(want.min));
        expect(same(stats.max_value), `${where}: max`).toEqual(same(want.max));
      });
    });
    expect([...kindsSeen].sort()).toEqual(['boolean', 'date', 'integer', 'json', 'number', 'string', 'timestamp']);
  });

  it('match what DuckDB computes from the rows of each row group', async () => {
    // DuckDB shows no statistics for a double chunk with an infinite bound (legal, and checked above with hyparquet).
    const data = rows(90, 7, false);
    const path = await write('stats-duck.parquet', data, { rowGroupSize: 20 });
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    const duck = async (sql: string) => (await connection.runAndReadAll(sql)).getRowObjectsJS() as Row[];
    onTestFinished(() => {
      connection.closeSync();
      instance.closeSync();
    });
    for (const [name, kind] of KINDS) {
      // DuckDB orders VARCHAR by bytes too, and prints both sides through the same casts.
      const computed = await duck(
        `SELECT (file_row_number // 20)::INTEGER g, min("${name}")::VARCHAR mn, max("${name}")::VARCHAR mx, count(*) FILTER ("${name}" IS NULL)::INTEGER nn
         FROM read_parquet('${path}', file_row_number = true) GROUP BY ALL ORDER BY g`,
      );
      const stored = await duck(
        `SELECT row_group_id::INTEGER g, stats_min_value mn, stats_max_value mx, stats_null_count::INTEGER nn
         FROM parquet_metadata('${path}') WHERE path_in_schema = '${name}' ORDER BY g`,
      );
      if (kind === 'number') {
        // A zero bound is stored as -0.0 or +0.0 by rule; DuckDB prints the data's own zero.
        const zero = (r: Row) => ({ ...r, mn: r.mn === '-0.0' ? '0.0' : r.mn, mx: r.mx === '-0.0' ? '0.0' : r.mx });
        expect(stored.map(zero), name).toEqual(computed.map(zero));
      } else {
        expect(stored, name).toEqual(computed);
      }
    }
  });

  it('are written with column_orders: TYPE_ORDER for every leaf column', async () => {
    const path = await write('orders.parquet', rows(5, 1));
    const raw = await rawFooterOf(path);
    // FileMetaData field 7 = list<ColumnOrder>; ColumnOrder is a union whose field 1 is TYPE_ORDER (an empty TypeDefinedOrder).
    expect(raw.field_7).toEqual(EVERY_KIND.fields.map(() => ({ field_1: {} })));
    // field 2 = the schema: the root, then one element per leaf, in the same order.
    expect(raw.field_2).toHaveLength(EVERY_KIND.fields.length + 1);
  });

  it('leave out text bounds too long to be useful, and bounds of an all-null chunk', async () => {
    const long = 'y'.repeat(MAX_TEXT_BOUND_BYTES + 1);
    const data = [
      { ...rows(1, 2)[0]!, s: 'a', j: null },
      { ...rows(1, 3)[0]!, s: long, j: null },
    ];
    const path = await write('long.parquet', data);
    const columns = (await footerOf(path)).row_groups[0]!.columns;
    const stats = (name: string) => columns[KINDS.findIndex(([n]) => n === name)]!.meta_data!.statistics!;
    expect(stats('s')).toEqual({ null_count: 0n });
    expect(stats('j')).toEqual({ null_count: 2n });
    // The same column with bounds of exactly the limit keeps them.
    const edge = await write('edge.parquet', [{ ...data[0]!, s: long.slice(1) }]);
    const kept = (await footerOf(edge)).row_groups[0]!.columns[KINDS.findIndex(([n]) => n === 's')]!.meta_data!
      .statistics!;
    expect(kept.max_value).toBe(long.slice(1));
  });
});
