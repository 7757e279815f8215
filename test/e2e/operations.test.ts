// Guards operating a destination over time: SIGTERM, submit_only, status, cancel, 24 h expiry, lost results, long outages and progress output.
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../emulator/index.js';
import { runPlainCli, traceErrors, writeJson, type CliResult } from '../helpers/cli.js';
import { duck } from '../helpers/duckdb.js';
import {
  destinationSetup,
  expectEachIdOnce,
  idsOf,
  journalOf,
  resendAfterLastState,
  submittedSince,
  syncInput,
} from '../helpers/resume.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs a test against its own emulator (its own processingMs and virtual clock), closed afterwards. */
async function withEmulator<T>(options: EmulatorOptions, body: (emu: RunningEmulator) => Promise<T>): Promise<T> {
  const emu = await startEmulator({ apiKeys: ['test-key'], ...options });
  try {
    return await body(emu);
  } finally {
    await emu.close();
  }
}

/** A status/cancel invocation against the same destination and API as `setup`. */
function operator(setup: ReturnType<typeof destinationSetup>, emu: RunningEmulator) {
  const config = writeJson(setup.dir, 'operator.json', {
    api_key: 'test-key',
    base_url: emu.url,
    destination_path: setup.destination,
    prompt_template: 'Summarise {{ id }}: {{ body }}',
  });
  return (command: string, ...args: string[]) => runPlainCli([command, '--config', config, ...args]);
}

interface RunJournal {
  runId: string;
  dir: string;
  entries: Array<Record<string, any>>;
}

/** Each run's journal, oldest first. */
function runsOf(destination: string): RunJournal[] {
  const root = join(destination, '_claude_batch', 'runs');
  return readdirSync(root)
    .map((name) => {
      const dir = join(root, name);
      const entries = readFileSync(join(dir, 'journal.jsonl'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, any>);
      return { runId: String(entries[0]!.run_id), dir, entries };
    })
    .sort((a, b) => String(a.entries[0]!.at).localeCompare(String(b.entries[0]!.at)));
}

const has = (run: RunJournal, type: string) => run.entries.some((e) => e.type === type);
const submittedIds = (run: RunJournal) =>
  run.entries.filter((e) => e.type === 'batch_submitted').map((e) => String(e.batch_id));

function parquetFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.parquet'));
}

const isSubmittedLog = (m: Record<string, any>) =>
  m.type === 'LOG' && /^batch #\d+ submitted as /.test(String(m.log?.message));

/** Calls `then` (once) when the run has logged `n` first-round submissions. */
function onSubmitted(n: number, then: (child: ChildProcess) => void) {
  let seen = 0;
  return (m: Record<string, any>, child: ChildProcess) => {
    if (isSubmittedLog(m) && ++seen === n) then(child);
  };
}

async function untilEnded(emu: RunningEmulator, ids: string[], timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const batches = await emu.batches();
    if (ids.every((id) => batches.find((b) => b.id === id)?.processing_status === 'ended')) return;
    if (Date.now() > deadline) throw new Error(`batches ${ids.join(', ')} did not end`);
    await sleep(50);
  }
}

const notesStates = (messages: CliResult['messages']) =>
  messages
    .filter((m) => m.type === 'STATE' && m.state.stream?.stream_descriptor?.name === 'notes')
    .map((m) => m.state.stream.stream_state.cursor);

const allOnce = (sent: Map<string, number>) => [...sent.values()].every((n) => n === 1);

// Generous per-test time: each test starts several CLI processes, which is slow on a loaded machine.
describe('operating a destination', { timeout: 60_000 }, () => {
  it('SIGTERM while batches process: exits promptly and resumably, and the next write finishes without paying twice', async () => {
    await withEmulator({ processingMs: 4000 }, async (emu) => {
      const { destination, write } = destinationSetup(emu);
      const input = syncInput(25, 'sig');
      const ids = idsOf(25, 'sig');
      const before = new Map(emu.submissions());
      const createsBefore = emu.calls.create;
      let signalledAt = 0;
      // A 30 s poll interval: the stop must not wait for the next poll.
      const first = await write(input, {
        config: { poll_interval_seconds: 30 },
        onMessage: onSubmitted(3, (child) => {
          signalledAt = Date.now();
          child.kill('SIGTERM');
        }),
      });
      const exitedAfter = Date.now() - signalledAt;
      expect(signalledAt, first.stdout + first.stderr).toBeGreaterThan(0);
      expect(exitedAfter).toBeLessThan(2000);
      expect(first.signal).toBeNull();
      expect(first.code).not.toBe(0);
      const [trace, ...more] = traceErrors(first.messages);
      expect(more).toEqual([]);
      expect(trace!.trace.error.failure_type).toBe('transient_error');
      expect(trace!.trace.error.message).toMatch(
        /stopped on request before it finished; 3 submitted batches keep processing/,
      );
      expect(first.messages.some((m) => m.type === 'LOG' && /SIGTERM received/.test(m.log.message))).toBe(true);
      expect(journalOf(destination).some((e) => e.type === 'run_interrupted' && e.reason === 'stopped by signal')).toBe(
        true,
      );
      expect(emu.calls.create - createsBefore).toBe(3);
      // It really did not wait: the batches were still processing when it was gone.
      expect((await emu.batches()).every((b) => b.processing_status === 'in_progress')).toBe(true);
      expect(parquetFiles(destination)).toEqual([]);

      const createsAfterFirst = emu.calls.create;
      const second = await write(resendAfterLastState(input, first.messages));
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(traceErrors(second.messages)).toEqual([]);
      const rows = await expectEachIdOnce(destination, ids);
      expect(
        allOnce(
          submittedSince(
            emu,
            before,
            rows.map((r) => String(r.custom_id)),
          ),
        ),
      ).toBe(true);
      expect(emu.calls.create).toBe(createsAfterFirst);
      const runs = runsOf(destination);
      expect(runs).toHaveLength(1);
      expect(has(runs[0]!, 'run_completed')).toBe(true);
    });
  });

  it("submit_only: each run hands its batches to the next, which writes them under the first run's id", async () => {
    // The API's clock is moved on instead of waiting, so "still processing" and "ended" are certain.
    await withEmulator({ processingMs: 60_000 }, async (emu) => {
      const { destination, write } = destinationSetup(emu, { wait: 'submit_only' });
      const [inputA, idsA] = [syncInput(25, 'so1'), idsOf(25, 'so1')];
      const [inputB, idsB] = [syncInput(5, 'so2'), idsOf(5, 'so2')];
      const before = new Map(emu.submissions());

      const first = await write(inputA);
      expect(first.code, first.stdout + first.stderr).toBe(0);
      expect(traceErrors(first.messages)).toEqual([]);
      const [run1] = runsOf(destination);
      const batches1 = submittedIds(run1!);
      expect(batches1).toHaveLength(3);
      const views = await emu.batches();
      expect(batches1.map((id) => views.find((b) => b.id === id)?.processing_status)).toEqual([
        'in_progress',
        'in_progress',
        'in_progress',
      ]);
      // Spooled and submitted is committed for submit_only: every source STATE is echoed.
      expect(notesStates(first.messages)).toEqual(['so1-8', 'so1-17', 'so1-25']);
      expect(has(run1!, 'run_detached')).toBe(true);
      expect(has(run1!, 'run_completed')).toBe(false);
      expect(parquetFiles(destination)).toEqual([]);

      emu.advance(61_000);
      await untilEnded(emu, batches1);
      const second = await write(inputB);
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(traceErrors(second.messages)).toEqual([]);
      expect(notesStates(second.messages)).toEqual(['so2-5']);
      const [r1, run2] = runsOf(destination);
      expect(r1!.runId).toBe(run1!.runId);
      expect(has(r1!, 'run_completed')).toBe(true);
      expect(existsSync(join(r1!.dir, 'manifest.json'))).toBe(true);
      expect(JSON.parse(readFileSync(join(r1!.dir, 'manifest.json'), 'utf8')).rows_out).toBe(25);
      expect(has(run2!, 'run_detached')).toBe(true);
      expect(submittedIds(run2!)).toHaveLength(1);
      expect(
        second.messages.some((m) => m.type === 'LOG' && m.log.message.includes(`collected run ${run1!.runId}`)),
      ).toBe(true);
      expect(parquetFiles(destination).every((f) => f.includes(`run_id=${run1!.runId}`))).toBe(true);

      emu.advance(61_000);
      const third = await write([], { config: { wait: 'until_done' } });
      expect(third.code, third.stdout + third.stderr).toBe(0);
      expect(traceErrors(third.messages)).toEqual([]);
      const runs = runsOf(destination);
      expect(runs.slice(0, 2).map((r) => has(r, 'run_completed'))).toEqual([true, true]);

      const rows = await expectEachIdOnce(destination, [...idsA, ...idsB]);
      expect(rows).toHaveLength(30);
      expect(
        allOnce(
          submittedSince(
            emu,
            before,
            rows.map((r) => String(r.custom_id)),
          ),
        ),
      ).toBe(true);
      const partitions = await duck(
        `SELECT DISTINCT split_part(id, '-', 1) AS prefix, run_id FROM read_parquet('${destination}/**/*.parquet', hive_partitioning = true) ORDER BY prefix`,
      );
      expect(partitions).toEqual([
        { prefix: 'so1', run_id: run1!.runId },
        { prefix: 'so2', run_id: run2!.runId },
      ]);
    });
  });

  it('status: a detached run with its pending batches and what the API says; a completed run with its manifest', async () => {
    await withEmulator({ processingMs: 60_000 }, async (emu) => {
      const setup = destinationSetup(emu, { wait: 'submit_only' });
      const op = operator(setup, emu);
      const first = await setup.write(syncInput(25, 'st'));
      expect(first.code, first.stdout + first.stderr).toBe(0);
      const [run] = runsOf(setup.destination);
      const batchIds = submittedIds(run!);
      expect(batchIds).toHaveLength(3);

      const text = await op('status');
      expect(text.code, text.stderr + text.stdout).toBe(0);
      expect(text.stdout).toContain(`run ${run!.runId}: detached`);
      expect(text.stdout).toContain('0/3 batches written');
      for (const id of batchIds)
        expect(text.stdout).toMatch(new RegExp(`${id}, submitted \\d+ s ago \\(API: in_progress `));

      const json = await op('status', '--json');
      expect(json.code, json.stderr).toBe(0);
      const [report, ...others] = JSON.parse(json.stdout) as Array<Record<string, any>>;
      expect(others).toEqual([]);
      expect(report).toMatchObject({
        run_id: run!.runId,
        phase: 'detached',
        records: 25,
        batches_sealed: 3,
        batches_written: 0,
      });
      expect(report!.pending.map((p: any) => p.batch_id).sort()).toEqual([...batchIds].sort());
      for (const p of report!.pending)
        expect(p.api).toMatchObject({
          processing_status: 'in_progress',
          request_counts: { processing: expect.any(Number) },
        });
      expect(report!.manifest).toBeUndefined();

      emu.advance(61_000);
      const collect = await setup.write([], { config: { wait: 'until_done' } });
      expect(collect.code, collect.stdout + collect.stderr).toBe(0);
      await expectEachIdOnce(setup.destination, idsOf(25, 'st'));

      const done = await op('status', '--run', run!.runId);
      expect(done.code, done.stderr).toBe(0);
      expect(done.stdout).toContain(`run ${run!.runId}: completed`);
      expect(done.stdout).toContain('3/3 batches written');
      expect(done.stdout).toMatch(/manifest: 25 rows, tokens \d+ in \/ \d+ out/);
      expect(done.stdout).not.toContain('submitted');
      const doneJson = JSON.parse((await op('status', '--json', '--run', run!.runId)).stdout) as Array<
        Record<string, any>
      >;
      expect(doneJson).toHaveLength(1);
      expect(doneJson[0]).toMatchObject({
        run_id: run!.runId,
        phase: 'completed',
        pending: [],
        manifest: { run_id: run!.runId, rows_out: 25, records_in: 25 },
      });
    });
  });

  it('cancel: batches are cancelled at the API, and the next write writes their rows as canceled and resubmits nothing', async () => {
    // 10 minutes of processing: no request is answered before the cancel lands, so every row is canceled.
    await withEmulator({ processingMs: 600_000 }, async (emu) => {
      const setup = destinationSetup(emu, { wait: 'submit_only' });
      const op = operator(setup, emu);
      const ids = idsOf(25, 'cx');
      const before = new Map(emu.submissions());
      const first = await setup.write(syncInput(25, 'cx'));
      expect(first.code, first.stdout + first.stderr).toBe(0);
      const [run] = runsOf(setup.destination);
      const batchIds = submittedIds(run!);
      expect(batchIds).toHaveLength(3);
      const createsAfterFirst = emu.calls.create;

      const cancel = await op('cancel');
      expect(cancel.code, cancel.stderr + cancel.stdout).toBe(0);
      for (const id of batchIds) expect(cancel.stdout).toContain(`batch ${id} canceling`);
      expect(cancel.stdout).toContain(`run ${run!.runId}: cancel recorded`);
      const views = await emu.batches();
      for (const id of batchIds)
        expect(['canceling', 'ended']).toContain(views.find((b) => b.id === id)?.processing_status);
      const [cancelled] = runsOf(setup.destination);
      const entry = cancelled!.entries.find((e) => e.type === 'cancel_requested');
      expect(entry?.batch_ids.sort()).toEqual([...batchIds].sort());

      const collect = await setup.write([], { config: { wait: 'until_done' } });
      expect(collect.code, collect.stdout + collect.stderr).toBe(0);
      expect(traceErrors(collect.messages)).toEqual([]);
      const rows = await expectEachIdOnce(setup.destination, ids, 'canceled');
      const statuses = await duck(
        `SELECT _claude_status AS s, _claude_error_type AS t, count(*)::INT AS n FROM read_parquet('${setup.destination}/**/*.parquet') GROUP BY ALL`,
      );
      expect(statuses).toEqual([{ s: 'canceled', t: 'canceled', n: 25 }]);
      // retry_canceled defaults to true, but a cancel we asked for is never undone.
      expect(
        allOnce(
          submittedSince(
            emu,
            before,
            rows.map((r) => String(r.custom_id)),
          ),
        ),
      ).toBe(true);
      expect(emu.calls.create).toBe(createsAfterFirst);
      expect(runsOf(setup.destination).every((r) => has(r, 'run_completed'))).toBe(true);
    });
  });

  it('cancel refuses while a write is running (that write would resubmit what it cancels); after SIGTERM it goes through', async () => {
    await withEmulator({ processingMs: 600_000 }, async (emu) => {
      const setup = destinationSetup(emu);
      const op = operator(setup, emu);
      const ids = idsOf(25, 'cw');
      const before = new Map(emu.submissions());
      let refused: Promise<Awaited<ReturnType<typeof op>>> | undefined;
      const first = await setup.write(syncInput(25, 'cw'), {
        onMessage: onSubmitted(3, (child) => {
          refused = op('cancel').finally(() => child.kill('SIGTERM'));
        }),
      });
      const busy = await refused!;
      expect(busy.code).not.toBe(0);
      const [trace] = traceErrors(
        busy.stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, any>),
      );
      expect(trace!.trace.error.failure_type).toBe('config_error');
      expect(trace!.trace.error.message).toMatch(
        /cannot cancel now: another write \(pid \d+\) is using this destination.*stop it first/,
      );
      expect(emu.calls.cancel).toBe(0);
      expect(journalOf(setup.destination).some((e) => e.type === 'cancel_requested')).toBe(false);
      expect(first.code).not.toBe(0);
      expect(traceErrors(first.messages)[0]!.trace.error.failure_type).toBe('transient_error');

      const cancel = await op('cancel');
      expect(cancel.code, cancel.stdout + cancel.stderr).toBe(0);
      expect(emu.calls.cancel).toBe(3);
      const createsAfterFirst = emu.calls.create;
      const collect = await setup.write([]);
      expect(collect.code, collect.stdout + collect.stderr).toBe(0);
      const rows = await expectEachIdOnce(setup.destination, ids, 'canceled');
      expect(
        allOnce(
          submittedSince(
            emu,
            before,
            rows.map((r) => String(r.custom_id)),
          ),
        ),
      ).toBe(true);
      expect(emu.calls.create).toBe(createsAfterFirst);
    });
  });

  it('cancel of a run killed with a sealed batch it never submitted: those rows are canceled and nothing is created', async () => {
    await withEmulator({ processingMs: 60_000 }, async (emu) => {
      const setup = destinationSetup(emu);
      const op = operator(setup, emu);
      const first = await setup.write(syncInput(25, 'cs'), { env: { CLAUDE_BATCH_FAILPOINT: 'after_seal' } });
      expect(first.signal, first.stderr).toBe('SIGKILL');
      const createsAfterFirst = emu.calls.create;
      const [run] = runsOf(setup.destination);
      const sealed = run!.entries.filter((e) => e.type === 'batch_sealed');
      expect(sealed).toHaveLength(1);
      expect(submittedIds(run!)).toEqual([]);

      const cancel = await op('cancel');
      expect(cancel.code, cancel.stderr + cancel.stdout).toBe(0);
      expect(cancel.stdout).toContain(`run ${run!.runId}: cancel recorded`);
      expect(emu.calls.cancel).toBe(0);
      expect(runsOf(setup.destination)[0]!.entries.some((e) => e.type === 'cancel_requested')).toBe(true);

      const collect = await setup.write([]);
      expect(collect.code, collect.stdout + collect.stderr).toBe(0);
      expect(traceErrors(collect.messages)).toEqual([]);
      // The first batch holds the first 10 records; the rest were never spooled by the killed run.
      await expectEachIdOnce(setup.destination, idsOf(25, 'cs').slice(0, sealed[0]!.records), 'canceled');
      expect(emu.calls.create).toBe(createsAfterFirst);
      expect(has(runsOf(setup.destination)[0]!, 'run_completed')).toBe(true);
    });
  });

  /** Runs 25 records whose batches never finish by themselves, then moves the API clock past their 24 h limit. */
  async function expireAll(extra: Record<string, unknown>, prefix: string) {
    return withEmulator({ processingMs: 0 }, async (emu) => {
      const { destination, write } = destinationSetup(emu, extra);
      const before = new Map(emu.submissions());
      emu.faults.neverFinish = true;
      const result = await write(syncInput(25, prefix), {
        onMessage: onSubmitted(3, () => {
          emu.faults.neverFinish = false;
          emu.advance(25 * HOUR);
        }),
      });
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(traceErrors(result.messages)).toEqual([]);
      const journal = journalOf(destination);
      const firstRounds = journal.filter((e) => e.type === 'batch_ended' && e.round === 0);
      expect(firstRounds).toHaveLength(3);
      for (const e of firstRounds) expect(e.counts).toMatchObject({ succeeded: 0, expired: expect.any(Number) });
      expect(firstRounds.reduce((n, e) => n + e.counts.expired, 0)).toBe(25);
      return { destination, journal, sent: (ids: string[]) => submittedSince(emu, before, ids) };
    });
  }

  it('a batch that hits the 24 h limit: expired requests are resubmitted and every row ends succeeded', async () => {
    const { destination, journal, sent } = await expireAll({}, 'ex1');
    const rows = await expectEachIdOnce(destination, idsOf(25, 'ex1'));
    expect([...sent(rows.map((r) => String(r.custom_id))).values()].every((n) => n === 2)).toBe(true);
    const rounds = journal.filter((e) => e.type === 'round_sealed');
    expect(rounds.map((e) => e.reasons)).toEqual(rounds.map((e) => ({ expired: e.requests })));
    expect(rounds.reduce((n, e) => n + e.requests, 0)).toBe(25);
  });

  it('with retry_expired false, expired requests are written as expired rows and not sent again', async () => {
    const { destination, journal, sent } = await expireAll({ retry_expired: false }, 'ex2');
    const rows = await expectEachIdOnce(destination, idsOf(25, 'ex2'), 'expired');
    expect(allOnce(sent(rows.map((r) => String(r.custom_id))))).toBe(true);
    expect(journal.filter((e) => e.type === 'round_sealed')).toEqual([]);
  });

  /** The batches run 2 found lost, and how often each custom_id should have been sent: once, plus once per lost batch holding it. */
  function expectedSubmissions(
    emu: RunningEmulator,
    journal: Array<Record<string, any>>,
    lostRequests: Map<string, string[]>,
    customIds: string[],
  ) {
    const lost = journal.filter((e) => e.type === 'batch_lost');
    const expected = new Map(customIds.map((c) => [c, 1]));
    for (const e of lost)
      for (const c of lostRequests.get(e.batch_id) ?? emu.requestsOf(e.batch_id)!.map((r) => r.custom_id))
        expected.set(c, expected.get(c)! + 1);
    return { lost, expected };
  }

  it('results archived after 29 days: the batch is journaled lost and its requests are sent again, each row once', async () => {
    await withEmulator({ processingMs: 0 }, async (emu) => {
      const { destination, write } = destinationSetup(emu, { api_patience_seconds: 2 });
      const input = syncInput(25, 'ar');
      const before = new Map(emu.submissions());
      const first = await write(input, { env: { CLAUDE_BATCH_FAILPOINT: 'after_submitted' } });
      expect(first.signal, first.stderr).toBe('SIGKILL');
      const [batchId] = submittedIds(runsOf(destination)[0]!);
      await untilEnded(emu, [batchId!]);
      emu.advance(30 * DAY);
      expect((await emu.batches()).find((b) => b.id === batchId)?.archived_at).not.toBeNull();

      const second = await write(resendAfterLastState(input, first.messages));
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(traceErrors(second.messages)).toEqual([]);
      const rows = await expectEachIdOnce(destination, idsOf(25, 'ar'));
      const journal = journalOf(destination);
      const { lost, expected } = expectedSubmissions(
        emu,
        journal,
        new Map(),
        rows.map((r) => String(r.custom_id)),
      );
      expect(lost.map((e) => e.batch_id)).toContain(batchId);
      expect(lost.find((e) => e.batch_id === batchId)?.reason).toMatch(/results file is gone/);
      expect(Object.fromEntries(submittedSince(emu, before, expected.keys()))).toEqual(Object.fromEntries(expected));
    });
  });

  it('a batch id the API no longer knows (deleted): its requests are sent again, each row once', async () => {
    await withEmulator({ processingMs: 0 }, async (emu) => {
      const { destination, write } = destinationSetup(emu, { api_patience_seconds: 2 });
      const input = syncInput(25, 'del');
      const before = new Map(emu.submissions());
      const first = await write(input, { env: { CLAUDE_BATCH_FAILPOINT: 'after_submitted' } });
      expect(first.signal, first.stderr).toBe('SIGKILL');
      const [batchId] = submittedIds(runsOf(destination)[0]!);
      const client = new Anthropic({ apiKey: 'test-key', baseURL: emu.url, maxRetries: 0 });
      while ((await client.messages.batches.retrieve(batchId!)).processing_status !== 'ended') await sleep(20);
      const lostRequests = new Map([[batchId!, emu.requestsOf(batchId!)!.map((r) => r.custom_id)]]);
      await client.messages.batches.delete(batchId!);
      await expect(client.messages.batches.retrieve(batchId!)).rejects.toMatchObject({ status: 404 });

      const second = await write(resendAfterLastState(input, first.messages));
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(traceErrors(second.messages)).toEqual([]);
      const rows = await expectEachIdOnce(destination, idsOf(25, 'del'));
      const journal = journalOf(destination);
      const { lost, expected } = expectedSubmissions(
        emu,
        journal,
        lostRequests,
        rows.map((r) => String(r.custom_id)),
      );
      expect(lost.find((e) => e.batch_id === batchId)?.reason).toMatch(/404/);
      expect([...expected.values()].filter((n) => n === 2).length).toBeGreaterThanOrEqual(
        lostRequests.get(batchId!)!.length,
      );
      expect(Object.fromEntries(submittedSince(emu, before, expected.keys()))).toEqual(Object.fromEntries(expected));
    });
  });

  it('an outage longer than api_patience_seconds ends the run with a transient error; the next write finishes it without resubmitting', async () => {
    await withEmulator({ processingMs: 0 }, async (emu) => {
      const { destination, write } = destinationSetup(emu, { api_patience_seconds: 2 });
      const input = syncInput(25, 'out');
      const before = new Map(emu.submissions());
      const createsBefore = emu.calls.create;
      // Polling is a list call for every batch in flight, downloads start with a retrieve: both are down.
      emu.faults.http.push({ endpoint: 'retrieve', status: 503 }, { endpoint: 'list', status: 503 });
      const startedAt = Date.now();
      const first = await write(input);
      const took = Date.now() - startedAt;
      expect(first.signal).toBeNull();
      expect(first.code).toBe(1);
      expect(first.stderr).not.toMatch(/Unhandled|TypeError|at .*\.js:\d+/);
      const errors = traceErrors(first.messages);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.trace.error.failure_type).toBe('transient_error');
      expect(errors[0]!.trace.error.message).toMatch(/listing batches to poll them failed: HTTP 503/);
      expect(took).toBeLessThan(20_000);
      expect(emu.calls.create - createsBefore).toBe(3);
      expect(journalOf(destination).some((e) => e.type === 'run_interrupted')).toBe(true);

      emu.faults.http.length = 0;
      const createsAfterFirst = emu.calls.create;
      const second = await write(resendAfterLastState(input, first.messages));
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(traceErrors(second.messages)).toEqual([]);
      const rows = await expectEachIdOnce(destination, idsOf(25, 'out'));
      expect(
        allOnce(
          submittedSince(
            emu,
            before,
            rows.map((r) => String(r.custom_id)),
          ),
        ),
      ).toBe(true);
      expect(emu.calls.create).toBe(createsAfterFirst);
    });
  }, 45_000);

  it('reports progress: STREAM_STATUS STARTED then COMPLETE, ESTIMATE row counts, and a "waiting on N batches" LOG', async () => {
    await withEmulator({ processingMs: 800 }, async (emu) => {
      const { destination, write } = destinationSetup(emu, { progress_interval_seconds: 0.1 });
      const result = await write(syncInput(25, 'pg'));
      expect(result.code, result.stdout + result.stderr).toBe(0);
      await expectEachIdOnce(destination, idsOf(25, 'pg'));
      const traces = result.messages.filter((m) => m.type === 'TRACE');
      const statuses = traces
        .filter((m) => m.trace.type === 'STREAM_STATUS' && m.trace.stream_status.stream_descriptor.name === 'notes')
        .map((m) => m.trace.stream_status.status);
      expect(statuses).toEqual(['STARTED', 'COMPLETE']);
      const estimates = traces.filter((m) => m.trace.type === 'ESTIMATE' && m.trace.estimate.name === 'notes');
      expect(estimates.length).toBeGreaterThan(0);
      for (const e of estimates)
        expect(e.trace.estimate).toMatchObject({
          type: 'STREAM',
          row_estimate: expect.any(Number),
          byte_estimate: expect.any(Number),
        });
      expect(estimates.at(-1)!.trace.estimate.row_estimate).toBe(25);
      const waiting = result.messages.filter((m) => m.type === 'LOG' && /waiting on \d+ batches/.test(m.log.message));
      expect(waiting.length).toBeGreaterThan(0);
      const counts = waiting.map((m) => Number(/waiting on (\d+) batches/.exec(m.log.message)![1]));
      expect(Math.min(...counts)).toBeGreaterThanOrEqual(1);
      expect(Math.max(...counts)).toBeLessThanOrEqual(3);
      // The stream is only COMPLETE once its last row is written.
      const complete = result.messages.findIndex(
        (m) => m.type === 'TRACE' && m.trace.stream_status?.status === 'COMPLETE',
      );
      const lastWritten = result.messages.findLastIndex(
        (m) => m.type === 'LOG' && /^batch #\d+ written/.test(m.log.message),
      );
      expect(complete).toBeGreaterThan(lastWritten);
    });
  });
});
