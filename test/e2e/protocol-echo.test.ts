// Guards what the connector hands back on stdout, as the built CLI prints it: each source STATE once, in
// order, byte for byte with only destinationStats added (never merged, numbers never re-serialised); in
// transform mode the source's own ERROR and STREAM_STATUS traces passed on in order; usage errors ending in
// a TRACE. Every run here is also checked against airbyte_protocol.yaml by runCli.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { CLI, emulatorConfig, runCli, tempDir, traceErrors, writeJson } from '../helpers/cli.js';
import { duck } from '../helpers/duckdb.js';
import { catalogFor, recordLine } from '../helpers/records.js';

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator({ apiKeys: ['test-key'] });
});
afterAll(() => emu.close());

function setup(extra: Record<string, unknown> = {}, streams = ['notes', 'tasks']) {
  const dir = tempDir();
  const destination = join(dir, 'out');
  const config = writeJson(
    dir,
    'config.json',
    emulatorConfig(emu.url, destination, { max_requests_per_batch: 2, emit_run_state: false, ...extra }),
  );
  const catalog = writeJson(dir, 'catalog.json', catalogFor(streams));
  return { destination, args: ['write', '--config', config, '--catalog', catalog] };
}

const record = (stream: string, i: number) =>
  recordLine(stream, { id: `${stream}-${i}`, title: 't', body: `body ${stream} ${i}` });

/** The `state` text of a STATE line as written (a state line built by hand, so its text is known). */
const stateOf = (line: string) => line.slice('{"type":"STATE","state":'.length, -1);

/** What the destination must print for a source STATE line: its state text, destinationStats added. */
const echoOf = (line: string, records: number) =>
  `{"type":"STATE","state":${stateOf(line).slice(0, -1)},"destinationStats":{"recordCount":${records}.0}}}`;

const stdoutLines = (stdout: string) => stdout.split('\n').filter((l) => l.trim());

describe('STATE echo', () => {
  it("echoes the issue's state exactly, and every state once, in order, with its own counts", async () => {
    const { args } = setup();
    // The example: numbers a double cannot hold, 1e400, 1.0, and the platform's id and sourceStats.
    const big =
      '{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"notes"},"stream_state":{"cursor":12345678901234567890,"lsn":9007199254740993,"ratio":0.1000000000000000055511151231257827,"f":1.0,"e":1e400}},"sourceStats":{"recordCount":3.0},"id":1}}';
    const second =
      '{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"notes"},"stream_state":{"cursor":12345678901234567891}},"sourceStats":{"recordCount":1.0},"id":2}}';
    const third =
      '{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"notes"},"stream_state":{"cursor":12345678901234567891}},"sourceStats":{"recordCount":0.0},"id":3}}';
    const tasks =
      '{"type":"STATE","state":{"type":"STREAM", "stream":{ "stream_descriptor":{"name":"tasks"},"stream_state":{"page":"\\u00e9t\\u00e9","n":-0.0} },"sourceStats":{"recordCount":2.0},"id":4}}';
    const input = [
      record('notes', 0),
      record('tasks', 0),
      record('notes', 1),
      record('notes', 2),
      big,
      record('tasks', 1),
      record('notes', 3),
      second,
      third,
      tasks,
    ];
    const result = await runCli(args, { stdin: input.join('\n') + '\n' });
    expect(result.code, result.stderr).toBe(0);
    expect(traceErrors(result.messages)).toEqual([]);
    const states = stdoutLines(result.stdout).filter((l) => l.startsWith('{"type":"STATE"'));
    // Three consecutive states of one stream are three echoes (never merged), the third with no records.
    expect(states).toEqual([echoOf(big, 3), echoOf(second, 1), echoOf(third, 0), echoOf(tasks, 2)]);
    expect(states[0]).toContain(
      '"stream_state":{"cursor":12345678901234567890,"lsn":9007199254740993,"ratio":0.1000000000000000055511151231257827,"f":1.0,"e":1e400}',
    );
  });

  it('echoes LEGACY and GLOBAL states as they came, counting every stream', async () => {
    const { args } = setup();
    const legacy =
      '{"type":"STATE","state":{"data":{"events":{"faros-ai/airbyte-connectors":{"created_at":"2021-08-26T22:22:23Z","n":1.50}}}}}';
    const global =
      '{"type":"STATE","state":{"type":"GLOBAL","global":{"shared_state":{"lsn":18446744073709551615},"stream_states":[{"stream_descriptor":{"name":"notes"},"stream_state":{"c":1e-400}}]},"sourceStats":{"recordCount":1.0}}}';
    const input = [record('notes', 0), record('tasks', 0), legacy, record('notes', 1), global];
    const result = await runCli(args, { stdin: input.join('\n') + '\n' });
    expect(result.code, result.stderr).toBe(0);
    expect(stdoutLines(result.stdout).filter((l) => l.startsWith('{"type":"STATE"'))).toEqual([
      echoOf(legacy, 2),
      echoOf(global, 1),
    ]);
  });
});

describe('transform mode passes the source traces on', () => {
  const status = (name: string, s: string) =>
    JSON.stringify({
      type: 'TRACE',
      trace: {
        type: 'STREAM_STATUS',
        emitted_at: 1764000000001,
        stream_status: { stream_descriptor: { name }, status: s },
      },
    });
  const error =
    '{"type":"TRACE","trace":{"type":"ERROR","emitted_at":1764000000002.0,"error":{"message":"source: connection reset","failure_type":"transient_error"}}}';
  const state = (cursor: number) =>
    JSON.stringify({
      type: 'STATE',
      state: { type: 'STREAM', stream: { stream_descriptor: { name: 'notes' }, stream_state: { cursor } } },
    });
  const input = [
    status('notes', 'STARTED'),
    record('notes', 0),
    record('notes', 1),
    record('notes', 2),
    state(3),
    status('notes', 'INCOMPLETE'),
    error,
    record('notes', 3),
    state(4),
  ];

  it('records and both: ERROR and STREAM_STATUS go downstream as they came, in order with the records and states', async () => {
    for (const sink of ['records', 'both']) {
      const { args } = setup({ sink }, ['notes']);
      const result = await runCli(args, { stdin: input.join('\n') + '\n' });
      expect(result.code, result.stderr).toBe(0);
      const lines = stdoutLines(result.stdout);
      const shape = lines.map((l) => {
        if (input.includes(l)) return `in:${input.indexOf(l)}`;
        const m = JSON.parse(l);
        return m.type === 'STATE'
          ? `S${m.state.stream.stream_state.cursor}`
          : m.type === 'RECORD'
            ? `R${m.record.data.id.slice(-1)}`
            : m.type;
      });
      // Traces and states exactly in input order; each after every record before it in the input.
      expect(
        shape.filter((s) => !s.startsWith('R')),
        sink,
      ).toEqual(['in:0', 'S3', 'in:5', 'in:6', 'S4']);
      expect(shape.filter((s) => s.startsWith('R')).sort(), sink).toEqual(['R0', 'R1', 'R2', 'R3']);
      for (const r of ['R0', 'R1', 'R2']) expect(shape.indexOf(r), sink).toBeLessThan(shape.indexOf('S3'));
      expect(shape.indexOf('R3'), sink).toBeLessThan(shape.indexOf('S4'));
      expect(shape.at(-1), sink).toBe('S4');
      // Our own STREAM_STATUS traces stay on stderr in transform mode.
      expect(result.stderr).toMatch(/"STREAM_STATUS"/);
    }
  });

  it('parquet: the source traces are not echoed (the platform has them from the source)', async () => {
    const { destination, args } = setup({}, ['notes']);
    const result = await runCli(args, { stdin: input.join('\n') + '\n' });
    expect(result.code, result.stderr).toBe(0);
    for (const line of [input[0], input[5], input[6]]) expect(result.stdout).not.toContain(line);
    expect(await duck(`SELECT count(*)::INT AS n FROM read_parquet('${destination}/**/*.parquet')`)).toEqual([
      { n: 4 },
    ]);
  });
});

describe('usage errors', () => {
  it.each([
    [['write'], /required option '--config <file>' not specified/],
    [['bogus'], /unknown command 'bogus'/],
    [['check', '--config', 'x.json', '--nope'], /unknown option '--nope'/],
    [['write', '--config'], /option '--config <file>' argument missing/],
    [[], /no command given/],
  ])('%j ends with a config_error TRACE on stdout, the usage on stderr, and a non-zero exit', async (args, why) => {
    const result = await runCli(args);
    expect(result.code).not.toBe(0);
    const [trace, ...more] = traceErrors(result.messages);
    expect(more).toEqual([]);
    expect(trace!.trace.error.failure_type).toBe('config_error');
    expect(trace!.trace.error.message).toMatch(why);
    expect(result.stderr).toMatch(/Usage: destination-claude-batch/);
  });

  it('--help is not an error', () => {
    const help = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: destination-claude-batch/);
    expect(help.stdout).not.toContain('"TRACE"');
  });
});
