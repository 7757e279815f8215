// Guards the promise that a crash never pays twice and never loses or duplicates a row: the CLI is
// SIGKILLed (a failpoint kills it at an exact step), restarted the way a platform restarts a sync, and
// the output is read back by DuckDB and the emulator's own submission counts are checked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CLI, emulatorConfig, runCli, tempDir, traceErrors, writeJson } from '../helpers/cli.js';
import { duck } from '../helpers/duckdb.js';
import { assertProtocolOutput } from '../helpers/protocol-schema.js';
import {
  KILL_STAGES as STAGES,
  destinationSetup,
  expectEachIdOnce,
  idsOf,
  journalOf,
  resendAfterLastState,
  submittedSince,
  syncInput,
} from '../helpers/resume.js';
import { parseConfig } from '../../connector/config/config.js';
import { requestFingerprint } from '../../connector/pipeline/write-run.js';
import { catalogFor, recordLine, stateLine } from '../helpers/records.js';

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator({ apiKeys: ['test-key'] });
});
afterAll(() => emu.close());

// Each test gets its own records, so custom_ids never repeat across tests sharing the emulator.
let tests = 0;
const fresh = () => {
  const prefix = `t${++tests}`;
  return { prefix, input: syncInput(25, prefix), ids: idsOf(25, prefix) };
};

describe('killed and restarted', () => {
  it.each(STAGES)(
    'at %s (%s): every record becomes exactly one row and nothing is submitted twice',
    async (failpoint) => {
      const { destination, write } = destinationSetup(emu);
      const { prefix, input, ids } = fresh();
      void prefix;
      const before = new Map(emu.submissions());
      const batchesBefore = (await emu.batches()).length;

      const first = await write(input, { env: { CLAUDE_BATCH_FAILPOINT: failpoint } });
      expect(first.signal, first.stderr).toBe('SIGKILL');

      const second = await write(resendAfterLastState(input, first.messages));
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(traceErrors(second.messages)).toEqual([]);

      const rows = await expectEachIdOnce(destination, ids);
      for (const row of rows) expect(String(row.output)).toContain(String(row.id));
      const sent = submittedSince(
        emu,
        before,
        rows.map((r) => String(r.custom_id)),
      );
      expect(
        [...sent.values()].every((n) => n === 1),
        JSON.stringify([...sent]),
      ).toBe(true);
      expect((await emu.batches()).length - batchesBefore).toBe(3);

      // The second attempt resumed the same run, and the STATEs it echoed complete the source's checkpoints.
      const journal = journalOf(destination);
      expect(journal.filter((e) => e.type === 'run_started')).toHaveLength(1);
      expect(journal.filter((e) => e.type === 'run_completed')).toHaveLength(1);
      const states = [...first.messages, ...second.messages].filter(
        (m) => m.type === 'STATE' && m.state.stream.stream_descriptor.name === 'notes',
      );
      expect(states.at(-1)!.state.stream.stream_state.cursor).toBe(`${prefix}-25`);
    },
  );

  it('also holds when the platform re-sends the whole input (a source without state)', async () => {
    const { destination, write } = destinationSetup(emu);
    const { prefix, input, ids } = fresh();
    void prefix;
    const before = new Map(emu.submissions());
    const first = await write(input, { env: { CLAUDE_BATCH_FAILPOINT: 'after_finalised:1' } });
    expect(first.signal).toBe('SIGKILL');
    const second = await write(input);
    expect(second.code, second.stderr).toBe(0);
    const rows = await expectEachIdOnce(destination, ids);
    const sent = submittedSince(
      emu,
      before,
      rows.map((r) => String(r.custom_id)),
    );
    expect([...sent.values()].every((n) => n === 1)).toBe(true);
  });

  it('survives being killed twice in a row, at different steps', async () => {
    const { destination, write } = destinationSetup(emu);
    const { prefix, input, ids } = fresh();
    void prefix;
    const before = new Map(emu.submissions());
    const first = await write(input, { env: { CLAUDE_BATCH_FAILPOINT: 'after_submitted:2' } });
    expect(first.signal).toBe('SIGKILL');
    const resent = resendAfterLastState(input, first.messages);
    const second = await write(resent, { env: { CLAUDE_BATCH_FAILPOINT: 'mid_parquet' } });
    expect(second.signal).toBe('SIGKILL');
    const third = await write(resendAfterLastState(resent, second.messages));
    expect(third.code, third.stderr).toBe(0);
    const rows = await expectEachIdOnce(destination, ids);
    const sent = submittedSince(
      emu,
      before,
      rows.map((r) => String(r.custom_id)),
    );
    expect([...sent.values()].every((n) => n === 1)).toBe(true);
  });

  it('refuses to resume under changed request settings, naming the run and the way out', async () => {
    const { write } = destinationSetup(emu);
    const { input } = fresh();
    const first = await write(input, { env: { CLAUDE_BATCH_FAILPOINT: 'after_submitted' } });
    expect(first.signal).toBe('SIGKILL');
    const createsBefore = emu.calls.create;
    const second = await write(input, { config: { prompt_template: 'Classify {{ id }}' } });
    expect(second.code).not.toBe(0);
    const [trace] = traceErrors(second.messages);
    expect(trace!.trace.error.failure_type).toBe('config_error');
    expect(trace!.trace.error.message).toMatch(/unfinished.*different request settings.*cancel/);
    expect(emu.calls.create).toBe(createsBefore);
  });

  it('counts the output settings as request settings: other labels do not resume a run', async () => {
    const { write } = destinationSetup(emu, { output_mode: 'label', labels: ['invoice', 'contract'] });
    const { input } = fresh();
    const first = await write(input, { env: { CLAUDE_BATCH_FAILPOINT: 'after_submitted' } });
    expect(first.signal).toBe('SIGKILL');
    const second = await write(input, { config: { labels: ['spam', 'ham'] } });
    expect(second.code).not.toBe(0);
    expect(traceErrors(second.messages)[0]!.trace.error.message).toMatch(/different request settings/);
  });
});

describe('requestFingerprint', () => {
  it('is what runs journaled before the output settings joined it have, under default settings', () => {
    // A run started by the earlier connector under this config journaled exactly this fingerprint.
    const config = parseConfig(
      { base_url: 'emulator', destination_path: '/tmp/x', prompt_template: 'Summarise: {{ body }}' },
      {},
    );
    expect(requestFingerprint(config)).toBe('fa6f8615766bab53');
    expect(requestFingerprint({ ...config, output_mode: 'label', labels: ['a', 'b'] })).not.toBe(
      requestFingerprint(config),
    );
    expect(requestFingerprint({ ...config, prompt_caching: false })).not.toBe(requestFingerprint(config));
  });
});

describe('submit_only echoes every STATE once its records are submitted', () => {
  const rec = (id: string, body: string) => recordLine('notes', { id, title: 't', body });
  const notesStates = (ms: Array<Record<string, any>>) =>
    ms.filter((m) => m.type === 'STATE' && m.state.stream?.stream_descriptor?.name === 'notes');

  it('after a kill once the batch was made: the resumed write echoes it, and nothing is sent or written twice', async () => {
    const slow = await startEmulator({ apiKeys: ['test-key'], processingMs: 4000 });
    try {
      const { destination, write } = destinationSetup(slow, { wait: 'submit_only' });
      const input = [
        ...Array.from({ length: 5 }, (_, i) => rec(`so-${i}`, `body so ${i}`)),
        stateLine('notes', 's1', 5),
      ];
      const first = await write(input, { env: { CLAUDE_BATCH_FAILPOINT: 'after_submitted' } });
      expect(first.signal).toBe('SIGKILL');
      const second = await write(resendAfterLastState(input, first.messages));
      expect(second.code, second.stderr).toBe(0);
      expect(notesStates(second.messages)).toHaveLength(1);
      const third = await write(resendAfterLastState(input, second.messages), { config: { wait: 'until_done' } });
      expect(third.code, third.stderr).toBe(0);
      await expectEachIdOnce(
        destination,
        Array.from({ length: 5 }, (_, i) => `so-${i}`),
      );
      expect(Math.max(...slow.submissions().values())).toBe(1);
    } finally {
      await slow.close();
    }
  });

  it('for a batch that only borrows answers from one still processing', async () => {
    const slow = await startEmulator({ apiKeys: ['test-key'], processingMs: 1500 });
    try {
      const { destination, write } = destinationSetup(slow, {
        max_requests_per_batch: 2,
        prompt_template: 'Summarise: {{ body }}',
        wait: 'submit_only',
      });
      // Two distinct requests, eight records: batch 0 sends both; the two records after s1 borrow their answers.
      const input = [
        ...Array.from({ length: 8 }, (_, i) => rec(`sb-${i}`, i % 2 ? 'beta' : 'alpha')),
        stateLine('notes', 's1', 8),
        rec('sb-8', 'alpha'),
        rec('sb-9', 'beta'),
        stateLine('notes', 's2', 2),
      ];
      const first = await write(input);
      expect(first.code, first.stderr).toBe(0);
      expect(notesStates(first.messages).map((m) => m.state.stream.stream_state.cursor)).toEqual(['s1', 's2']);
      const second = await write(resendAfterLastState(input, first.messages), { config: { wait: 'until_done' } });
      expect(second.code, second.stderr).toBe(0);
      await expectEachIdOnce(
        destination,
        Array.from({ length: 10 }, (_, i) => `sb-${i}`),
      );
    } finally {
      await slow.close();
    }
  });
});

describe('records an echoed STATE covers are never taken for re-sent ones', () => {
  it('an identical record after the last echoed STATE is a record of its own, also after a restart', async () => {
    const dir = tempDir('claude-batch-covered-');
    const destination = join(dir, 'out');
    const config = writeJson(
      dir,
      'config.json',
      emulatorConfig(emu.url, destination, { max_requests_per_batch: 1, prompt_template: 'Summarise: {{ body }}' }),
    );
    const catalog = writeJson(dir, 'catalog.json', catalogFor(['notes']));
    const X = recordLine('notes', { id: 'x', title: 't', body: 'same' });
    const F = recordLine('notes', { id: 'f', title: 't', body: 'filler' });
    // Attempt 1 reads X, STATE s1, F, X again (an event that really happened twice), and dies once s1 is echoed:
    // X's batch is written, the rest is still open.
    const child = spawn(process.execPath, [CLI, 'write', '--config', config, '--catalog', catalog], {
      env: { PATH: process.env.PATH },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    let out = '';
    const closed = new Promise((resolve) => child.on('close', resolve));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('"cursor":"s1"')) child.kill('SIGKILL');
    });
    child.stdin.write([X, stateLine('notes', 's1', 1), F, X].join('\n') + '\n');
    await closed;
    expect(out).toContain('"cursor":"s1"');
    assertProtocolOutput(out.slice(0, out.lastIndexOf('\n') + 1));
    // The platform re-sends what followed s1.
    const second = await runCli(['write', '--config', config, '--catalog', catalog], {
      stdin: [F, X, stateLine('notes', 's2', 2)].join('\n') + '\n',
    });
    expect(second.code, second.stderr).toBe(0);
    const rows = await duck(
      `SELECT id, count(*)::INT AS n FROM read_parquet('${destination}/**/*.parquet') GROUP BY id ORDER BY id`,
    );
    expect(rows).toEqual([
      { id: 'f', n: 1 },
      { id: 'x', n: 2 },
    ]);
  });
});
