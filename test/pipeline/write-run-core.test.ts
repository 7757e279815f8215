// The write core in-process, over in-memory ports (fakes.ts): records in → batches with the right custom_ids →
// answers (out of order, an errored request, a create that fails) → rows at the sink → STATEs after their rows.
// Nothing waits on wall time: the fake API ends batches when the test (or its first look) says so.
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { estimateCommand } from '../../connector/commands/estimate.js';
import { writeJson } from '../helpers/cli.js';
import { catalogRaw, record, setup, state, states } from './core-run.js';
import { EPOCH } from './fakes.js';

describe('WriteRun over in-memory ports', () => {
  it('sends each record as a request with its custom_id and writes every answer, whatever order results come in', async () => {
    const t = setup();
    const input = [record(1), record(2), record(3), state(1)];
    const { out, done } = t.start(input);
    const outcome = await done;
    expect(outcome.manifest?.rows_out).toBe(3);
    expect(t.api.batches).toHaveLength(1);
    const ids = input.slice(0, 3).map(t.idOf);
    expect(t.api.batches[0]!.customIds).toEqual(ids);
    expect(new Set(ids).size).toBe(3);
    // The fake answered in reverse order; each row still carries its own request's answer.
    expect(t.sink.rows.map((r) => [r.customId, r.status, r.text])).toEqual(
      ids.map((id) => [id, 'succeeded', `answer to ${id}`]),
    );
    expect(states(out.lines)).toEqual([1]);
  });

  it('resubmits an errored request once, in a follow-up batch, and writes its second answer', async () => {
    const t = setup({}, (id, attempt) =>
      id.endsWith(flaky.slice(-6)) && attempt === 0 ? { error: 'overloaded_error' } : { text: `ok ${id} #${attempt}` },
    );
    const input = [record(1), record(2)];
    const flaky = t.idOf(input[1]!);
    const outcome = await t.start(input).done;
    expect(t.api.batches.map((b) => b.customIds)).toEqual([[t.idOf(input[0]!), flaky], [flaky]]);
    expect(t.sink.rows.find((r) => r.customId === flaky)).toMatchObject({
      status: 'succeeded',
      text: `ok ${flaky} #1`,
    });
    expect(outcome.manifest?.rows_out).toBe(2);
  });

  it('retries a create refused with 500 after checking it made nothing, and pays once', async () => {
    const t = setup();
    t.api.failCreates = [500];
    const outcome = await t.start([record(1), record(2)]).done;
    expect(t.api.calls.filter((c) => c === 'create')).toHaveLength(2);
    // The doubt is settled by listing before the second create.
    expect(t.api.calls.indexOf('list')).toBeLessThan(t.api.calls.lastIndexOf('create'));
    expect(t.api.batches).toHaveLength(1);
    expect(outcome.manifest?.rows_out).toBe(2);
    expect(t.clock.sleeps.length).toBeGreaterThan(0); // the backoff ran on the manual clock
  });

  it('reads time only from its clock: run id, progress traces, waiting times and the manifest follow it', async () => {
    const t = setup();
    t.api.autoEnd = false;
    const { out, done } = t.start([record(1), record(2), state(1)]);
    // The first poll comes after the batch is counted as submitted (and the clock has not moved since create).
    await t.api.calledTimes('list', 1);
    const createdAt = Date.parse(t.api.batches[0]!.batch.created_at);
    await t.clock.sleep(90_000); // the batch has waited at least 90 s on the manual clock
    const at = t.clock.now();
    t.clock.tick(); // the progress cadence is the clock's: one report, now
    t.api.end(t.api.batches[0]!.batch.id);
    const outcome = await done;

    const traces = out.lines.filter((m) => m.type === 'TRACE').map((m) => m.trace as Record<string, unknown>);
    const statusAt = (status: string) =>
      traces.find((tr) => (tr.stream_status as { status?: string } | undefined)?.status === status)?.emitted_at;
    expect(traces.filter((tr) => tr.type === 'ESTIMATE').map((tr) => tr.emitted_at)).toEqual([at]);
    const waiting = out.lines
      .map((m) => (m.log as { message?: string } | undefined)?.message ?? '')
      .find((m) => m.includes('waiting on 1 batches'));
    expect(waiting).toContain(`oldest ${Math.round((at - createdAt) / 1000)}s`);
    expect(statusAt('STARTED')).toBe(EPOCH);
    const manifest = outcome.manifest!;
    expect(manifest.started_at).toBe(new Date(EPOCH).toISOString());
    expect(manifest.finished_at).toBe(new Date(t.clock.now()).toISOString());
    expect(Date.parse(manifest.finished_at) - EPOCH).toBeGreaterThanOrEqual(90_000);
    expect(statusAt('COMPLETE')).toBe(t.clock.now());
    expect(manifest.duration_seconds).toBe(Math.round((t.clock.now() - EPOCH) / 100) / 10);
    expect(outcome.runId).toMatch(/^20260101T000000Z-/);
  });

  it('waits on its clock for a batch the API does not know yet after its create, instead of paying again', async () => {
    const t = setup();
    // The first two lookups answer 404: young on the run's clock (the wall clock says it is months old).
    t.api.unknownAfterCreate = 2;
    const outcome = await t.start([record(1), record(2)]).done;
    expect(t.api.batches).toHaveLength(1);
    // Two 404s, the lookup that finds it ended, and the one the download starts with.
    expect(t.api.calls.filter((c) => c === 'retrieve')).toHaveLength(4);
    expect(t.sink.rows.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
    expect(outcome.manifest?.rows_out).toBe(2);
  });

  it('counts only a paced create (429) as a queue refusal: a 5xx retry waits its backoff, not for room', async () => {
    const t = setup();
    t.api.failCreates = [500, 429, 503];
    const outcome = await t.start([record(1), record(2)]).done;
    expect(t.api.batches).toHaveLength(1);
    expect(outcome.manifest?.rows_out).toBe(2);
    // The create's three retries come first: only the 429's wait may end early when one of our batches ends.
    expect(t.clock.wakeable.slice(0, 3)).toEqual([false, true, false]);
  });

  it('adopts the batch a create made when its answer was lost, instead of paying again', async () => {
    const t = setup();
    t.api.acceptThenFail = 1;
    const outcome = await t.start([record(1), record(2)]).done;
    expect(t.api.batches).toHaveLength(1);
    expect(t.api.calls.filter((c) => c === 'create')).toHaveLength(1);
    expect(t.sink.rows.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
    expect(outcome.manifest?.rows_out).toBe(2);
  });

  it('releases a STATE only after the rows of every record before it are written', async () => {
    const t = setup({ max_requests_per_batch: 2 });
    const release = t.sink.gate();
    const writing = t.sink.writeStarted();
    const { out, done } = t.start([record(1), record(2), state(1), record(3), state(2)]);
    await writing;
    // The first batch's rows are being written: no STATE may be out yet.
    expect(states(out.lines)).toEqual([]);
    release();
    await done;
    expect(states(out.lines)).toEqual([1, 2]);
    const order = t.events.filter((e) => e.startsWith('rows') || e.startsWith('state'));
    expect(order.indexOf('state {"cursor":1}')).toBeGreaterThan(order.indexOf('rows 0'));
    expect(order.indexOf('state {"cursor":2}')).toBeGreaterThan(order.indexOf('rows 1'));
  });

  it('sends identical requests once and gives each record its row', async () => {
    const t = setup({ max_requests_per_batch: 2 });
    // Records 1 and 3 ask the same thing (same body); 3 lands in a later batch and is answered from the first.
    const input = [record(1, 'same'), record(2), record(3, 'same'), record(4, 'same')];
    const outcome = await t.start(input).done;
    const same = t.idOf(input[0]!);
    expect(t.api.batches.flatMap((b) => b.customIds).filter((id) => id === same)).toHaveLength(1);
    expect(t.sink.rows.filter((r) => r.customId === same).map((r) => r.text)).toEqual([
      `answer to ${same}`,
      `answer to ${same}`,
      `answer to ${same}`,
    ]);
    expect(outcome.manifest?.rows_out).toBe(4);
  });

  it('estimate counts the same batches, requests and duplicates as write packs', async () => {
    const t = setup({ max_requests_per_batch: 2 });
    const input = [record(1, 'same'), record(2), record(3, 'same'), record(4), record(5, 'same')];
    await t.start(input).done;
    const sink = new PassThrough();
    const e = await estimateCommand(
      { config: writeJson(t.dir, 'config.json', t.raw), catalog: writeJson(t.dir, 'catalog.json', catalogRaw) },
      Readable.from(input.map((l) => l + '\n')),
      sink,
    );
    expect(e.requests_to_send).toBe(t.api.batches.reduce((n, b) => n + b.customIds.length, 0));
    expect(e.batches).toBe(t.api.batches.length);
    expect(e.duplicates).toBe(2);
  });

  it('a run stopped after submitting is resumed: re-sent records are not sent again, and each is one row', async () => {
    const t = setup();
    t.api.autoEnd = false;
    const input = [record(1), record(2), state(1)];
    const stop = new AbortController();
    const first = t.start(input, { signal: stop.signal });
    await t.api.created(1);
    stop.abort();
    await expect(first.done).rejects.toThrow(/stopped on request/);
    expect(states(first.out.lines)).toEqual([]);
    expect(t.sink.rows).toHaveLength(0);

    t.api.end(t.api.batches[0]!.batch.id);
    const second = t.start(input);
    const outcome = await second.done;
    expect(outcome.resumed).toBe(true);
    expect(outcome.recordsAlreadyOwned).toBe(2);
    expect(t.api.batches).toHaveLength(1);
    expect(t.sink.rows.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
    expect(states(second.out.lines)).toEqual([1]);
  });

  it('submit_only leaves a batch processing; the next write collects it without sending it again', async () => {
    const t = setup({ wait: 'submit_only' });
    t.api.autoEnd = false;
    const first = await t.start([record(1), record(2), state(7)]).done;
    expect(first.pendingBatches).toBe(1);
    expect(t.sink.rows).toHaveLength(0);

    t.api.end(t.api.batches[0]!.batch.id);
    const second = await t.start([]).done;
    expect(second.collectedRuns).toEqual([first.runId]);
    expect(t.api.batches).toHaveLength(1);
    expect(t.sink.rows.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
  });
});
