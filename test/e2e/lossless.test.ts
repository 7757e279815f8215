// Guards, end to end through the built CLI and read back by DuckDB, that nothing a source sent changes or goes
// missing: numbers keep their text (Parquet columns, _airbyte_data, prompts, transform RECORDs), properties
// without a column of their own land in _airbyte_additional_properties, a protocol v1 catalog (WellKnownTypes
// references) is typed like its v0 equivalent, and streams of 10,000+ properties go through.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { emulatorConfig, ofType, runCli, tempDir, writeJson } from '../helpers/cli.js';
import { columnTypes, duck } from '../helpers/duckdb.js';
import { catalogFor } from '../helpers/records.js';

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator({ apiKeys: ['test-key'] });
});
afterAll(() => emu.close());

const wk = (name: string, slash = true) => ({ $ref: `WellKnownTypes.json#${slash ? '/' : ''}definitions/${name}` });

/** A protocol v1 stream schema: every column a WellKnownTypes reference, as Airbyte's own v1 test catalogs have it. */
const v1Schema = {
  type: 'object',
  properties: {
    id: wk('Integer'),
    amount: wk('Number'),
    name: wk('String', false),
    blob: wk('BinaryData'),
    day: wk('Date'),
    at: wk('TimestampWithTimezone'),
    local_at: wk('TimestampWithoutTimezone', false),
    wake: wk('TimeWithTimezone'),
    alarm: wk('TimeWithoutTimezone'),
    ok: wk('Boolean'),
    big: { type: 'string', airbyte_type: 'big_integer' },
    nested: { type: 'object' },
    run_id: { type: 'string' },
    _airbyte_meta: { type: 'string' },
  },
};

/** A RECORD line written by hand, so its numbers are spelled exactly as a source may spell them. */
const line = (stream: string, dataText: string) =>
  `{"type":"RECORD","record":{"stream":"${stream}","data":${dataText},"emitted_at":1764000000000}}`;

const typedText =
  '{"id": -9223372036854775808, "amount": 0.1000000000000000055511151231257827, "name": "Zoë", "blob": "AAE=", "day": "2026-02-28",' +
  ' "at": "2026-03-01T10:00:00+02:00", "local_at": "2026-03-01T10:00:00", "wake": "07:30:00+02:00", "alarm": "06:00:00", "ok": true,' +
  ' "big": 123456789012345678901234567890, "nested": {"n": 12345678901234567890, "e": 1e400, "d": 10000000000000000000000.1234},' +
  ' "run_id": "the source\'s own", "_airbyte_meta": "source meta", "": "empty key", "not declared": 1.0, "_claude_status": "mine"}';
const typedText2 = '{"id": 9007199254740993, "amount": 1e400, "big": "7", "day": "Bad Date"}';
const freeText =
  '{"n": 12345678901234567890, "e": 1e400, "d": 10000000000000000000000.1234,  "f": 1.0, "o": {"k": [1E2]}}';

describe('lossless records, end to end', () => {
  it('writes every value exactly or lists it, and keeps every property', async () => {
    const dir = tempDir('claude-batch-lossless-');
    const destination = join(dir, 'out');
    const config = writeJson(
      dir,
      'config.json',
      emulatorConfig(emu.url, destination, {
        prompt_template: 'Look at {{ nested.n }} {{ "not declared" }} {{ n }} {{ d }}',
        sink: 'both',
      }),
    );
    const catalog = catalogFor(['typed'], v1Schema);
    catalog.streams.push(...catalogFor(['free'], { type: 'object', additionalProperties: true }).streams);
    const catalogPath = writeJson(dir, 'catalog.json', catalog);
    const r = await runCli(['write', '--config', config, '--catalog', catalogPath], {
      stdin: [line('typed', typedText), line('typed', typedText2), line('free', freeText)].join('\n') + '\n',
    });
    expect(r.code, r.stderr).toBe(0);

    const typedGlob = `${destination}/default/typed/**/*.parquet`;
    expect(await columnTypes(typedGlob)).toMatchObject({
      id: 'BIGINT',
      amount: 'DOUBLE',
      name: 'VARCHAR',
      blob: 'VARCHAR',
      day: 'DATE',
      at: 'TIMESTAMP WITH TIME ZONE',
      local_at: 'TIMESTAMP WITH TIME ZONE',
      wake: 'VARCHAR',
      alarm: 'VARCHAR',
      ok: 'BOOLEAN',
      big: 'VARCHAR',
      nested: 'VARCHAR',
      _airbyte_additional_properties: 'VARCHAR',
      _airbyte_meta: 'VARCHAR',
      run_id: 'VARCHAR',
    });
    const rows = await duck(`SET TimeZone = 'UTC';
      SELECT id::VARCHAR id, amount, name, blob, "day"::VARCHAR "day", "at"::VARCHAR "at", local_at::VARCHAR local_at, wake, alarm, ok, big, nested,
        _airbyte_additional_properties extra, _airbyte_meta meta, _claude_status, _claude_output, run_id
      FROM read_parquet('${typedGlob}', hive_partitioning = true) ORDER BY big DESC`);
    expect(rows[0]).toMatchObject({
      id: '9007199254740993',
      amount: null,
      big: '7',
      day: null,
      extra: '{"amount":1e400,"day":"Bad Date"}',
    });
    expect(JSON.parse(String(rows[0]!.meta)).changes).toEqual([
      { field: 'amount', change: 'NULLED', reason: 'DESTINATION_FIELD_SIZE_LIMITATION' },
      { field: 'day', change: 'NULLED', reason: 'DESTINATION_SERIALIZATION_ERROR' },
    ]);
    expect(rows[1]).toMatchObject({
      id: '-9223372036854775808',
      amount: 0.1,
      name: 'Zoë',
      blob: 'AAE=',
      day: '2026-02-28',
      at: '2026-03-01 08:00:00+00',
      local_at: '2026-03-01 10:00:00+00',
      wake: '07:30:00+02:00',
      alarm: '06:00:00',
      ok: true,
      big: '123456789012345678901234567890',
      nested: '{"n": 12345678901234567890, "e": 1e400, "d": 10000000000000000000000.1234}',
      extra:
        '{"amount":0.1000000000000000055511151231257827,"run_id":"the source\'s own","_airbyte_meta":"source meta","":"empty key","not declared":1.0,"_claude_status":"mine"}',
      _claude_status: 'succeeded',
    });
    // The partition's run_id, not the source's, which is kept in the additional properties.
    expect(String(rows[1]!.run_id)).toMatch(/^\d{8}T\d{6}Z-/);
    expect(JSON.parse(String(rows[1]!.meta)).changes).toEqual([
      { field: 'amount', change: 'TRUNCATED', reason: 'DESTINATION_FIELD_SIZE_LIMITATION' },
    ]);
    // The prompt had the numbers as written (the emulator's summary repeats the prompt's first words).
    expect(rows[1]!._claude_output).toContain('Look at 12345678901234567890 1.0');

    const free = await duck(
      `SELECT _airbyte_data, _claude_output FROM read_parquet('${destination}/default/free/**/*.parquet')`,
    );
    expect(free).toEqual([
      {
        _airbyte_data: freeText,
        _claude_output: expect.stringContaining('Look at 12345678901234567890 10000000000000000000000.1234'),
      },
    ]);

    // Transform mode: the source's text passed on, the enrichment appended; a source field named like an added
    // one moves into _airbyte_additional_properties rather than being overwritten.
    const records = r.stdout.split('\n').filter((l) => l.startsWith('{"type":"RECORD"'));
    expect(records).toHaveLength(3);
    expect(records[2]).toContain(`"data":${freeText.slice(0, -1)},"_claude_custom_id":`);
    expect(records[1]).toContain(`"data":${typedText2.slice(0, -1)},"_claude_custom_id":`);
    expect(records[0]).toContain('"not declared":1.0,');
    expect(records[0]).toContain('"nested":{"n": 12345678901234567890, "e": 1e400, "d": 10000000000000000000000.1234}');
    expect(records[0]).toMatch(
      /,"_airbyte_additional_properties":\{"_claude_status":"mine"\}\},"emitted_at":1764000000000\}\}$/,
    );
    expect(ofType(r.messages, 'RECORD')[0]!.record.data._claude_status).toBe('succeeded');
  });

  it('writes a stream of 10,000 properties and a record of 12,000 fields', async () => {
    const dir = tempDir('claude-batch-wide-');
    const destination = join(dir, 'out');
    const properties: Record<string, unknown> = {};
    for (let i = 0; i < 10_000; i++) properties[`f${i}`] = { type: i % 2 ? 'integer' : 'string' };
    const data: Record<string, unknown> = {};
    for (let i = 0; i < 12_000; i++) data[`f${i}`] = i % 2 ? i : `v${i}`;
    const config = writeJson(
      dir,
      'config.json',
      emulatorConfig(emu.url, destination, { prompt_template: 'Wide {{ f9998 }} {{ f11999 }}' }),
    );
    const catalog = writeJson(dir, 'catalog.json', catalogFor(['wide'], { type: 'object', properties }));
    const r = await runCli(['write', '--config', config, '--catalog', catalog], {
      stdin: line('wide', JSON.stringify(data)) + '\n',
    });
    expect(r.code, r.stderr).toBe(0);
    const rows = await duck(`SELECT f9998, f9999::VARCHAR f9999, _airbyte_additional_properties extra, _claude_output
      FROM read_parquet('${destination}/**/*.parquet')`);
    expect(rows[0]).toMatchObject({
      f9998: 'v9998',
      f9999: '9999',
      _claude_output: expect.stringContaining('Wide v9998 11999'),
    });
    expect(Object.keys(JSON.parse(String(rows[0]!.extra)) as object)).toHaveLength(2_000);
  }, 60_000);
});
