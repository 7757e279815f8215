// Guards the README's bad-input table: every kind of bad stdin line, record and size gets its documented
// outcome through the CLI — a TRACE naming the line, or a skipped/recorded row while the run goes on —
// and nothing already written is lost.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { emulatorConfig, ofType, runCli, tempDir, traceErrors, writeJson } from '../helpers/cli.js';
import { duck } from '../helpers/duckdb.js';
import { catalogFor, recordLine, stateLine } from '../helpers/records.js';

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator({ apiKeys: ['test-key'] });
});
afterAll(() => emu.close());

function setup(extra: Record<string, unknown> = {}) {
  const dir = tempDir('claude-batch-bad-');
  const destination = join(dir, 'out');
  const config = writeJson(dir, 'config.json', emulatorConfig(emu.url, destination, extra));
  const catalog = writeJson(dir, 'catalog.json', catalogFor(['notes']));
  return {
    destination,
    run: (stdin: string | Buffer) =>
      runCli(['write', '--config', config, '--catalog', catalog], { stdin: stdin as string }),
  };
}

const rec = (id: string, body: unknown = `text of ${id}`) => recordLine('notes', { id, body });
const rows = (destination: string) =>
  duck(
    `SELECT id, _claude_status AS s, _claude_error_type AS t, _claude_error AS e, _claude_input_truncated AS tr FROM read_parquet('${destination}/**/*.parquet') ORDER BY id`,
  );

const BAD_LINES: Array<[string, string, RegExp]> = [
  ['not_json', '{"type": "RECORD", oops', /not valid JSON/],
  ['not_object', '[1, 2, 3]', /expected a JSON object/],
  ['no_type', '{"record": {}}', /no "type"/],
  ['unknown_type', '{"type": "GOSSIP"}', /not an Airbyte message type/],
  ['record_without_data', '{"type": "RECORD", "record": {"stream": "notes", "emitted_at": 1}}', /data/],
  ['record_data_not_object', '{"type": "RECORD", "record": {"stream": "notes", "data": [1], "emitted_at": 1}}', /data/],
];

describe('bad stdin lines', () => {
  it.each(BAD_LINES)('%s fails the run with a config_error naming line 2, by default', async (_kind, line, message) => {
    const { run } = setup();
    const result = await run([rec('a'), line, rec('b')].join('\n'));
    expect(result.code).not.toBe(0);
    const [trace] = traceErrors(result.messages);
    expect(trace!.trace.error.failure_type).toBe('config_error');
    expect(trace!.trace.error.message).toMatch(/^stdin line 2: /);
    expect(trace!.trace.error.message).toMatch(message);
  });

  it('skips up to max_bad_records bad lines, lists them in rejected.jsonl, and fails on one more', async () => {
    const lines = [rec('a'), ...BAD_LINES.map(([, l]) => l), rec('b'), stateLine('notes', 'b', 2)];
    const ok = setup({ max_bad_records: BAD_LINES.length });
    const result = await ok.run(lines.join('\n'));
    expect(result.code, result.stderr).toBe(0);
    expect((await rows(ok.destination)).map((r) => r.id)).toEqual(['a', 'b']);
    expect(ofType(result.messages, 'STATE').some((m) => m.state.stream.stream_descriptor.name === 'notes')).toBe(true);
    const runs = join(ok.destination, '_claude_batch', 'runs');
    const runDir = (await import('node:fs')).readdirSync(runs)[0]!;
    const rejected = readFileSync(join(runs, runDir, 'rejected.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rejected.map((r) => r.kind)).toEqual(BAD_LINES.map(([k]) => k));
    expect(rejected.map((r) => r.line)).toEqual([2, 3, 4, 5, 6, 7]);

    const tooMany = setup({ max_bad_records: BAD_LINES.length - 1 });
    const failed = await tooMany.run(lines.join('\n'));
    expect(failed.code).not.toBe(0);
    expect(traceErrors(failed.messages)[0]!.trace.error.message).toMatch(
      /^stdin line 7: .*more than max_bad_records = 5/,
    );
  });

  it('invalid UTF-8 and NUL bytes are bad lines with their line number; CRLF line ends are fine', async () => {
    const { run } = setup({ max_bad_records: 0 });
    const invalid = Buffer.concat([
      Buffer.from(rec('a') + '\r\n'),
      Buffer.from('{"type":"RECORD","record":{"stream":"notes","data":{"id":"x","body":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"},"emitted_at":1}}\r\n'),
    ]);
    const r1 = await run(invalid);
    expect(traceErrors(r1.messages)[0]!.trace.error.message).toMatch(/^stdin line 2: .*UTF-8/);
    const r2 = await run(rec('a') + '\n' + rec('with\u0000nul').replace('\\u0000', '\u0000') + '\n');
    expect(traceErrors(r2.messages)[0]!.trace.error.message).toMatch(/^stdin line 2: .*NUL/);
    const crlf = setup();
    const r3 = await crlf.run([rec('a'), rec('b')].join('\r\n') + '\r\n');
    expect(r3.code, r3.stderr).toBe(0);
    expect((await rows(crlf.destination)).map((r) => r.id)).toEqual(['a', 'b']);
  });

  it('input that ends mid-line fails naming the last line; a complete last line without newline is fine', async () => {
    const { run } = setup();
    const cut = await run(rec('a') + '\n' + rec('b').slice(0, 30));
    expect(traceErrors(cut.messages)[0]!.trace.error.message).toMatch(/^stdin line 2: .*ends in the middle/);
    const whole = setup();
    const fine = await whole.run(rec('a') + '\n' + rec('b'));
    expect(fine.code).toBe(0);
    expect(await rows(whole.destination)).toHaveLength(2);
  });

  it('an empty input is a clean run with zero rows, and STATE still echoed', async () => {
    const { run } = setup();
    const empty = await run('');
    expect(empty.code, empty.stderr).toBe(0);
    expect(traceErrors(empty.messages)).toEqual([]);
    const stateOnly = await run(stateLine('notes', 'x', 0) + '\n');
    expect(
      ofType(stateOnly.messages, 'STATE').filter((m) => m.state.stream.stream_descriptor.name === 'notes'),
    ).toHaveLength(1);
  });
});

describe('bad records', () => {
  it('a record lacking a template field: fail, skip (a recorded row), or render empty, as configured', async () => {
    const input = [rec('a'), recordLine('notes', { id: 'nobody' }), rec('c')].join('\n');
    const failing = setup({ missing_field_policy: 'fail' });
    const failed = await failing.run(input);
    expect(traceErrors(failed.messages)[0]!.trace.error.message).toMatch(/^stdin line 2: the record lacks "body"/);

    const skipping = setup({ missing_field_policy: 'skip' });
    expect((await skipping.run(input)).code).toBe(0);
    const skipped = await rows(skipping.destination);
    expect(skipped.map((r) => [r.id, r.s, r.t])).toEqual([
      ['a', 'succeeded', null],
      ['c', 'succeeded', null],
      ['nobody', 'skipped', 'missing_field'],
    ]);

    const rendering = setup({ missing_field_policy: 'render_empty' });
    expect((await rendering.run(input)).code).toBe(0);
    expect((await rows(rendering.destination)).every((r) => r.s === 'succeeded')).toBe(true);
  });

  it('a record far over the size limit is truncated to fit (and says so) or recorded as too large — never a 413', async () => {
    const huge = 'lorem ipsum '.repeat(40_000); // ~480 KB of prompt
    const input = [rec('a'), rec('big', huge), rec('c')].join('\n');
    const creates = emu.calls.create;
    const truncating = setup({ max_batch_bytes: 100_000 });
    const t = await truncating.run(input);
    expect(t.code, t.stderr).toBe(0);
    const tr = await rows(truncating.destination);
    expect(tr.map((r) => [r.id, r.s, r.tr])).toEqual([
      ['a', 'succeeded', false],
      ['big', 'succeeded', true],
      ['c', 'succeeded', false],
    ]);

    const skipping = setup({ max_batch_bytes: 100_000, oversize_policy: 'skip' });
    expect((await skipping.run(input)).code).toBe(0);
    const sk = await rows(skipping.destination);
    expect(sk.find((r) => r.id === 'big')).toMatchObject({ s: 'skipped', t: 'too_large' });
    expect(emu.calls.create - creates).toBeGreaterThanOrEqual(2);
  });

  it('a line of tens of megabytes is read without trouble (and its request truncated to the batch limit)', async () => {
    const { destination, run } = setup();
    const big = 'x'.repeat(30 * 1024 * 1024);
    const result = await run([rec('a'), rec('huge', big), rec('c')].join('\n') + '\n');
    expect(result.code, result.stderr.slice(0, 2000)).toBe(0);
    const r = await rows(destination);
    expect(r.map((x) => x.id)).toEqual(['a', 'c', 'huge']);
    // Cut to the model's context window less max_tokens (no max_input_tokens set): answered, marked truncated.
    expect(r.find((x) => x.id === 'huge')).toMatchObject({ s: 'succeeded', tr: true });
  });

  it('a ~3 MB record under default settings is cut to the context window and succeeds (not "prompt is too long")', async () => {
    const { destination, run } = setup();
    const prose = 'The quarterly report covers revenue, costs and the outlook for next year. '.repeat(42_000); // ~3.1 MB
    const result = await run([rec('a'), rec('big', prose), rec('c')].join('\n') + '\n');
    expect(result.code, result.stderr.slice(0, 2000)).toBe(0);
    const r = await rows(destination);
    expect(r.map((x) => [x.id, x.s, x.tr])).toEqual([
      ['a', 'succeeded', false],
      ['big', 'succeeded', true],
      ['c', 'succeeded', false],
    ]);
  });
});
