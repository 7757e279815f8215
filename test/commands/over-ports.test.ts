// `check` and `cancel` over the Batches API port (connector/ports/), with the fake API of test/pipeline: what
// they ask the API, what each failure becomes (through the one classifier), and cancel's journal time on the
// clock it is given. No HTTP, no emulator, no wall time.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { cancelCommand } from '../../connector/commands/cancel.js';
import { checkCommand } from '../../connector/commands/check.js';
import { MessageWriter } from '../../connector/protocol/writer.js';
import { writeJson } from '../helpers/cli.js';
import { record, setup, state } from '../pipeline/core-run.js';
import { stdout } from '../pipeline/fakes.js';

/** Runs `check` against the fake API; its one CONNECTION_STATUS. */
async function check(t: ReturnType<typeof setup>) {
  const out = stdout([]);
  await checkCommand(writeJson(t.dir, 'config.json', t.raw), new MessageWriter(out.stream), { api: t.api });
  const statuses = out.lines.filter((m) => m.type === 'CONNECTION_STATUS');
  expect(statuses).toHaveLength(1);
  return statuses[0]!.connectionStatus as { status: string; message?: string };
}

describe('check over the Batches API port', () => {
  it('succeeds after one list and one model lookup', async () => {
    const t = setup({ model: 'claude-haiku-4-5' });
    expect(await check(t)).toEqual({ status: 'SUCCEEDED' });
    expect(t.api.calls).toEqual(['list', 'model']);
  });

  it('fails on a refused key without asking for the model, in the classifier’s words', async () => {
    const t = setup({ model: 'claude-haiku-4-5' });
    t.api.failNext('list', 401);
    const status = await check(t);
    expect(status.status).toBe('FAILED');
    expect(status.message).toMatch(
      /^listing batches at emulator failed: HTTP 401 authentication_error: .*check the API key/,
    );
    expect(t.api.calls).toEqual(['list']);
  });

  it('names an unknown model as a config problem, and reports a failed lookup as it is', async () => {
    const t = setup({ model: 'claude-nonexistent-1' });
    const unknown = await check(t);
    expect(unknown.status).toBe('FAILED');
    expect(unknown.message).toMatch(/model "claude-nonexistent-1" is not available at emulator/);
    t.api.models.add('claude-nonexistent-1');
    t.api.failNext('model', 503);
    expect((await check(t)).message).toMatch(/^looking up model "claude-nonexistent-1" failed: HTTP 503/);
  });
});

describe('cancel over the Batches API port', () => {
  it('cancels a run’s pending batch through the port and stamps the journal with the given clock', async () => {
    const t = setup({ wait: 'submit_only' });
    t.api.autoEnd = false;
    const first = await t.start([record(1), record(2), state(1)]).done;
    expect(first.pendingBatches).toBe(1);
    const batchId = t.api.batches[0]!.batch.id;

    const out = new PassThrough();
    const at = Date.parse('2026-02-03T04:05:06Z');
    const cancelled = await cancelCommand({ config: writeJson(t.dir, 'config.json', t.raw) }, out, {
      api: t.api,
      now: () => at,
    });
    expect(cancelled).toEqual([batchId]);
    expect(t.api.calls.filter((c) => c === 'cancel')).toHaveLength(1);
    expect(t.api.batches[0]!.batch.processing_status).toBe('canceling');
    expect(String(out.read())).toContain(`run ${first.runId}: batch ${batchId} canceling`);
    const journal = readFileSync(
      join(t.raw.destination_path, '_claude_batch', 'runs', first.runId, 'journal.jsonl'),
      'utf8',
    )
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; at?: string; batch_ids?: string[] });
    expect(journal.at(-1)).toEqual({ type: 'cancel_requested', batch_ids: [batchId], at: new Date(at).toISOString() });
  });

  it('takes a batch that ended meanwhile as settled (the classifier’s answer to a 409), not as an error', async () => {
    const t = setup({ wait: 'submit_only' });
    t.api.autoEnd = false;
    const first = await t.start([record(1)]).done;
    const batchId = t.api.batches[0]!.batch.id;
    t.api.end(batchId);
    const out = new PassThrough();
    const cancelled = await cancelCommand({ config: writeJson(t.dir, 'config.json', t.raw) }, out, {
      api: t.api,
      now: () => 0,
    });
    expect(cancelled).toEqual([batchId]);
    expect(String(out.read())).toContain(`run ${first.runId}: batch ${batchId} had already ended`);
  });
});
