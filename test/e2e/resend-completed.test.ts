// Guards "exactly one row per input record" when a run completed (every STATE on stdout, the run journaled
// complete) and was killed before it exited: the platform counts the attempt as failed and a new attempt of
// the same sync may re-send everything. With the sync's identity in the catalog (sync_id, generation_id)
// the re-sent records are recognised; a new generation is written anew; without sync_id they are rows again.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paidTwice, startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { emulatorConfig, runCli, tempDir, traceErrors, writeJson, type CliResult } from '../helpers/cli.js';
import { duck } from '../helpers/duckdb.js';
import { catalogFor, docs, recordLine, stateLine } from '../helpers/records.js';
import { expectEachIdOnce, freshInputs, idsOf, syncInput } from '../helpers/resume.js';

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator({ apiKeys: ['test-key'] });
});
afterAll(() => emu.close());

const fresh = freshInputs('rc');
const KILLED_AFTER_COMPLETION = { CLAUDE_BATCH_FAILPOINT: 'after_run_completed' };

interface Sync {
  /** Absent: a catalog without sync_id (a pipe, an older platform). */
  syncId?: number;
  generation?: number;
  minimum?: number;
  mode?: 'append' | 'overwrite';
}

function setup() {
  const dir = tempDir('claude-batch-resend-completed-');
  const destination = join(dir, 'out');
  const config = writeJson(
    dir,
    'config.json',
    emulatorConfig(emu.url, destination, {
      max_requests_per_batch: 10,
      progress_interval_seconds: 0.2,
      api_patience_seconds: 5,
    }),
  );
  let n = 0;
  const write = (stdin: string[], sync: Sync, env?: NodeJS.ProcessEnv): Promise<CliResult> => {
    const catalog = catalogFor(['notes']) as { streams: Array<Record<string, unknown>> };
    const stream = catalog.streams[0]!;
    delete stream.sync_id;
    Object.assign(stream, {
      ...(sync.syncId !== undefined ? { sync_id: sync.syncId } : {}),
      generation_id: sync.generation ?? 3,
      minimum_generation_id: sync.minimum ?? 0,
      destination_sync_mode: sync.mode ?? 'append',
    });
    const path = writeJson(dir, `catalog-${++n}.json`, catalog);
    return runCli(['write', '--config', config, '--catalog', path], { stdin: stdin.join('\n') + '\n', env });
  };
  return { destination, write };
}

const notesStates = (messages: CliResult['messages']) =>
  messages.filter((m) => m.type === 'STATE' && m.state.stream?.stream_descriptor?.name === 'notes');
const logText = (result: CliResult) =>
  result.messages
    .filter((m) => m.type === 'LOG')
    .map((m) => String(m.log.message))
    .join('\n');

/** A run killed right after it was journaled complete: every STATE of the input reached stdout first. */
async function completedThenKilled(
  write: ReturnType<typeof setup>['write'],
  input: string[],
  sync: Sync,
): Promise<CliResult> {
  const first = await write(input, sync, KILLED_AFTER_COMPLETION);
  expect(first.signal, first.stderr).toBe('SIGKILL');
  expect(notesStates(first.messages)).toHaveLength(input.filter((l) => l.includes('"STATE"')).length);
  return first;
}

/** The manifests of the destination's completed runs, oldest first. */
function manifests(destination: string): Array<Record<string, any>> {
  const runs = join(destination, '_claude_batch', 'runs');
  return readdirSync(runs)
    .sort()
    .map((r) => JSON.parse(readFileSync(join(runs, r, 'manifest.json'), 'utf8')) as Record<string, any>);
}

function expectNothingPaidTwice(customIds: unknown[]) {
  const twice = paidTwice(emu.submissionLog());
  expect(customIds.map(String).filter((id) => twice.has(id))).toEqual([]);
}

describe('re-sent input after a run that completed but never exited', () => {
  it('same sync_id and generation_id, whole input again: each record one row, nothing sent, every STATE echoed', async () => {
    const { destination, write } = setup();
    const { input, ids } = fresh();
    const sync = { syncId: 901, generation: 3 };
    await completedThenKilled(write, input, sync);
    const creates = emu.calls.create;
    const second = await write(input, sync);
    expect(second.code, second.stderr).toBe(0);
    expect(traceErrors(second.messages)).toEqual([]);
    expect(emu.calls.create).toBe(creates);
    const rows = await expectEachIdOnce(destination, ids);
    expectNothingPaidTwice(rows.map((r) => r.custom_id));
    // Its STATEs still go out, in order, each counting the records before it (re-sent ones too).
    const cursors = input
      .filter((l) => l.includes('"STATE"'))
      .map((l) => JSON.parse(l).state.stream.stream_state.cursor);
    expect(
      notesStates(second.messages).map((m) => [
        m.state.stream.stream_state.cursor,
        m.state.destinationStats.recordCount,
      ]),
    ).toEqual([
      [cursors[0], 8],
      [cursors[1], 9],
      [cursors[2], 8],
    ]);
    expect(logText(second)).toMatch(
      /25 re-sent records were already written by a completed run of this sync: no new rows/,
    );
    expect(manifests(destination).map((m) => m.rows_out)).toEqual([25, 0]);
  });

  it('records with identical content stay one row each, and a further copy beyond them is a new row', async () => {
    const { destination, write } = setup();
    const twin = recordLine('notes', { ...docs(1, 'rc-twin')[0]! });
    const input = [...syncInput(10, 'rc-twins'), twin, twin, stateLine('notes', 'twins', 0)];
    const sync = { syncId: 902 };
    await completedThenKilled(write, input, sync);
    const second = await write([...input.slice(0, -1), twin, input.at(-1)!], sync);
    expect(second.code, second.stderr).toBe(0);
    const rows = await duck(
      `SELECT id, count(*)::INT AS n FROM read_parquet('${destination}/**/*.parquet') GROUP BY id ORDER BY id`,
    );
    expect(rows).toEqual(
      [...idsOf(10, 'rc-twins').map((id) => ({ id, n: 1 })), { id: 'rc-twin-0000', n: 3 }].sort((a, b) =>
        a.id < b.id ? -1 : 1,
      ),
    );
    expect(manifests(destination).map((m) => m.rows_out)).toEqual([12, 1]);
  });

  it('two completed runs of the sync, then everything again: matched against both', async () => {
    const { destination, write } = setup();
    const { input, ids } = fresh();
    const { input: more, ids: moreIds } = fresh(6);
    const sync = { syncId: 903 };
    await completedThenKilled(write, input, sync);
    // The next attempt re-sends everything and the source has 6 records more; it completes and is killed too.
    await completedThenKilled(write, [...input, ...more], sync);
    const third = await write([...input, ...more], sync);
    expect(third.code, third.stderr).toBe(0);
    const rows = await expectEachIdOnce(destination, [...ids, ...moreIds]);
    expectNothingPaidTwice(rows.map((r) => r.custom_id));
    expect(logText(third)).toMatch(/31 re-sent records were already written/);
    expect(manifests(destination).map((m) => m.rows_out)).toEqual([25, 6, 0]);
  });

  it('a completed run, then an attempt killed after its first STATE, then everything again: each record one row', async () => {
    const { destination, write } = setup();
    const { input, ids } = fresh();
    const { input: more, ids: moreIds } = fresh(12);
    const sync = { syncId: 904 };
    await completedThenKilled(write, input, sync);
    // The second attempt matches the first run's records, spools the new ones and dies after a STATE of them.
    const second = await write([...input, ...more], sync, { CLAUDE_BATCH_FAILPOINT: 'after_state_journaled:4' });
    expect(second.signal, second.stderr).toBe('SIGKILL');
    const third = await write([...input, ...more], sync);
    expect(third.code, third.stderr).toBe(0);
    const rows = await expectEachIdOnce(destination, [...ids, ...moreIds]);
    expectNothingPaidTwice(rows.map((r) => r.custom_id));
  });

  it('a new generation (overwrite, refreshed) is not a re-send: written anew, the older generation removed, nothing paid again', async () => {
    const { destination, write } = setup();
    const { input, ids } = fresh();
    await completedThenKilled(write, input, { syncId: 905, generation: 3, minimum: 3, mode: 'overwrite' });
    const creates = emu.calls.create;
    const second = await write(input, { syncId: 905, generation: 4, minimum: 4, mode: 'overwrite' });
    expect(second.code, second.stderr).toBe(0);
    // Answered from the result cache: no API call, no cost.
    expect(emu.calls.create).toBe(creates);
    await expectEachIdOnce(destination, ids, 'cached');
    const generations = await duck(
      `SELECT DISTINCT _airbyte_generation_id::INT AS g FROM read_parquet('${destination}/**/*.parquet')`,
    );
    expect(generations).toEqual([{ g: 4 }]);
    expect(logText(second)).not.toMatch(/already written/);
  });

  it('without sync_id: the re-sent records are written again, as cached rows, with no API cost', async () => {
    const { destination, write } = setup();
    const { input, ids } = fresh();
    await completedThenKilled(write, input, {});
    const creates = emu.calls.create;
    const second = await write(input, {});
    expect(second.code, second.stderr).toBe(0);
    expect(emu.calls.create).toBe(creates);
    const rows = await duck(
      `SELECT id, count(*)::INT AS n, string_agg(_claude_status, ',' ORDER BY run_id) AS s FROM read_parquet('${destination}/**/*.parquet', hive_partitioning = true) GROUP BY id ORDER BY id`,
    );
    expect(rows.map((r) => r.id)).toEqual([...ids].sort());
    for (const r of rows) expect([r.n, r.s]).toEqual([2, 'succeeded,cached']);
    expectNothingPaidTwice(
      (await duck(`SELECT DISTINCT _claude_custom_id AS c FROM read_parquet('${destination}/**/*.parquet')`)).map(
        (r) => r.c,
      ),
    );
  });
});
