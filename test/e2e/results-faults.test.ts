// Guards the defined outcome of each kind of damaged results file, through the built CLI against the
// emulator: malformed, missing and truncated-away lines are resubmitted and every record still ends as exactly
// one row; an unknown result type is a final errored row (unknown_result_type), never resent; lines for
// custom_ids never sent produce no row.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { traceErrors } from '../helpers/cli.js';
import { duck } from '../helpers/duckdb.js';
import { destinationSetup, expectEachIdOnce, freshInputs, journalOf, submittedSince } from '../helpers/resume.js';

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator({ apiKeys: ['test-key'] });
});
afterAll(() => emu.close());
beforeEach(() => emu.resetFaults());

const fresh = freshInputs('rf');

/** Runs a sync (25 records, batches of 10/10/5) and returns how often each row's request was sent. */
async function sync(extra: Record<string, unknown> = {}) {
  const { destination, write } = destinationSetup(emu, extra);
  const { input, ids } = fresh();
  const before = new Map(emu.submissions());
  const result = await write(input);
  expect(result.code, result.stderr + JSON.stringify(traceErrors(result.messages))).toBe(0);
  const rows = await duck(
    `SELECT id, _claude_custom_id AS c, _claude_status AS s, _claude_error_type AS e FROM read_parquet('${destination}/**/*.parquet')`,
  );
  const sent = submittedSince(
    emu,
    before,
    rows.map((r) => String(r.c)),
  );
  const rounds = journalOf(destination).filter((e) => e.type === 'round_sealed');
  return { destination, ids, rows, sent, rounds, result };
}

const resentCount = (sent: Map<string, number>) => [...sent.values()].filter((n) => n === 2).length;

describe('damaged results files', () => {
  it('malformed lines (junk, invalid UTF-8, wrong shape, blank): those requests are resubmitted; one row each', async () => {
    emu.faults.resultsMalformedLines = 6;
    const { destination, ids, sent, rounds } = await sync();
    await expectEachIdOnce(destination, ids);
    // 6 lines in each batch of 10, all 5 lines of the last batch.
    expect(resentCount(sent)).toBe(17);
    expect([...sent.values()].every((n) => n === 1 || n === 2)).toBe(true);
    expect(rounds.reduce((n, e) => n + e.requests, 0)).toBe(17);
    expect(rounds.every((e) => Object.keys(e.reasons).join() === 'missing')).toBe(true);
  });

  it('missing lines: resubmitted as missing; one row each', async () => {
    emu.faults.resultsMissingShare = 0.3;
    const { destination, ids, sent, rounds } = await sync();
    await expectEachIdOnce(destination, ids);
    const resent = resentCount(sent);
    expect(resent).toBeGreaterThan(0);
    expect(resent).toBeLessThan(25);
    expect(rounds.reduce((n, e) => n + e.requests, 0)).toBe(resent);
    expect(rounds.every((e) => Object.keys(e.reasons).join() === 'missing')).toBe(true);
  });

  it('a results body that ends cleanly after n lines: the rest are resubmitted; one row each', async () => {
    emu.faults.resultsTruncateAfterLines = 4;
    const { destination, ids, sent } = await sync();
    await expectEachIdOnce(destination, ids);
    expect(resentCount(sent)).toBe(6 + 6 + 1);
  });

  it('a line that stays missing past max_attempts: a row with status missing, never dropped', async () => {
    emu.faults.resultsMissingShare = 0.3;
    emu.faults.resultsFaultAttempts = 5;
    const { rows, sent } = await sync({ max_attempts: 2 });
    expect(rows).toHaveLength(25);
    expect(new Set(rows.map((r) => r.id)).size).toBe(25);
    const missing = rows.filter((r) => r.s === 'missing');
    expect(missing.length).toBeGreaterThan(0);
    for (const r of missing) {
      expect(r.e).toBe('result_missing');
      expect(sent.get(String(r.c))).toBe(2);
    }
  });

  it('sent 3 times, the last answer unusable: a row missing whose attempt counts every send (issue 14)', async () => {
    // Its own emulator whose batches end only when its clock is moved on: each round ends on the connector's own
    // "submitted" log line, and the last round's line goes missing, so the order is decided by events alone.
    const own = await startEmulator({
      apiKeys: ['test-key'],
      processingMs: 60_000,
      faults: { expiredShare: 1, expiredAttempts: 2 },
    });
    try {
      const { destination, write } = destinationSetup(own, { max_attempts: 3 });
      const { input, ids } = fresh(3);
      const result = await write(input, {
        onMessage: (m) => {
          if (m.type !== 'LOG' || !/ submitted as msgbatch_/.test(m.log.message)) return;
          if (/\(attempt 3\)/.test(m.log.message))
            Object.assign(own.faults, { resultsMissingShare: 1, resultsFaultAttempts: 5 });
          own.advance(61_000);
        },
      });
      expect(result.code, result.stderr).toBe(0);
      const rows = await duck(
        `SELECT id, _claude_custom_id AS c, _claude_status AS s, _claude_error_type AS e, _claude_attempt AS a FROM read_parquet('${destination}/**/*.parquet') ORDER BY id`,
      );
      expect(rows.map((r) => r.id)).toEqual(ids);
      for (const r of rows) {
        expect([r.s, r.e, Number(r.a)]).toEqual(['missing', 'result_missing', 3]);
        expect(own.submissions().get(String(r.c))).toBe(3);
      }
    } finally {
      await own.close();
    }
  });

  it('an unknown result type: a final errored row with unknown_result_type, not resubmitted', async () => {
    emu.faults.resultsUnknownTypeShare = 0.3;
    const { rows, sent, rounds } = await sync();
    expect(rows).toHaveLength(25);
    expect(new Set(rows.map((r) => r.id)).size).toBe(25);
    const unknown = rows.filter((r) => r.s === 'errored');
    expect(unknown.length).toBeGreaterThan(0);
    expect(unknown.every((r) => r.e === 'unknown_result_type')).toBe(true);
    expect(rows.filter((r) => r.s !== 'errored').every((r) => r.s === 'succeeded')).toBe(true);
    expect([...sent.values()].every((n) => n === 1)).toBe(true);
    expect(rounds).toEqual([]);
  });

  it('lines for custom_ids never sent: no row for them, nothing resubmitted', async () => {
    emu.faults.resultsStrayLines = 3;
    const { destination, ids, rows, sent, rounds, result } = await sync();
    await expectEachIdOnce(destination, ids);
    expect(rows.some((r) => String(r.c).startsWith('stray_'))).toBe(false);
    expect([...sent.values()].every((n) => n === 1)).toBe(true);
    expect(rounds).toEqual([]);
    expect(result.messages.some((m) => m.type === 'LOG' && /ignored 3 result lines/.test(m.log.message))).toBe(true);
  });

  it("duplicates answered from an earlier batch whose first round was lost take that batch's final answers", async () => {
    // 10 distinct requests, each five times: batch 0 sends them; the duplicates in batch 1 borrow its answers.
    // Batch 0's results are gone (404) until its requests go out again: round 0 is lost, round 1 answers.
    emu.faults.http = [{ endpoint: 'results', status: 404, times: 6 }];
    const { destination, write } = destinationSetup(emu);
    const { input } = fresh();
    const lines = input.filter((l) => l.includes('"RECORD"')).slice(0, 10);
    const result = await write([...lines, ...lines, ...lines, ...lines, ...lines]);
    expect(result.code, result.stderr).toBe(0);
    expect(journalOf(destination).some((e) => e.type === 'batch_lost' && e.seq === 0)).toBe(true);
    const rows = await duck(
      `SELECT _claude_status AS s, _claude_attempt AS a, _claude_batch_id AS b, filename AS f FROM read_parquet('${destination}/**/*.parquet', filename = true)`,
    );
    expect(rows).toHaveLength(50);
    const borrowed = rows.filter((r) => String(r.f).includes('part-00001'));
    expect(borrowed.length).toBeGreaterThan(0);
    const original = rows.find((r) => String(r.f).includes('part-00000'))!;
    expect(original.s).toBe('succeeded');
    expect(Number(original.a)).toBeGreaterThanOrEqual(2);
    for (const r of borrowed) expect(r).toMatchObject({ s: 'succeeded', a: original.a, b: original.b });
  });

  it('everything at once, with a download cut mid-body: still one row per record', async () => {
    Object.assign(emu.faults, {
      resultsMalformedLines: 2,
      resultsMissingShare: 0.2,
      resultsUnknownTypeShare: 0.1,
      resultsStrayLines: 2,
      dropResultsAfterLines: 3,
      dropResultsTimes: 2,
    });
    const { rows } = await sync();
    expect(rows).toHaveLength(25);
    expect(new Set(rows.map((r) => r.id)).size).toBe(25);
    expect(rows.every((r) => r.s === 'succeeded' || (r.s === 'errored' && r.e === 'unknown_result_type'))).toBe(true);
  });
});
