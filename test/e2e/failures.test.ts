// Guards "retry only what failed": per-request failures in the results (errored, expired) are resubmitted
// in follow-up batches up to max_attempts, permanent ones become rows with their error, and per-call
// failures (429 with retry-after, 5xx/529, dropped downloads) are ridden out without paying twice.
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

const fresh = freshInputs('f');

const statuses = (destination: string) =>
  duck(
    `SELECT _claude_status AS status, _claude_error_type AS error_type, count(*)::INT AS n FROM read_parquet('${destination}/**/*.parquet') GROUP BY ALL ORDER BY ALL`,
  );

describe('per-request failures', () => {
  it('resubmits only the errored (retryable) requests, and every row ends succeeded', async () => {
    emu.faults.erroredShare = 0.4;
    emu.faults.erroredType = 'overloaded_error';
    const { destination, write } = destinationSetup(emu);
    const { input, ids } = fresh();
    const before = new Map(emu.submissions());
    const result = await write(input);
    expect(result.code, result.stderr).toBe(0);
    const rows = await expectEachIdOnce(destination, ids);
    const sent = submittedSince(
      emu,
      before,
      rows.map((r) => String(r.custom_id)),
    );
    const twice = [...sent.values()].filter((n) => n === 2).length;
    expect(twice).toBeGreaterThan(0); // the errored ones went again…
    expect(twice).toBeLessThan(25); // …and only those
    expect([...sent.values()].every((n) => n === 1 || n === 2)).toBe(true);
    const rounds = journalOf(destination).filter((e) => e.type === 'round_sealed');
    expect(rounds.reduce((n, e) => n + e.requests, 0)).toBe(twice);
    expect(rounds.every((e) => Object.keys(e.reasons).join() === 'overloaded_error')).toBe(true);
  });

  it('stops at max_attempts and writes the last error on the row', async () => {
    emu.faults.erroredShare = 0.4;
    emu.faults.erroredType = 'api_error';
    emu.faults.erroredAttempts = 5;
    const { destination, write } = destinationSetup(emu, { max_attempts: 2 });
    const { input, ids } = fresh();
    const before = new Map(emu.submissions());
    expect((await write(input)).code).toBe(0);
    const byStatus = await statuses(destination);
    const errored = byStatus.find((r) => r.status === 'errored');
    expect(errored?.error_type).toBe('api_error');
    expect(byStatus.reduce((n, r) => n + Number(r.n), 0)).toBe(25);
    const rows = await duck(
      `SELECT _claude_custom_id AS c, _claude_status AS s FROM read_parquet('${destination}/**/*.parquet')`,
    );
    const sent = submittedSince(
      emu,
      before,
      rows.map((r) => String(r.c)),
    );
    // Errored requests were sent exactly max_attempts times; the others once.
    for (const r of rows) expect(sent.get(String(r.c))).toBe(r.s === 'errored' ? 2 : 1);
    expect(rows.map((r) => r.s).sort()).toContain('succeeded');
    expect(ids).toHaveLength(25);
  });

  it('never resends an invalid request: it becomes a row with invalid_request_error', async () => {
    // The emulator knows haiku's output ceiling (64k); the API reports the bad request per result, not on create.
    const { destination, write } = destinationSetup(emu, { max_tokens: 100_000, model: 'claude-haiku-4-5' });
    const { input } = fresh(12);
    const before = new Map(emu.submissions());
    const result = await write(input);
    expect(result.code, result.stderr).toBe(0);
    expect(await statuses(destination)).toEqual([{ status: 'errored', error_type: 'invalid_request_error', n: 12 }]);
    const rows = await duck(
      `SELECT _claude_custom_id AS c, _claude_error AS e FROM read_parquet('${destination}/**/*.parquet')`,
    );
    expect(String(rows[0]!.e)).toMatch(/max_tokens/);
    expect(
      [
        ...submittedSince(
          emu,
          before,
          rows.map((r) => String(r.c)),
        ).values(),
      ].every((n) => n === 1),
    ).toBe(true);
  });

  it('a model the API does not know: rows errored with not_found_error, each request sent once', async () => {
    const { destination, write } = destinationSetup(emu, { model: 'claude-nonexistent-9' });
    const { input } = fresh(6);
    const before = new Map(emu.submissions());
    expect((await write(input)).code).toBe(0);
    expect(await statuses(destination)).toEqual([{ status: 'errored', error_type: 'not_found_error', n: 6 }]);
    const rows = await duck(`SELECT _claude_custom_id AS c FROM read_parquet('${destination}/**/*.parquet')`);
    expect(
      [
        ...submittedSince(
          emu,
          before,
          rows.map((r) => String(r.c)),
        ).values(),
      ].every((n) => n === 1),
    ).toBe(true);
  });

  it('resubmits expired requests by default, and records them as expired when told not to', async () => {
    emu.faults.expiredShare = 0.3;
    const on = destinationSetup(emu);
    const a = fresh();
    expect((await on.write(a.input)).code).toBe(0);
    await expectEachIdOnce(on.destination, a.ids);

    emu.resetFaults();
    emu.faults.expiredShare = 0.3;
    const off = destinationSetup(emu, { retry_expired: false });
    const b = fresh();
    expect((await off.write(b.input)).code).toBe(0);
    const byStatus = await statuses(off.destination);
    expect(byStatus.find((r) => r.status === 'expired')?.n).toBeGreaterThan(0);
    expect(byStatus.reduce((n, r) => n + Number(r.n), 0)).toBe(25);
  });
});

describe('per-call failures', () => {
  it('waits out a 429 with retry-after on create without making a second batch', async () => {
    emu.faults.http.push({ endpoint: 'create', status: 429, retryAfterSeconds: 1, calls: [1] });
    const { destination, write } = destinationSetup(emu);
    const { input, ids } = fresh();
    const batchesBefore = (await emu.batches()).length;
    const started = Date.now();
    const result = await write(input);
    expect(result.code, result.stderr).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect((await emu.batches()).length - batchesBefore).toBe(3);
    await expectEachIdOnce(destination, ids);
    expect(result.messages.some((m) => m.type === 'LOG' && /create failed.*429/.test(m.log.message))).toBe(true);
  });

  it('adopts the batch when create succeeded but the answer was a 500 (the duplicate-batch trap)', async () => {
    emu.faults.http.push({ endpoint: 'create', status: 500, calls: [1], afterEffect: true });
    const { destination, write } = destinationSetup(emu);
    const { input, ids } = fresh();
    const before = new Map(emu.submissions());
    const batchesBefore = (await emu.batches()).length;
    const result = await write(input);
    expect(result.code, result.stderr).toBe(0);
    expect((await emu.batches()).length - batchesBefore).toBe(3);
    const rows = await expectEachIdOnce(destination, ids);
    expect(
      [
        ...submittedSince(
          emu,
          before,
          rows.map((r) => String(r.custom_id)),
        ).values(),
      ].every((n) => n === 1),
    ).toBe(true);
    expect(journalOf(destination).some((e) => e.type === 'batch_submitted' && e.reconciled)).toBe(true);
  });

  it('adopts a batch whose create went through long after the first attempt (429s for 16 minutes, then a 500)', async () => {
    const own = await startEmulator({ apiKeys: ['test-key'] });
    try {
      // Create #1: 429 (queue full). Create #2: accepted, but the answer is a 500 (did it go through?).
      own.faults.http.push(
        { endpoint: 'create', status: 429, retryAfterSeconds: 1, calls: [1] },
        { endpoint: 'create', status: 500, afterEffect: true, calls: [2] },
      );
      const { destination, write } = destinationSetup(own, { api_patience_seconds: 1800 });
      const { input, ids } = fresh(5);
      let advanced = false;
      const result = await write(input, {
        onMessage: (m) => {
          // Stands for 16 minutes of 429s, well within api_patience_seconds: the API's clock moves on.
          if (!advanced && m.type === 'LOG' && /create failed/.test(m.log.message)) {
            advanced = true;
            own.advance(16 * 60_000);
          }
        },
      });
      expect(result.code, result.stderr).toBe(0);
      expect(advanced).toBe(true);
      expect(await own.batches()).toHaveLength(1);
      await expectEachIdOnce(destination, ids);
      expect(Math.max(...own.submissions().values())).toBe(1);
    } finally {
      await own.close();
    }
  });

  it('rides out 5xx and 529 on retrieve and a download cut mid-body', async () => {
    emu.faults.http.push(
      { endpoint: 'retrieve', status: 529, calls: [1, 2] },
      { endpoint: 'retrieve', status: 500, calls: [4] },
    );
    emu.faults.dropResultsAfterLines = 3;
    emu.faults.dropResultsTimes = 2;
    const { destination, write } = destinationSetup(emu);
    const { input, ids } = fresh();
    const result = await write(input);
    expect(result.code, result.stderr).toBe(0);
    expect(traceErrors(result.messages)).toEqual([]);
    await expectEachIdOnce(destination, ids);
  });

  it('stops with a config_error on a spend-limit 429 (no retry can succeed)', async () => {
    emu.faults.http.push({ endpoint: 'create', status: 429, errorCode: 'enforced_spend_limit_reached' });
    const { write } = destinationSetup(emu);
    const { input } = fresh(5);
    const result = await write(input);
    expect(result.code).not.toBe(0);
    const [trace] = traceErrors(result.messages);
    expect(trace!.trace.error.failure_type).toBe('config_error');
    expect(trace!.trace.error.message).toMatch(/spend limit/);
  });
});
