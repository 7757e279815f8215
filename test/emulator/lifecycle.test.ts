// Guards the batch lifecycle as the real SDK sees it: object shapes per the SDK types, in_progress → ended, shuffled results joined by custom_id, list pagination, cancel/delete, the virtual clock (24 h expiry, 29-day archive) and restart persistence.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AnthropicError, BadRequestError, NotFoundError } from '@anthropic-ai/sdk';
import type {
  DeletedMessageBatch,
  MessageBatch,
  MessageBatchIndividualResponse,
} from '@anthropic-ai/sdk/resources/messages/batches';
import type { Message, Usage } from '@anthropic-ai/sdk/resources/messages/messages';
import { describe, expect, it } from 'vitest';
import {
  ask,
  DAY_MS,
  DELETED_BATCH_KEYS,
  expectBatchShape,
  expectKeys,
  expectMessageShape,
  failure,
  HAIKU,
  HOUR_MS,
  resultLines,
  resultsById,
  retrieveEnded,
  RFC3339,
  SONNET,
  harnessPerTest,
  start,
  succeeded,
  textOf,
} from './helpers.js';

const harness = harnessPerTest();

describe('create → retrieve → results', () => {
  it('walks a 60-request batch from in_progress to ended with SDK-shaped objects', async () => {
    const { client, emu } = await harness({ processingMs: 60_000 });
    const n = 60;
    const requests = Array.from({ length: n }, (_, i) =>
      ask(`row-${String(i).padStart(3, '0')}`, `Plain note number ${i} about the weather in town`, {
        model: i % 2 ? SONNET : HAIKU,
      }),
    );

    const created: MessageBatch = await client.messages.batches.create({ requests });
    expectBatchShape(created);
    expect(created.processing_status).toBe('in_progress');
    expect(created.request_counts).toEqual({ processing: n, succeeded: 0, errored: 0, canceled: 0, expired: 0 });
    expect(created.results_url).toBeNull();
    expect(created.ended_at).toBeNull();
    expect(created.cancel_initiated_at).toBeNull();
    expect(created.archived_at).toBeNull();
    expect(created.created_at).toMatch(RFC3339);
    expect(created.expires_at).toMatch(RFC3339);
    expect(Date.parse(created.expires_at) - Date.parse(created.created_at)).toBe(24 * HOUR_MS);

    const polled: MessageBatch = await client.messages.batches.retrieve(created.id);
    expectBatchShape(polled);
    expect(polled.processing_status).toBe('in_progress');
    expect(polled.request_counts.processing).toBe(n);
    expect(polled.results_url).toBeNull();
    // Without a results_url the SDK refuses before calling the results endpoint.
    const early = await failure(client.messages.batches.results(created.id));
    expect(early).toBeInstanceOf(AnthropicError);
    expect((early as Error).message).toContain('No batch `results_url`');
    expect(emu.calls.results).toBe(0);

    emu.advance(60_000);
    const ended = await retrieveEnded(client, created.id);
    expectBatchShape(ended);
    expect(ended.request_counts).toEqual({ processing: 0, succeeded: n, errored: 0, canceled: 0, expired: 0 });
    expect(ended.ended_at).toMatch(RFC3339);
    // The batch ended when its work was done, not when it was polled.
    expect(Date.parse(ended.ended_at!) - Date.parse(ended.created_at)).toBe(60_000);
    expect(ended.results_url).toBe(`${emu.url}/v1/messages/batches/${created.id}/results`);
    expect(new URL(ended.results_url!).origin).toBe(emu.url);
    expect(ended.created_at).toBe(created.created_at);

    const lines: MessageBatchIndividualResponse[] = await resultLines(client, created.id);
    expect(lines).toHaveLength(n);
    const order = lines.map((l) => l.custom_id);
    const requestOrder = requests.map((r) => r.custom_id);
    expect([...order].sort()).toEqual(requestOrder);
    expect(order).not.toEqual(requestOrder); // shuffled: consumers must join by custom_id

    const byId = new Map(lines.map((l) => [l.custom_id, l.result]));
    for (const [i, request] of requests.entries()) {
      const message: Message = succeeded(byId.get(request.custom_id));
      expectMessageShape(message);
      expect(message.model).toBe(request.params.model);
      expect(message.stop_reason).toBe('end_turn');
      expect(textOf(message)).toMatch(/^\[emulator\] /);
      expect(textOf(message)).toContain(`number ${i} about`);
      const usage: Usage = message.usage;
      expect(usage.input_tokens).toBeGreaterThan(0);
      expect(usage.output_tokens).toBeGreaterThan(0);
      expect(usage.service_tier).toBe('batch');
      expect(usage.cache_read_input_tokens).toBe(0);
      expect(usage.cache_creation_input_tokens).toBe(0);
    }
  });

  it('gives each call its request id: _request_id and withResponse on success', async () => {
    const { client } = await harness();
    const created = await client.messages.batches.create({ requests: [ask('one', 'hello')] });
    expect(created._request_id).toMatch(/^req_/);
    const { data, response, request_id } = await client.messages.batches.retrieve(created.id).withResponse();
    expect(data.id).toBe(created.id);
    expect(request_id).toMatch(/^req_/);
    expect(response.headers.get('request-id')).toBe(request_id);
    expect(response.headers.get('content-type')).toContain('application/json');
    expect(request_id).not.toBe(created._request_id);
  });
});

describe('list', () => {
  it('auto-paginates newest first over every batch, with cursors', async () => {
    const { client } = await harness();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await client.messages.batches.create({ requests: [ask(`b${i}`, `batch ${i}`)] })).id);
    const newestFirst = [...ids].reverse();

    const first = await client.messages.batches.list({ limit: 2 });
    expect(first.data.map((b) => b.id)).toEqual(newestFirst.slice(0, 2));
    expect(first.has_more).toBe(true);
    expect(first.first_id).toBe(newestFirst[0]);
    expect(first.last_id).toBe(newestFirst[1]);
    for (const b of first.data) expectBatchShape(b);

    const seen: string[] = [];
    for await (const batch of client.messages.batches.list({ limit: 2 })) seen.push(batch.id);
    expect(seen).toEqual(newestFirst);

    const last = await client.messages.batches.list({ limit: 2, after_id: newestFirst[3] });
    expect(last.data.map((b) => b.id)).toEqual([newestFirst[4]]);
    expect(last.has_more).toBe(false);

    // before_id pages towards newer batches: the ones right before the cursor, still newest first.
    const before = await client.messages.batches.list({ limit: 2, before_id: ids[1] });
    expect(before.data.map((b) => b.id)).toEqual([ids[3], ids[2]]);
    expect(before.has_more).toBe(true);
    const newer: string[] = [];
    for await (const batch of client.messages.batches.list({ limit: 2, before_id: ids[0] })) newer.push(batch.id);
    expect(newer.sort()).toEqual(ids.slice(1).sort());
  });

  it('refuses limit 0 and 1001', async () => {
    const { client } = await harness();
    for (const limit of [0, 1001]) {
      const err = await failure(client.messages.batches.list({ limit }));
      expect(err).toBeInstanceOf(BadRequestError);
      expect((err as BadRequestError).type).toBe('invalid_request_error');
    }
    expect((await client.messages.batches.list({ limit: 1000 })).data).toEqual([]);
  });
});

describe('cancel and delete', () => {
  it('cancels an in-progress batch: canceling, then ended with canceled requests', async () => {
    const { client } = await harness({ processingMs: 10_000 });
    const created = await client.messages.batches.create({
      requests: Array.from({ length: 8 }, (_, i) => ask(`c${i}`, `text ${i}`)),
    });

    const canceling: MessageBatch = await client.messages.batches.cancel(created.id);
    expectBatchShape(canceling);
    expect(canceling.processing_status).toBe('canceling');
    expect(canceling.cancel_initiated_at).toMatch(RFC3339);
    expect(canceling.results_url).toBeNull();
    expect(canceling.request_counts.processing).toBe(8);

    await sleep(50);
    const ended = await retrieveEnded(client, created.id);
    expect(ended.request_counts.canceled).toBeGreaterThan(0);
    expect(ended.request_counts.processing).toBe(0);
    const c = ended.request_counts;
    expect(c.succeeded + c.errored + c.canceled + c.expired).toBe(8);
    expect(ended.cancel_initiated_at).toBe(canceling.cancel_initiated_at);
    const results = await resultsById(client, created.id);
    expect([...results.values()].filter((r) => r.type === 'canceled')).toHaveLength(c.canceled);

    const again = await failure(client.messages.batches.cancel(created.id));
    expect(again).toBeInstanceOf(BadRequestError);
  });

  it('deletes only ended batches; a deleted batch is gone', async () => {
    const { client, emu } = await harness({ processingMs: 10_000 });
    const created = await client.messages.batches.create({ requests: [ask('d1', 'text')] });

    const early = await failure(client.messages.batches.delete(created.id));
    expect(early).toBeInstanceOf(BadRequestError);
    expect((early as BadRequestError).type).toBe('invalid_request_error');

    emu.advance(10_000);
    await retrieveEnded(client, created.id);
    const deleted: DeletedMessageBatch = await client.messages.batches.delete(created.id);
    expect(deleted).toEqual({ id: created.id, type: 'message_batch_deleted' });
    expectKeys(deleted, DELETED_BATCH_KEYS);

    const gone = await failure(client.messages.batches.retrieve(created.id));
    expect(gone).toBeInstanceOf(NotFoundError);
    expect((gone as NotFoundError).type).toBe('not_found_error');
    expect(await failure(client.messages.batches.results(created.id))).toBeInstanceOf(NotFoundError);
    expect((await client.messages.batches.list()).data).toEqual([]);
  });
});

describe('virtual clock', () => {
  it('expires an unfinished batch at 24 h and archives its results at 29 days', async () => {
    const { client, emu } = await harness({ faults: { neverFinish: true } });
    const created = await client.messages.batches.create({
      requests: Array.from({ length: 4 }, (_, i) => ask(`e${i}`, `text ${i}`)),
    });
    emu.advance(23 * HOUR_MS);
    expect((await client.messages.batches.retrieve(created.id)).processing_status).toBe('in_progress');

    emu.advance(2 * HOUR_MS);
    const expired = await retrieveEnded(client, created.id);
    expect(expired.request_counts).toEqual({ processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 4 });
    expect(expired.ended_at).not.toBeNull();
    expect(Date.parse(expired.ended_at!)).toBe(Date.parse(expired.expires_at));
    expect(expired.archived_at).toBeNull();
    const results = await resultsById(client, created.id);
    expect([...results.values()]).toEqual(Array(4).fill({ type: 'expired' }));

    emu.advance(30 * DAY_MS);
    const archived = await client.messages.batches.retrieve(created.id);
    expect(archived.archived_at).toMatch(RFC3339);
    expect(Date.parse(archived.archived_at!) - Date.parse(archived.created_at)).toBe(29 * DAY_MS);
    expect(await failure(client.messages.batches.results(created.id))).toBeInstanceOf(NotFoundError);
  });
});

describe('dataDir persistence', () => {
  it('serves batches and results created before a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'emulator-data-'));
    const first = await start({ dataDir, processingMs: (index) => (index === 0 ? 0 : 60_000) });
    const done = await first.client.messages.batches.create({
      requests: [ask('p1', 'first text'), ask('p2', 'second text')],
    });
    const before = await resultsById(first.client, done.id);
    const pending = await first.client.messages.batches.create({ requests: [ask('p3', 'third text')] });
    await first.emu.close();

    const second = await harness({ dataDir });
    const again = await retrieveEnded(second.client, done.id);
    expect(again.created_at).toBe(done.created_at);
    expect(again.results_url).toBe(`${second.emu.url}/v1/messages/batches/${done.id}/results`);
    expect(await resultsById(second.client, done.id)).toEqual(before);

    expect((await second.client.messages.batches.retrieve(pending.id)).processing_status).toBe('in_progress');
    second.emu.advance(60_000);
    expect(succeeded((await resultsById(second.client, pending.id)).get('p3')).model).toBe(HAIKU);
    const listed = [];
    for await (const b of second.client.messages.batches.list()) listed.push(b.id);
    expect(listed).toEqual([pending.id, done.id]);
  });
});
