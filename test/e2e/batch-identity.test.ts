// Guards "no custom_id is ever submitted again while an earlier submission of it may still answer" for
// creates in doubt: a 5xx after the API made the batch, a kill between the journal's `submitting` entry and
// the batch id reaching it, and another process's batch of the same size on the same key. The emulator's
// submission log (every create per custom_id) is the auditor.
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { paidTwice, startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { traceErrors } from '../helpers/cli.js';
import { duck } from '../helpers/duckdb.js';
import { destinationSetup, expectEachIdOnce, freshInputs, journalOf } from '../helpers/resume.js';

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator({ apiKeys: ['test-key'] });
});
afterAll(() => emu.close());
beforeEach(() => emu.resetFaults());

const fresh = freshInputs('id');

/** The custom_ids of these rows that more than one create carried. */
const twice = (rows: Array<Record<string, unknown>>) => {
  const log = paidTwice(emu.submissionLog());
  return rows.map((r) => String(r.custom_id)).filter((id) => log.has(id));
};

describe('a create in doubt', () => {
  it('two creates failing with 500, the second after its batch was made: each request is sent once (issue 14)', async () => {
    // The retry-after hints order the two doubts without any timing in the test: the first create's retry (2 s)
    // comes after the second create's batch was made, and before the second create's retry (4 s).
    emu.faults.http.push(
      { endpoint: 'create', status: 500, calls: [1], retryAfterSeconds: 2 },
      { endpoint: 'create', status: 500, calls: [2], afterEffect: true, retryAfterSeconds: 4 },
    );
    const { destination, write } = destinationSetup(emu, { batch_ramp_up: false, api_patience_seconds: 30 });
    const { input, ids } = fresh(20);
    const batchesBefore = (await emu.batches()).length;
    const result = await write(input);
    expect(result.code, result.stderr).toBe(0);
    const rows = await expectEachIdOnce(destination, ids);
    expect(twice(rows)).toEqual([]);
    expect((await emu.batches()).length - batchesBefore).toBe(2);
    expect(journalOf(destination).filter((e) => e.type === 'batch_submitted' && e.reconciled)).toHaveLength(1);
  });

  it('another process made a batch of the same size meanwhile: ours is found among the candidates, not created again', async () => {
    const { destination, write } = destinationSetup(emu, { batch_ramp_up: false });
    const { input, ids } = fresh(10);
    // A foreign batch of 10 requests, created just before our create: the closest candidate to our intent.
    const client = new Anthropic({ apiKey: 'test-key', baseURL: emu.url });
    const foreign = await client.messages.batches.create({
      requests: Array.from({ length: 10 }, (_, i) => ({
        custom_id: `foreign-${Date.now()}-${i}`,
        params: { model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user' as const, content: 'hi' }] },
      })),
    });
    // Our batch will look a minute younger than it is, so the foreign one is the first candidate.
    emu.advance(60_000);
    const first = await write(input, { env: { CLAUDE_BATCH_FAILPOINT: 'after_create' } });
    expect(first.signal, first.stderr).toBe('SIGKILL');
    const second = await write(input);
    expect(second.code, second.stderr).toBe(0);
    expect(traceErrors(second.messages)).toEqual([]);
    const rows = await expectEachIdOnce(destination, ids);
    expect(twice(rows)).toEqual([]);
    const adopted = journalOf(destination).filter((e) => e.type === 'batch_submitted');
    expect(adopted[0]).toMatchObject({ batch_id: foreign.id, reconciled: true });
    // Every candidate was tried in turn (other tests' batches of 10 on this emulator are candidates too), ours last.
    const ours = adopted.at(-1)!;
    expect(adopted[0]!.alternates.at(-1)).toBe(ours.batch_id);
    expect(adopted.every((e) => e.reconciled)).toBe(true);
    const answeredBy = await duck(
      `SELECT DISTINCT _claude_batch_id AS b FROM read_parquet('${destination}/**/*.parquet')`,
    );
    expect(answeredBy.map((r) => r.b)).toEqual([ours.batch_id]);
  });
});
