// Guards schema-true Parquet output: every JSON-schema shape a catalog can declare becomes the column type DuckDB
// (an independent reader) reports, values survive exactly (big integers, pre-1970 instants, microseconds), and a
// value that does not fit its type becomes null with a destinations-v2 change in `_airbyte_meta`.
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Schema } from 'apache-arrow';
import parquet from 'parquetjs-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { columnKind, streamArrowSchema } from '../../connector/sinks/arrow-schema.js';
import { kindOf } from '../../connector/config/column-kind.js';
import { coerceRecord, coerceValue, timestampMicros, type MetaChange } from '../../connector/sinks/coerce.js';
import {
  AtomicParquetFile,
  DEFAULT_PARQUET_OPTIONS,
  RollingParquetWriter,
  parquetOptionsFrom,
  rolledPath,
  type ParquetOptions,
} from '../../connector/sinks/parquet-file.js';
import { columnTypes, duck } from '../helpers/duckdb.js';

const jsonSchema = {
  type: 'object',
  definitions: { money: { type: ['null', 'number'] } },
  properties: {
    id: { type: 'integer' },
    name: { type: ['null', 'string'] },
    score: { type: 'number' },
    active: { type: 'boolean' },
    created_at: { type: 'string', format: 'date-time' },
    local_at: { type: ['null', 'string'], airbyte_type: 'timestamp_without_timezone' },
    tz_at: { type: 'string', airbyte_type: 'timestamp_with_timezone' },
    birthday: { type: 'string', format: 'date' },
    legacy_day: { type: 'string', airbyte_type: 'date' },
    count: { type: 'number', airbyte_type: 'integer' },
    big_id: { type: ['null', 'integer'] },
    huge: { type: 'string', airbyte_type: 'big_integer' },
    wake: { type: 'string', airbyte_type: 'time_with_timezone' },
    tags: { type: 'array', items: { type: 'string' } },
    address: { type: 'object', properties: { city: { type: 'string' }, geo: { type: 'object' } } },
    either: { oneOf: [{ type: 'string' }, { type: 'integer' }] },
    multi: { type: ['string', 'integer'] },
    maybe: { anyOf: [{ type: 'null' }, { type: 'integer' }] },
    seen_at: { $ref: 'WellKnownTypes.json#/definitions/TimestampWithTimezone' },
    price: { $ref: '#/definitions/money' },
    elsewhere: { $ref: 'https://example.com/schemas/thing.json' },
    anything: {},
    'with space': { type: 'string' },
  },
};

type Data = Record<string, unknown>;
const records: Data[] = [
  {
    id: 1,
    name: 'Ada',
    score: 9.5,
    active: true,
    created_at: '2026-01-01T00:00:00.123456Z',
    local_at: '2026-01-01T12:30:00',
    tz_at: '2026-01-01T01:00:00+01:00',
    birthday: '2026-02-28',
    legacy_day: '2000-02-29',
    count: 3,
    big_id: '9223372036854775807',
    huge: '123456789012345678901234567890',
    wake: '07:30:00+02:00',
    tags: ['a', 'b'],
    address: { city: 'Paris', geo: { lat: 48.85 } },
    either: 'x',
    multi: 5,
    maybe: 7,
    seen_at: '2026-03-01T10:00:00Z',
    price: 12.5,
    elsewhere: { any: 'thing' },
    anything: [1, { two: 2 }],
    'with space': 'ok',
  },
  // nulls and missing fields: null, never a change
  { id: 2, name: null, big_id: null, tags: null, address: null },
  // wrong-typed values
  {
    id: 'three',
    name: { first: 'x' },
    score: 'lots',
    active: 'yes',
    created_at: 'yesterday',
    local_at: 1700000000,
    birthday: '2026-02-30',
    legacy_day: '28/02/2026',
    count: 1.5,
    big_id: 9007199254740993,
    maybe: 'seven',
    price: 'free',
    seen_at: '2026-13-01T00:00:00Z',
  },
  // before 1970, offsets, naive timestamps, fractions
  {
    id: 4,
    created_at: '1969-07-20T20:17:40.123456789Z',
    local_at: '1969-12-31 23:59:59.999999',
    tz_at: '1900-01-01T05:30:00+05:30',
    birthday: '1900-01-01',
    legacy_day: '0001-01-01',
    big_id: -9223372036854775808n,
  },
  // integers beyond 64 bits
  { id: '9223372036854775808', big_id: -1e19, count: '42', score: '1e3' },
];

function rowOf(schema: Schema, data: Data, i: number): { row: Data; changes: MetaChange[] } {
  const { row, changes } = coerceRecord(schema, data);
  row._airbyte_raw_id = `raw-${i}`;
  row._airbyte_extracted_at = timestampMicros('2026-05-01T00:00:00Z');
  row._airbyte_meta = JSON.stringify({ changes, sync_id: 9 });
  row._claude_custom_id = `c-${i}`;
  row._claude_status = 'succeeded';
  return { row, changes };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'schema-true-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('JSON schema → Arrow column kinds', () => {
  it.each([
    [{ type: 'string', airbyte_type: 'big_integer' }, 'string'],
    [{ type: 'number', airbyte_type: 'big_integer' }, 'string'],
    [{ type: 'string', airbyte_type: 'time_without_timezone' }, 'string'],
    [{ type: 'string', format: 'time' }, 'string'],
    [{ type: 'string', airbyte_type: 'date' }, 'date'],
    [{ type: 'string', airbyte_type: 'timestamp_with_timezone' }, 'timestamp'],
    [{ anyOf: [{ type: 'null' }, { type: 'string', format: 'date-time' }] }, 'timestamp'],
    [{ oneOf: [{ type: 'null' }, { type: 'integer' }, { type: 'string' }] }, 'json'],
    [{ allOf: [{ type: 'string' }] }, 'json'],
    [{ $ref: 'WellKnownTypes.json#/definitions/Integer' }, 'integer'],
    [{ $ref: 'WellKnownTypes.json#/definitions/Date' }, 'date'],
    [{ $ref: 'WellKnownTypes.json#/definitions/TimeWithoutTimezone' }, 'string'],
    [{ $ref: 'WellKnownTypes.json#/definitions/BinaryData' }, 'string'],
    [{ $ref: '#/definitions/nowhere' }, 'json'],
    [{ type: ['null'] }, 'json'],
    [{ type: 'null' }, 'json'],
    [null, 'json'],
    ['string', 'json'],
  ])('%j → %s', (schema, kind) => expect(kindOf(schema)).toBe(kind));

  it('resolves local $refs against the stream schema, and survives cycles', () => {
    const root = {
      definitions: {
        a: { $ref: '#/definitions/b' },
        b: { $ref: '#/definitions/a' },
        d: { type: 'string', format: 'date' },
      },
    };
    expect(kindOf({ $ref: '#/definitions/d' }, root)).toBe('date');
    expect(kindOf({ $ref: '#/definitions/a' }, root)).toBe('json');
  });

  it('falls back to _airbyte_data for schemas without usable properties', () => {
    for (const s of [
      {},
      { type: 'object' },
      { properties: {} },
      { properties: 'nope' },
      { properties: { _airbyte_meta: { type: 'string' } } },
    ]) {
      expect(streamArrowSchema(s).fields[0]!.name).toBe('_airbyte_data');
    }
    const schema = streamArrowSchema({
      properties: { __proto__: { type: 'string' }, ok: { type: 'string' } },
    } as never);
    expect(schema.fields[0]!.name).toBe('ok');
  });

  it('keeps every data column nullable', () => {
    const schema = streamArrowSchema(jsonSchema);
    for (const f of schema.fields.filter((f) => !f.name.startsWith('_'))) expect(f.nullable).toBe(true);
    expect(columnKind(schema.fields.find((f) => f.name === 'maybe')!)).toBe('integer');
  });
});

describe('coerceValue', () => {
  it('parses timestamps strictly: offsets, Z, naive as UTC, fractions to µs, before 1970', () => {
    const utc = timestampMicros('2026-01-01T00:00:00Z')!;
    expect(timestampMicros('2026-01-01T01:00:00+01:00')).toBe(utc);
    expect(timestampMicros('2026-01-01T01:00:00+0100')).toBe(utc);
    expect(timestampMicros('2025-12-31T19:00:00-05')).toBe(utc);
    expect(timestampMicros('2026-01-01T00:00:00')).toBe(utc);
    expect(timestampMicros('2026-01-01 00:00')).toBe(utc);
    expect(timestampMicros('2026-01-01')).toBe(utc);
    expect(timestampMicros('1970-01-01T00:00:00.000001Z')).toBe(1n);
    expect(timestampMicros('1969-12-31T23:59:59.9999999Z')).toBe(-1n);
    expect(timestampMicros('0001-01-01T00:00:00Z')).toBe(-62135596800000000n);
    for (const bad of [
      '2026-02-29T00:00:00Z',
      '2026-01-01T24:00:00Z',
      '2026-01-01T00:00:00+25:00',
      'Jan 1 2026',
      '2026',
      '1700000000',
    ]) {
      expect(timestampMicros(bad), bad).toBeUndefined();
    }
  });

  it('says why a value was refused', () => {
    expect(coerceValue('integer', '9223372036854775808')).toEqual({
      ok: false,
      reason: 'DESTINATION_FIELD_SIZE_LIMITATION',
    });
    expect(coerceValue('integer', 2 ** 70)).toEqual({ ok: false, reason: 'DESTINATION_FIELD_SIZE_LIMITATION' });
    expect(coerceValue('integer', 2 ** 53 + 2)).toEqual({ ok: false, reason: 'DESTINATION_SERIALIZATION_ERROR' });
    expect(coerceValue('integer', '9007199254740993')).toEqual({ ok: true, value: 9007199254740993n });
    expect(coerceValue('integer', -5n)).toEqual({ ok: true, value: -5 });
    expect(coerceValue('number', '1e999')).toEqual({ ok: false, reason: 'DESTINATION_FIELD_SIZE_LIMITATION' });
    expect(coerceValue('number', 'NaN')).toEqual({ ok: false, reason: 'DESTINATION_SERIALIZATION_ERROR' });
    expect(coerceValue('boolean', 'false')).toEqual({ ok: true, value: false });
    expect(coerceValue('date', '1969-12-31')).toEqual({ ok: true, value: -1 });
    expect(coerceValue('json', { n: 10n })).toEqual({ ok: true, value: '{"n":"10"}' });
    const cyclic: Data = {};
    cyclic.self = cyclic;
    expect(coerceValue('json', cyclic)).toEqual({ ok: false, reason: 'DESTINATION_SERIALIZATION_ERROR' });
  });

  it('stores a schemaless record whole, even when it has an _airbyte_data field', () => {
    const schema = streamArrowSchema({});
    expect(coerceRecord(schema, { a: 1, _airbyte_data: 2 }).row).toEqual({
      _airbyte_data: '{"a":1,"_airbyte_data":2}',
    });
  });
});

describe('schema-true Parquet, read back by DuckDB', () => {
  let glob: string;
  let changesByRow: MetaChange[][];

  beforeAll(async () => {
    const schema = streamArrowSchema(jsonSchema);
    const out = join(dir, 'typed');
    await mkdir(out);
    const writer = await RollingParquetWriter.create(join(out, 'part-00001.parquet'), schema, DEFAULT_PARQUET_OPTIONS);
    changesByRow = [];
    for (const [i, data] of records.entries()) {
      const { row, changes } = rowOf(schema, data, i);
      changesByRow.push(changes);
      await writer.append(row);
    }
    expect(await writer.commit()).toEqual([join(out, 'part-00001.parquet')]);
    glob = join(out, '*.parquet');
  });

  it('reports the declared column types', async () => {
    expect(await columnTypes(glob)).toMatchObject({
      id: 'BIGINT',
      name: 'VARCHAR',
      score: 'DOUBLE',
      active: 'BOOLEAN',
      created_at: 'TIMESTAMP WITH TIME ZONE',
      local_at: 'TIMESTAMP WITH TIME ZONE',
      tz_at: 'TIMESTAMP WITH TIME ZONE',
      birthday: 'DATE',
      legacy_day: 'DATE',
      count: 'BIGINT',
      big_id: 'BIGINT',
      huge: 'VARCHAR',
      wake: 'VARCHAR',
      tags: 'VARCHAR',
      address: 'VARCHAR',
      either: 'VARCHAR',
      multi: 'VARCHAR',
      maybe: 'BIGINT',
      seen_at: 'TIMESTAMP WITH TIME ZONE',
      price: 'DOUBLE',
      elsewhere: 'VARCHAR',
      anything: 'VARCHAR',
      'with space': 'VARCHAR',
      _airbyte_raw_id: 'VARCHAR',
      _airbyte_extracted_at: 'TIMESTAMP WITH TIME ZONE',
      _airbyte_generation_id: 'BIGINT',
      _airbyte_meta: 'VARCHAR',
      _claude_input_tokens: 'BIGINT',
    });
  });

  it('keeps values exactly', async () => {
    const rows = await duck(`SET TimeZone = 'UTC';
      SELECT id::VARCHAR id, name, score, active, created_at::VARCHAR created_at, epoch_us(created_at) created_us,
        local_at::VARCHAR local_at, tz_at::VARCHAR tz_at, birthday::VARCHAR birthday, legacy_day::VARCHAR legacy_day,
        count::VARCHAR count, big_id::VARCHAR big_id, huge, wake, tags, address, either, multi, maybe::VARCHAR maybe,
        seen_at::VARCHAR seen_at, price, elsewhere, anything, "with space", _airbyte_extracted_at::VARCHAR extracted
      FROM read_parquet('${glob}') ORDER BY _airbyte_raw_id`);
    expect(rows[0]).toEqual({
      id: '1',
      name: 'Ada',
      score: 9.5,
      active: true,
      created_at: '2026-01-01 00:00:00.123456+00',
      created_us: 1767225600123456n,
      local_at: '2026-01-01 12:30:00+00',
      tz_at: '2026-01-01 00:00:00+00',
      birthday: '2026-02-28',
      legacy_day: '2000-02-29',
      count: '3',
      big_id: '9223372036854775807',
      huge: '123456789012345678901234567890',
      wake: '07:30:00+02:00',
      tags: '["a","b"]',
      address: '{"city":"Paris","geo":{"lat":48.85}}',
      either: '"x"',
      multi: '5',
      maybe: '7',
      seen_at: '2026-03-01 10:00:00+00',
      price: 12.5,
      elsewhere: '{"any":"thing"}',
      anything: '[1,{"two":2}]',
      'with space': 'ok',
      extracted: '2026-05-01 00:00:00+00',
    });
    // nulls and missing fields
    expect(rows[1]).toMatchObject({
      id: '2',
      name: null,
      score: null,
      created_at: null,
      big_id: null,
      tags: null,
      address: null,
      huge: null,
    });
    // wrong-typed values are null
    expect(rows[2]).toMatchObject({
      id: null,
      name: null,
      score: null,
      active: null,
      created_at: null,
      local_at: null,
      birthday: null,
      legacy_day: null,
      count: null,
      big_id: null,
      maybe: null,
      price: null,
      seen_at: null,
    });
    // before 1970
    expect(rows[3]).toMatchObject({
      created_at: '1969-07-20 20:17:40.123456+00',
      created_us: -14182939876544n,
      local_at: '1969-12-31 23:59:59.999999+00',
      tz_at: '1900-01-01 00:00:00+00',
      birthday: '1900-01-01',
      legacy_day: '0001-01-01',
      big_id: '-9223372036854775808',
    });
    // beyond 64 bits → null; numeric strings that fit are kept
    expect(rows[4]).toMatchObject({ id: null, big_id: null, count: '42', score: 1000 });
  });

  it('records every nulled value in _airbyte_meta.changes', async () => {
    const rows = await duck(`SELECT _airbyte_meta FROM read_parquet('${glob}') ORDER BY _airbyte_raw_id`);
    const metas = rows.map((r) => JSON.parse(String(r._airbyte_meta)) as { changes: MetaChange[]; sync_id: number });
    expect(metas.map((m) => m.changes)).toEqual(changesByRow);
    expect(metas[0]).toEqual({ changes: [], sync_id: 9 });
    expect(metas[1]!.changes).toEqual([]);
    const nulled = (field: string) => ({ field, change: 'NULLED', reason: 'DESTINATION_SERIALIZATION_ERROR' });
    // In the record's order of fields.
    expect(metas[2]!.changes).toEqual(
      [
        'id',
        'name',
        'score',
        'active',
        'created_at',
        'local_at',
        'birthday',
        'legacy_day',
        'count',
        'big_id',
        'maybe',
        'price',
        'seen_at',
      ].map(nulled),
    );
    expect(metas[3]!.changes).toEqual([]);
    expect(metas[4]!.changes).toEqual([
      { field: 'id', change: 'NULLED', reason: 'DESTINATION_FIELD_SIZE_LIMITATION' },
      { field: 'big_id', change: 'NULLED', reason: 'DESTINATION_FIELD_SIZE_LIMITATION' },
    ]);
  });

  it('stays readable by parquetjs-lite itself (the TIMESTAMP logical type does not confuse it)', async () => {
    const reader = await parquet.ParquetReader.openFile(glob.replace('*', 'part-00001'));
    try {
      expect(Number(reader.getRowCount())).toBe(records.length); // an Int64 object at runtime
      const first = await reader.getCursor().next();
      expect((first!.created_at as Date).toISOString()).toBe('2026-01-01T00:00:00.123Z');
      expect(first!.big_id).toBe(9223372036854775807n);
    } finally {
      await reader.close();
    }
  });
});

describe('Parquet options', () => {
  const schema = streamArrowSchema({ properties: { n: { type: 'integer' }, text: { type: 'string' } } });
  const row = (i: number): Data => ({
    n: i,
    text: `row ${i} `.repeat(20),
    _airbyte_raw_id: `r${String(i).padStart(3, '0')}`,
    _airbyte_extracted_at: 0n,
    _claude_custom_id: `c${i}`,
    _claude_status: 'succeeded',
  });
  async function writeFile(name: string, options: ParquetOptions, rows: number): Promise<string> {
    const file = await AtomicParquetFile.create(join(dir, name), schema, options);
    for (let i = 0; i < rows; i++) await file.append(row(i));
    await file.commit();
    return join(dir, name);
  }

  it('maps and validates the config fields', () => {
    expect(parquetOptionsFrom({})).toEqual({ compression: 'SNAPPY', rowGroupSize: 10_000 });
    expect(
      parquetOptionsFrom({ compression: 'gzip', row_group_size: 500, max_rows_per_file: 1000, max_file_size_mb: 0.5 }),
    ).toEqual({
      compression: 'GZIP',
      rowGroupSize: 500,
      maxRowsPerFile: 1000,
      maxBytesPerFile: 524_288,
    });
    expect(parquetOptionsFrom({ compression: null, row_group_size: null } as never)).toEqual(DEFAULT_PARQUET_OPTIONS);
    expect(parquetOptionsFrom({ compression: 'zstd' }).compression).toBe('ZSTD');
    expect(() => parquetOptionsFrom({ compression: 'LZ4' })).toThrow(
      /^compression must be one of SNAPPY, ZSTD, GZIP, UNCOMPRESSED, got "LZ4"/,
    );
    expect(() => parquetOptionsFrom({ compression: 3 })).toThrow(/compression/);
    for (const bad of [0, -1, 1.5, 2_000_000, '100']) {
      expect(() => parquetOptionsFrom({ row_group_size: bad }), String(bad)).toThrow(
        /^row_group_size must be an integer from 1 to 1000000/,
      );
    }
    expect(() => parquetOptionsFrom({ max_rows_per_file: 0 })).toThrow(/^max_rows_per_file/);
    expect(() => parquetOptionsFrom({ max_file_size_mb: -1 })).toThrow(/^max_file_size_mb/);
  });

  it.each(['SNAPPY', 'ZSTD', 'GZIP', 'UNCOMPRESSED'] as const)('writes %s column chunks', async (compression) => {
    const path = await writeFile(`codec-${compression}.parquet`, { ...DEFAULT_PARQUET_OPTIONS, compression }, 20);
    const codecs = await duck(`SELECT DISTINCT compression FROM parquet_metadata('${path}')`);
    expect(codecs).toEqual([{ compression }]);
    expect(await duck(`SELECT count(*)::INTEGER n, sum(n)::INTEGER s FROM read_parquet('${path}')`)).toEqual([
      { n: 20, s: 190 },
    ]);
  });

  it('cuts row groups at row_group_size rows', async () => {
    const path = await writeFile('groups.parquet', { ...DEFAULT_PARQUET_OPTIONS, rowGroupSize: 10 }, 25);
    const groups = await duck(
      `SELECT DISTINCT row_group_id::INTEGER id, row_group_num_rows::INTEGER num_rows FROM parquet_metadata('${path}') ORDER BY id`,
    );
    expect(groups).toEqual([
      { id: 0, num_rows: 10 },
      { id: 1, num_rows: 10 },
      { id: 2, num_rows: 5 },
    ]);
  });
});

describe('RollingParquetWriter', () => {
  const schema = streamArrowSchema({ properties: { n: { type: 'integer' }, text: { type: 'string' } } });
  const row = (i: number): Data => ({
    n: i,
    text: 'x'.repeat(88),
    _airbyte_raw_id: `r${i}`,
    _airbyte_extracted_at: 0n,
    _claude_custom_id: `c${i}`,
    _claude_status: 's',
  });

  async function fresh(name: string): Promise<string> {
    const out = join(dir, name);
    await mkdir(out, { recursive: true });
    return out;
  }

  it('names rolled files part-<n>-<k>.parquet', () => {
    expect(rolledPath('/d/part-00007.parquet', 0)).toBe('/d/part-00007.parquet');
    expect(rolledPath('/d/part-00007.parquet', 2)).toBe('/d/part-00007-2.parquet');
  });

  it('rolls on max rows, and shows nothing before commit', async () => {
    const out = await fresh('roll-rows');
    const writer = await RollingParquetWriter.create(join(out, 'part-00001.parquet'), schema, {
      ...DEFAULT_PARQUET_OPTIONS,
      rowGroupSize: 3,
      maxRowsPerFile: 4,
    });
    for (let i = 0; i < 10; i++) await writer.append(row(i));
    expect(writer.rows).toBe(10);
    expect((await readdir(out)).filter((f) => f.endsWith('.parquet'))).toEqual([]);
    const paths = await writer.commit();
    expect(paths.map((p) => p.slice(out.length + 1))).toEqual([
      'part-00001.parquet',
      'part-00001-1.parquet',
      'part-00001-2.parquet',
    ]);
    expect((await readdir(out)).sort()).toEqual(['part-00001-1.parquet', 'part-00001-2.parquet', 'part-00001.parquet']);
    const perFile = await duck(
      `SELECT parse_filename(filename) f, count(*)::INTEGER n, min(n)::INTEGER lo FROM read_parquet('${out}/*.parquet', filename = true) GROUP BY ALL ORDER BY lo`,
    );
    expect(perFile).toEqual([
      { f: 'part-00001.parquet', n: 4, lo: 0 },
      { f: 'part-00001-1.parquet', n: 4, lo: 4 },
      { f: 'part-00001-2.parquet', n: 2, lo: 8 },
    ]);
  });

  it('rolls on max bytes (uncompressed row size)', async () => {
    const out = await fresh('roll-bytes');
    // each row: 8 (n) + 4+88 (text) + 4+2 (raw id) + 8 (extracted) + 4+2 (custom id) + 4+1 (status) = 125 bytes
    const writer = await RollingParquetWriter.create(join(out, 'part-00002.parquet'), schema, {
      ...DEFAULT_PARQUET_OPTIONS,
      maxBytesPerFile: 300,
    });
    for (let i = 0; i < 5; i++) await writer.append(row(i));
    expect((await writer.commit()).length).toBe(3);
    const counts = await duck(
      `SELECT count(*)::INTEGER n FROM read_parquet('${out}/*.parquet', filename = true) GROUP BY filename ORDER BY n DESC`,
    );
    expect(counts).toEqual([{ n: 2 }, { n: 2 }, { n: 1 }]);
  });

  it('leaves nothing behind on abort', async () => {
    const out = await fresh('roll-abort');
    const writer = await RollingParquetWriter.create(join(out, 'part-00003.parquet'), schema, {
      ...DEFAULT_PARQUET_OPTIONS,
      maxRowsPerFile: 2,
    });
    for (let i = 0; i < 5; i++) await writer.append(row(i));
    await writer.abort();
    expect(await readdir(out)).toEqual([]);
  });

  it('refuses a row the Parquet schema cannot take with an Error, not a thrown string', async () => {
    const out = await fresh('roll-bad');
    const writer = await RollingParquetWriter.create(join(out, 'part-00004.parquet'), schema, DEFAULT_PARQUET_OPTIONS);
    expect(() => writer.append({ n: 1 })).toThrow(/required column _airbyte_raw_id has no value/);
    expect(() => writer.append({ ...row(2), n: 'two' })).toThrow(/column n \(integer\) cannot hold a string/);
    await writer.append(row(1));
    await writer.commit();
    expect(await duck(`SELECT count(*)::INTEGER n FROM '${out}/*.parquet'`)).toEqual([{ n: 1 }]);
  });
});
