// In-memory stand-ins for the write core's ports (connector/ports/, pipeline/output-sink.ts): a Batches API
// driven by explicit steps, a sink that keeps rows in memory, and a manual clock. No HTTP, no wall time.
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import Anthropic from '@anthropic-ai/sdk';
import type { BatchesApi, BatchPage, CreateBodyStream, MessageBatch } from '../../connector/ports/batches-api.js';
import type { Clock } from '../../connector/ports/clock.js';
import type { OutputSink } from '../../connector/pipeline/output-sink.js';
import { indexRound } from '../../connector/batches/results-file.js';
import type { ResultIndex, SpooledRecord, StreamTally } from '../../connector/types/shared.js';

/** What the fake answers for one request: its text, or an error type. */
export type Answer = { text: string } | { error: string };

interface FakeBatch {
  batch: MessageBatch;
  customIds: string[];
  maxTokens: number[];
  /** Retrieves left that answer 404 (and lists that leave it out): the API does not know it yet. */
  hidden: number;
}

/** Where every ManualClock starts: far from the wall clock, so a wall-clock read in the core shows. */
export const EPOCH = Date.parse('2026-01-01T00:00:00Z');

/**
 * The Message Batches API in memory. A batch is created `in_progress`; it ends when the test calls end()
 * (or at once, under `autoEnd`), answering each request with `answer(customId, attempt)` (attempt = how many
 * earlier batches carried that custom_id), in the order `order` gives (results are not in request order).
 * `failCreates` makes the next creates throw the given HTTP statuses; `acceptThenFail` makes the next create
 * make its batch and then lose the answer (a 500 after the API accepted it); `unknownAfterCreate` makes each
 * new batch unknown (404, absent from lists) to that many retrieves, as the API may be right after a create;
 * failNext() makes the next calls of another kind answer with the given statuses; `models` are the models
 * that exist.
 */
export class FakeBatchesApi implements BatchesApi {
  readonly batches: FakeBatch[] = [];
  readonly calls: string[] = [];
  failCreates: number[] = [];
  acceptThenFail = 0;
  unknownAfterCreate = 0;
  models = new Set(['claude-haiku-4-5']);
  autoEnd = true;
  order: (ids: string[]) => string[] = (ids) => [...ids].reverse();
  private readonly sent = new Map<string, number>();
  private readonly createdWaiters: Array<{ n: number; resolve: () => void }> = [];
  private readonly callWaiters: Array<{ call: string; n: number; resolve: () => void }> = [];
  private readonly failing = new Map<string, number[]>();

  constructor(
    private readonly clock: ManualClock,
    private readonly answer: (customId: string, attempt: number) => Answer = (id) => ({ text: `answer to ${id}` }),
  ) {}

  async create(body: CreateBodyStream): Promise<MessageBatch> {
    this.called('create');
    const chunks: Buffer[] = [];
    for await (const chunk of body.chunks()) chunks.push(chunk);
    const text = Buffer.concat(chunks);
    if (text.length !== body.bytes) throw new Error(`body is ${text.length} bytes, announced ${body.bytes}`);
    const status = this.failCreates.shift();
    if (status !== undefined) throw apiError(status);
    const { requests } = JSON.parse(text.toString('utf8')) as {
      requests: Array<{ custom_id: string; params: { max_tokens: number } }>;
    };
    const id = `msgbatch_fake${String(this.batches.length).padStart(4, '0')}`;
    const batch: MessageBatch = {
      id,
      type: 'message_batch',
      processing_status: 'in_progress',
      request_counts: { processing: requests.length, succeeded: 0, errored: 0, canceled: 0, expired: 0 },
      created_at: new Date(this.clock.now()).toISOString(),
      expires_at: new Date(this.clock.now() + 86_400_000).toISOString(),
      ended_at: null,
      cancel_initiated_at: null,
      archived_at: null,
      results_url: null,
    };
    this.batches.push({
      batch,
      customIds: requests.map((r) => r.custom_id),
      maxTokens: requests.map((r) => r.params.max_tokens),
      hidden: this.unknownAfterCreate,
    });
    for (const w of this.createdWaiters.filter((w) => this.batches.length >= w.n)) w.resolve();
    if (this.acceptThenFail > 0) {
      this.acceptThenFail--;
      throw apiError(500);
    }
    return { ...batch };
  }

  /** Resolves once `n` batches exist. */
  created(n: number): Promise<void> {
    if (this.batches.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.createdWaiters.push({ n, resolve }));
  }

  /** Resolves once `call` has been made `n` times. */
  calledTimes(call: 'create' | 'retrieve' | 'list' | 'results' | 'cancel', n: number): Promise<void> {
    if (this.calls.filter((c) => c === call).length >= n) return Promise.resolve();
    return new Promise((resolve) => this.callWaiters.push({ call, n, resolve }));
  }

  /** The next calls of `call` (not create: see failCreates) answer these HTTP statuses, in turn. */
  failNext(call: 'retrieve' | 'list' | 'results' | 'cancel' | 'model', ...statuses: number[]): void {
    this.failing.set(call, [...(this.failing.get(call) ?? []), ...statuses]);
  }

  private called(call: string): void {
    this.calls.push(call);
    const made = this.calls.filter((c) => c === call).length;
    for (const w of this.callWaiters.filter((w) => w.call === call && made >= w.n)) {
      this.callWaiters.splice(this.callWaiters.indexOf(w), 1);
      w.resolve();
    }
    const status = this.failing.get(call)?.shift();
    if (status !== undefined) throw apiError(status);
  }

  /** Ends a batch: every request gets its answer. */
  end(id: string): void {
    const b = this.find(id);
    if (b.batch.processing_status === 'ended') return;
    const counts = { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 };
    const lines: string[] = [];
    for (const customId of this.order(b.customIds)) {
      const attempt = this.sent.get(customId) ?? 0;
      this.sent.set(customId, attempt + 1);
      const a = this.answer(customId, attempt);
      if ('error' in a) counts.errored++;
      else counts.succeeded++;
      lines.push(
        JSON.stringify({
          custom_id: customId,
          result:
            'error' in a
              ? { type: 'errored', error: { type: 'error', error: { type: a.error, message: 'fake failure' } } }
              : succeeded(a.text),
        }),
      );
    }
    this.bodies.set(id, lines.join('\n') + '\n');
    Object.assign(b.batch, {
      processing_status: 'ended',
      request_counts: counts,
      ended_at: new Date(this.clock.now()).toISOString(),
      results_url: `https://fake.invalid/${id}/results`,
    });
  }

  private readonly bodies = new Map<string, string>();

  async retrieve(batchId: string): Promise<MessageBatch> {
    this.called('retrieve');
    const b = this.find(batchId);
    if (b.hidden > 0) {
      b.hidden--;
      throw apiError(404);
    }
    return this.look(b);
  }

  async list(params: { limit: number; after_id?: string }): Promise<BatchPage> {
    this.called('list');
    const newest = [...this.batches].filter((b) => b.hidden === 0).reverse();
    const from = params.after_id ? newest.findIndex((b) => b.batch.id === params.after_id) + 1 : 0;
    const page = newest.slice(from, from + params.limit);
    return { data: page.map((b) => this.look(b)), has_more: from + params.limit < newest.length };
  }

  async results(resultsUrl: string): Promise<Response> {
    this.called('results');
    const id = resultsUrl.split('/').at(-2)!;
    const body = this.bodies.get(id);
    if (body === undefined) throw apiError(404);
    return new Response(body);
  }

  /** Cancelling a batch that has ended is a 409, as at the API; otherwise it is canceling from now on. */
  async cancel(batchId: string): Promise<MessageBatch> {
    this.called('cancel');
    const b = this.find(batchId);
    if (b.batch.processing_status === 'ended') throw apiError(409);
    Object.assign(b.batch, {
      processing_status: 'canceling',
      cancel_initiated_at: new Date(this.clock.now()).toISOString(),
    });
    return { ...b.batch };
  }

  async model(modelId: string): Promise<{ id: string }> {
    this.called('model');
    if (!this.models.has(modelId)) throw apiError(404);
    return { id: modelId };
  }

  /** What a look at a batch shows (under autoEnd, the first look ends it). */
  private look(b: FakeBatch): MessageBatch {
    if (this.autoEnd) this.end(b.batch.id);
    return { ...b.batch, request_counts: { ...b.batch.request_counts } };
  }

  private find(id: string): FakeBatch {
    const b = this.batches.find((x) => x.batch.id === id);
    if (!b) throw apiError(404);
    return b;
  }
}

function succeeded(text: string) {
  return {
    type: 'succeeded',
    message: {
      id: 'msg_fake',
      type: 'message',
      role: 'assistant',
      model: 'claude-fake',
      content: [{ type: 'text', text }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 5 },
    },
  };
}

export function apiError(status: number): Error {
  const types: Record<number, string> = {
    401: 'authentication_error',
    404: 'not_found_error',
    409: 'invalid_request_error',
    429: 'rate_limit_error',
  };
  const type = types[status] ?? 'api_error';
  return Anthropic.APIError.generate(
    status,
    { type: 'error', error: { type, message: `fake ${status}` } },
    `fake ${status}`,
    new Headers(),
  );
}

/**
 * Virtual time: a sleep moves the clock on by its length and resolves on the next turn of the event loop
 * (so I/O goes on); periodic ticks fire only when the test calls tick().
 */
export class ManualClock implements Clock {
  private ms = EPOCH;
  readonly sleeps: number[] = [];
  /** For each sleep, whether it was given a `wake` that may end it early (admission control's, after a refusal). */
  readonly wakeable: boolean[] = [];
  private readonly ticks = new Set<() => void>();

  now(): number {
    return this.ms;
  }

  sleep = (ms: number, wake?: Promise<void>): Promise<void> => {
    this.sleeps.push(ms);
    this.wakeable.push(wake !== undefined);
    this.ms += ms;
    return new Promise((resolve) => setImmediate(resolve));
  };

  every(_ms: number, tick: () => void): () => void {
    this.ticks.add(tick);
    return () => this.ticks.delete(tick);
  }

  tick(): void {
    for (const t of this.ticks) t();
  }
}

/** A row as the fake sink got it. */
export interface Row {
  seq: number;
  customId: string;
  stream: string;
  data: unknown;
  status: string;
  text?: string;
}

/**
 * The output port in memory: each seq's rows, joined from the spooled records and the results the core
 * indexed. `events` logs each write as `rows <seq>`; a test may hold writes back with gate().
 */
export class FakeSink implements OutputSink {
  readonly where = 'in memory (test)';
  readonly rows: Row[] = [];
  readonly events: string[];
  private gateOpen: Promise<void> = Promise.resolve();
  private openGate: () => void = () => undefined;
  private writing: Array<() => void> = [];

  constructor(events: string[] = []) {
    this.events = events;
  }

  /** Holds every write until the returned function is called. */
  gate(): () => void {
    this.gateOpen = new Promise((resolve) => (this.openGate = resolve));
    return () => this.openGate();
  }

  /** Resolves once a write has started (and waits at the gate, if one is shut). */
  writeStarted(): Promise<void> {
    return new Promise((resolve) => this.writing.push(resolve));
  }

  async write(_ctx: unknown, seq: number, recordsPath: string, results: Parameters<OutputSink['write']>[3]) {
    for (const w of this.writing.splice(0)) w();
    await this.gateOpen;
    const tallies = new Map<string, StreamTally>();
    for (const line of readFileSync(recordsPath, 'utf8').split('\n').filter(Boolean)) {
      const r = JSON.parse(line) as SpooledRecord;
      const row: Row = { seq, customId: r.custom_id, stream: r.stream, data: r.data, status: 'missing' };
      if (r.skip) row.status = 'skipped';
      else if (r.cached) Object.assign(row, { status: 'cached', text: r.cached });
      else {
        const from = r.answer_from === undefined ? results : results.foreign?.get(r.answer_from);
        Object.assign(
          row,
          answerOf(from?.index, from?.files ?? [], r.custom_id) ??
            (results.unanswered ? { status: results.unanswered.status } : {}),
        );
      }
      this.rows.push(row);
      const t = tallies.get(r.stream) ?? emptyTally(r.stream, seq);
      t.rows++;
      t.byStatus[row.status as 'succeeded'] = (t.byStatus[row.status as 'succeeded'] ?? 0) + 1;
      tallies.set(r.stream, t);
    }
    this.events.push(`rows ${seq}`);
    return { tallies: [...tallies.values()], cacheable: { records: new Uint8Array(0), tooLarge: 0 } };
  }

  index(path: string, round: number, expected: ReadonlySet<string>) {
    return indexRound(path, round, expected);
  }

  async close(): Promise<void> {}
}

function answerOf(
  index: ResultIndex | undefined,
  files: Array<string | undefined>,
  customId: string,
): Partial<Row> | undefined {
  const at = index?.get(customId);
  const file = at && files[at.round];
  if (!at || !file) return undefined;
  const line = JSON.parse(
    readFileSync(file)
      .subarray(at.offset, at.offset + at.length)
      .toString('utf8'),
  ) as { result: { type: string; message?: { content: Array<{ text: string }> } } };
  return { status: line.result.type, ...(line.result.message ? { text: line.result.message.content[0]!.text } : {}) };
}

function emptyTally(stream: string, seq: number): StreamTally {
  const path = `memory://${stream}/part-${seq}`;
  const usage = { requests: 0, input: 0, output: 0, cacheRead: 0, cacheWrite: 0 };
  return {
    stream,
    namespace: null,
    path,
    paths: [path],
    rows: 0,
    byStatus: {},
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    billed: { ...usage },
    cachedUsage: { ...usage },
  };
}

/** Stdout as the test sees it: each protocol line, parsed, in order; STATE lines also go to `events`. */
export function stdout(events: string[]): { stream: PassThrough; lines: Array<Record<string, unknown>> } {
  const stream = new PassThrough();
  const lines: Array<Record<string, unknown>> = [];
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    for (let i = buffered.indexOf('\n'); i !== -1; i = buffered.indexOf('\n')) {
      const m = JSON.parse(buffered.slice(0, i)) as Record<string, unknown>;
      buffered = buffered.slice(i + 1);
      lines.push(m);
      if (m.type === 'STATE')
        events.push(
          `state ${JSON.stringify((m.state as { stream?: { stream_state?: unknown } }).stream?.stream_state)}`,
        );
    }
  });
  return { stream, lines };
}
