// Guards the main path as a platform runs it: the built CLI reads protocol messages on stdin, submits
// batches to the Batches API (the emulator, through the real SDK), and writes one Parquet row per record,
// joined to the right result, with STATE echoed only after its records are in committed files.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { RECOMMENDED_HEAP_MB } from '../../connector/common/heap.js';
import { emulatorConfig, ofType, runCli, tempDir, traceErrors, writeJson } from '../helpers/cli.js';
import { columnTypes, duck } from '../helpers/duckdb.js';
import { catalogFor, docs, recordLine, stateLine } from '../helpers/records.js';

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator({ apiKeys: ['test-key'] });
});
afterAll(() => emu.close());

function setup(extra: Record<string, unknown> = {}, streams = ['notes']) {
  const dir = tempDir();
  const destination = join(dir, 'out');
  const config = writeJson(
    dir,
    'config.json',
    emulatorConfig(emu.url, destination, { max_requests_per_batch: 10, ...extra }),
  );
  const catalog = writeJson(dir, 'catalog.json', catalogFor(streams));
  return { dir, destination, args: ['write', '--config', config, '--catalog', catalog] };
}

const glob = (destination: string) => `${destination}/**/*.parquet`;

describe('write, end to end', () => {
  // A heap capped below 512 MB asks for memory over speed: Parquet is then written inline, not on the output
  // thread. The Docker image's limit (RECOMMENDED_HEAP_MB) keeps the thread.
  it.each([
    ['on the output thread', {}, 'on its own thread'],
    [
      "on the output thread under the image's heap limit",
      { NODE_OPTIONS: `--max-old-space-size=${RECOMMENDED_HEAP_MB}` },
      'on its own thread',
    ],
    ['inline when the heap is capped', { NODE_OPTIONS: '--max-old-space-size=256' }, 'inline'],
  ])(
    'writes one typed row per record, joined to its own result, with states after their rows (%s)',
    async (_mode, env, where) => {
      const { destination, args } = setup();
      const records = docs(25);
      const lines = [
        ...records.slice(0, 12).map((d) => recordLine('notes', { ...d })),
        stateLine('notes', 12, 12),
        ...records.slice(12).map((d) => recordLine('notes', { ...d })),
        stateLine('notes', 25, 13),
      ];
      const before = { ...emu.calls };
      const stateChecks: Array<{ parts: string[] }> = [];
      const result = await runCli(args, {
        stdin: lines.join('\n') + '\n',
        env,
        onMessage: (m) => {
          if (m.type === 'STATE' && m.state.stream.stream_descriptor.name === 'notes') {
            const dir = readdirSync(destination, { recursive: true }) as string[];
            stateChecks.push({ parts: dir.filter((p) => p.endsWith('.parquet')).sort() });
          }
        },
      });
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(traceErrors(result.messages)).toEqual([]);
      // The catalog's `format: date-time` is a schema keyword, not a reason for a warning on stderr.
      expect(result.stderr).not.toMatch(/unknown format/);
      expect(ofType(result.messages, 'LOG').map((m) => m.log.message)).toContainEqual(
        expect.stringContaining(`Parquet output is written ${where}`),
      );

      // 25 records, 10 per batch → 3 batches.
      expect(emu.calls.create - (before.create ?? 0)).toBe(3);

      // First state follows record 12 (batch 1), so parts 0 and 1 must already be committed; the second needs all three.
      expect(stateChecks).toHaveLength(2);
      expect(stateChecks[0]!.parts.filter((p) => /part-0000[01]\.parquet$/.test(p))).toHaveLength(2);
      expect(stateChecks[1]!.parts).toHaveLength(3);
      const states = ofType(result.messages, 'STATE').filter((m) => m.state.stream.stream_descriptor.name === 'notes');
      expect(states.map((s) => s.state.destinationStats.recordCount)).toEqual([12, 13]);

      const rows = await duck(
        `SELECT id, _claude_output, _claude_status, _claude_custom_id, _claude_batch_id, amount, run_id FROM read_parquet('${glob(destination)}', hive_partitioning = true) ORDER BY id`,
      );
      expect(rows).toHaveLength(25);
      for (const [i, row] of rows.entries()) {
        expect(row.id).toBe(records[i]!.id);
        expect(row._claude_status).toBe('succeeded');
        expect(String(row._claude_output)).toContain(records[i]!.id); // joined to its own result, not a neighbour's
        expect(String(row._claude_custom_id)).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
        expect(String(row._claude_batch_id)).toMatch(/^msgbatch_/);
        expect(row.amount).toBe(records[i]!.amount);
      }
      const types = await columnTypes(glob(destination));
      expect(types).toMatchObject({
        id: 'VARCHAR',
        amount: 'DOUBLE',
        received_at: expect.stringMatching(/^TIMESTAMP/),
        _airbyte_raw_id: 'VARCHAR',
        _airbyte_extracted_at: expect.stringMatching(/^TIMESTAMP/),
        _airbyte_generation_id: 'BIGINT',
        _claude_input_tokens: 'BIGINT',
        run_id: 'VARCHAR',
      });
    },
  );

  it('holds a STATE back while an earlier batch is still running, even when later batches finish first', async () => {
    // Batch #0 ends only when the emulator's clock is moved on, which the test does once #1 and #2 are written:
    // their files land first by construction, not by a delay that a loaded machine can overtake.
    const slow = await startEmulator({ apiKeys: ['test-key'], processingMs: (i) => (i === 0 ? 60_000 : 0) });
    try {
      const { destination, args } = setup({ base_url: slow.url });
      const records = docs(25);
      const lines = [
        ...records.slice(0, 5).map((d) => recordLine('notes', { ...d })),
        stateLine('notes', 5, 5),
        ...records.slice(5, 15).map((d) => recordLine('notes', { ...d })),
        stateLine('notes', 15, 10),
        ...records.slice(15).map((d) => recordLine('notes', { ...d })),
        stateLine('notes', 25, 10),
      ];
      const seenAtState: string[][] = [];
      const laterWritten = new Set<string>();
      const result = await runCli(args, {
        stdin: lines.join('\n') + '\n',
        onMessage: (m) => {
          const later = m.type === 'LOG' ? /batch #([12]) written: /.exec(String(m.log.message)) : null;
          if (later && laterWritten.add(later[1]!).size === 2) slow.advance(61_000);
          if (m.type === 'STATE' && m.state.stream.stream_descriptor.name === 'notes') {
            seenAtState.push(
              (readdirSync(destination, { recursive: true }) as string[]).filter((p) => p.endsWith('.parquet')).sort(),
            );
          }
        },
      });
      expect(result.code, result.stderr).toBe(0);
      const logs = ofType(result.messages, 'LOG').map((m) => String(m.log.message));
      const written = logs.filter((l) => / written: /.test(l)).map((l) => /batch #(\d+)/.exec(l)![1]);
      expect(written[written.length - 1]).toBe('0'); // the slow first batch really finished last
      const states = ofType(result.messages, 'STATE').filter((m) => m.state.stream.stream_descriptor.name === 'notes');
      expect(states.map((s) => s.state.stream.stream_state.cursor)).toEqual([5, 15, 25]);
      // Even the first state (5 records, all in batch #0) waited for part-00000.
      for (const parts of seenAtState) expect(parts.filter((p) => p.endsWith('part-00000.parquet'))).toHaveLength(1);
      expect(seenAtState.every((parts) => parts.length === 3)).toBe(true);
    } finally {
      await slow.close();
    }
  });

  it('gives the same custom_id to the same record in two runs, and a valid one', async () => {
    const first = setup();
    const second = setup();
    const stdin = docs(8)
      .map((d) => recordLine('notes', { ...d }))
      .join('\n');
    expect((await runCli(first.args, { stdin })).code).toBe(0);
    expect((await runCli(second.args, { stdin })).code).toBe(0);
    const q = (d: string) => duck(`SELECT id, _claude_custom_id AS c FROM read_parquet('${glob(d)}') ORDER BY id`);
    const [a, b] = [await q(first.destination), await q(second.destination)];
    expect(a).toHaveLength(8);
    expect(a).toEqual(b);
  });

  it('splits batches at the byte cap as well as the count cap', async () => {
    const { destination, args } = setup({ max_requests_per_batch: 1000, max_batch_bytes: 2048 });
    const before = emu.calls.create ?? 0;
    const stdin = docs(20)
      .map((d) => recordLine('notes', { ...d }))
      .join('\n');
    const result = await runCli(args, { stdin });
    expect(result.code, result.stdout).toBe(0);
    const batches = emu.calls.create - before;
    expect(batches).toBeGreaterThan(2);
    const rows = await duck(
      `SELECT count(*)::INT AS n, count(DISTINCT _claude_batch_id)::INT AS b FROM read_parquet('${glob(destination)}')`,
    );
    expect(rows[0]).toEqual({ n: 20, b: batches });
  });

  it('honours the Parquet settings (row groups, rolled files, codec) wherever the writing happens', async () => {
    for (const env of [{}, { CLAUDE_BATCH_OUTPUT_THREAD: '0' }]) {
      const { destination, args } = setup({
        max_requests_per_batch: 25,
        row_group_size: 4,
        max_rows_per_file: 10,
        compression: 'GZIP',
      });
      const result = await runCli(args, {
        stdin: docs(25)
          .map((d) => recordLine('notes', { ...d }))
          .join('\n'),
        env,
      });
      expect(result.code, result.stdout).toBe(0);
      const files = (readdirSync(destination, { recursive: true }) as string[])
        .filter((p) => p.endsWith('.parquet'))
        .map((p) => p.split('/').at(-1))
        .sort();
      expect(files).toEqual(['part-00000-1.parquet', 'part-00000-2.parquet', 'part-00000.parquet']);
      const meta = await duck(
        `SELECT file_name.split('/')[-1] AS f, count(DISTINCT row_group_id)::INT AS groups, max(row_group_num_rows)::INT AS biggest, string_agg(DISTINCT compression, ',') AS codecs
         FROM parquet_metadata('${glob(destination)}') GROUP BY ALL ORDER BY f`,
      );
      expect(meta).toEqual([
        { f: 'part-00000-1.parquet', groups: 3, biggest: 4, codecs: 'GZIP' },
        { f: 'part-00000-2.parquet', groups: 2, biggest: 4, codecs: 'GZIP' },
        { f: 'part-00000.parquet', groups: 3, biggest: 4, codecs: 'GZIP' },
      ]);
      expect(await duck(`SELECT count(DISTINCT id)::INT AS n FROM read_parquet('${glob(destination)}')`)).toEqual([
        { n: 25 },
      ]);
    }
  });

  it('sends identical requests once and fans the answer out to every record', async () => {
    const { destination, args } = setup();
    const same = { id: 'dup', title: 't', body: 'same text' };
    const before = emu.calls.create ?? 0;
    const result = await runCli(args, { stdin: [recordLine('notes', same), recordLine('notes', same)].join('\n') });
    expect(result.code).toBe(0);
    expect(emu.calls.create - before).toBe(1);
    const rows = await duck(
      `SELECT _claude_output, _airbyte_raw_id, _claude_batch_id FROM read_parquet('${glob(destination)}')`,
    );
    expect(rows).toHaveLength(2);
    expect(emu.requestsOf(String(rows[0]!._claude_batch_id))).toHaveLength(1);
    expect(rows[0]!._claude_output).toBe(rows[1]!._claude_output);
    expect(rows[0]!._airbyte_raw_id).not.toBe(rows[1]!._airbyte_raw_id);
  });

  it('sends its own run STATE only after a plain per-stream source STATE, never with platform ids or GLOBAL/LEGACY states', async () => {
    const records = docs(12, 'rs').map((d) => recordLine('notes', { ...d }));
    const withState = (state: Record<string, unknown>) => [
      ...records.slice(0, 6),
      JSON.stringify({ type: 'STATE', state }),
      ...records.slice(6),
      JSON.stringify({ type: 'STATE', state }),
    ];
    const stream = { type: 'STREAM', stream: { stream_descriptor: { name: 'notes' }, stream_state: { cursor: 1 } } };
    const run = async (lines: string[]) => {
      const { args } = setup({ max_requests_per_batch: 5 });
      const result = await runCli(args, { stdin: lines.join('\n') + '\n' });
      expect(result.code, result.stderr).toBe(0);
      const states = ofType(result.messages, 'STATE').map((m) => m.state as Record<string, any>);
      return {
        ours: states.filter((s) => s.stream?.stream_descriptor?.name === '_claude_batch_run'),
        echoed: states.filter((s) => s.stream?.stream_descriptor?.name !== '_claude_batch_run'),
      };
    };
    // A pipe with per-stream states: ours follow its first one.
    const plain = await run(withState(stream));
    expect(plain.ours.length).toBeGreaterThan(0);
    expect(plain.echoed).toHaveLength(2);
    // The Airbyte platform tags each source state with an id and refuses a destination state without one.
    const tagged = await run(withState({ ...stream, id: 7 }));
    expect(tagged.ours).toEqual([]);
    expect(tagged.echoed.map((s) => s.id)).toEqual([7, 7]);
    // GLOBAL and LEGACY states cannot be mixed with a STREAM state of ours.
    const global = await run(
      withState({
        type: 'GLOBAL',
        global: {
          shared_state: { lsn: 1 },
          stream_states: [{ stream_descriptor: { name: 'notes' }, stream_state: { c: 1 } }],
        },
      }),
    );
    expect(global.ours).toEqual([]);
    expect(global.echoed.map((s) => s.type)).toEqual(['GLOBAL', 'GLOBAL']);
    const legacy = await run(withState({ type: 'LEGACY', data: { cursor: 'l' } }));
    expect(legacy.ours).toEqual([]);
    expect(legacy.echoed.map((s) => s.data)).toEqual([{ cursor: 'l' }, { cursor: 'l' }]);
  });

  it('reads an empty namespace as no namespace, in the catalog, the records and the states alike', async () => {
    const { dir, destination, args } = setup();
    const catalog = catalogFor(['notes']);
    catalog.streams[0]!.stream = {
      ...catalog.streams[0]!.stream,
      namespace: '',
    } as (typeof catalog.streams)[0]['stream'];
    writeJson(dir, 'catalog.json', catalog);
    const records = docs(3, 'ns').map((d) =>
      recordLine('notes', { ...d }).replace('"stream":"notes"', '"stream":"notes","namespace":""'),
    );
    const state = JSON.stringify({
      type: 'STATE',
      state: {
        type: 'STREAM',
        stream: { stream_descriptor: { name: 'notes', namespace: '' }, stream_state: { c: 3 } },
      },
    });
    const result = await runCli(args, { stdin: [...records, state].join('\n') + '\n' });
    expect(result.code, result.stderr).toBe(0);
    const echoed = ofType(result.messages, 'STATE').filter((m) => m.state.stream?.stream_descriptor?.name === 'notes');
    expect(echoed.map((m) => m.state.destinationStats)).toEqual([{ recordCount: 3 }]);
    expect(
      (await duck(`SELECT count(*)::INT AS n FROM read_parquet('${destination}/default/notes/**/*.parquet')`))[0]!.n,
    ).toBe(3);
  });

  it('echoes states even when no records arrive, and writes nothing', async () => {
    const { args } = setup();
    const result = await runCli(args, { stdin: stateLine('notes', 0, 0) + '\n' });
    expect(result.code).toBe(0);
    const states = ofType(result.messages, 'STATE').filter((m) => m.state.stream.stream_descriptor.name === 'notes');
    expect(states).toHaveLength(1);
    expect(states[0]!.state.destinationStats).toEqual({ recordCount: 0 });
  });

  it('fails with a TRACE naming the line when a record is for a stream not in the catalog', async () => {
    const { args } = setup();
    const result = await runCli(args, {
      stdin: [recordLine('notes', docs(1)[0] as never), recordLine('ghost', { id: 'x' })].join('\n'),
    });
    expect(result.code).not.toBe(0);
    const [trace] = traceErrors(result.messages);
    expect(trace!.trace.error.failure_type).toBe('config_error');
    expect(trace!.trace.error.message).toMatch(/line 2.*"ghost"/);
  });
});
