import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { answer, type CacheBook, type ResponderParams } from './responder.js';
import { ERROR_MESSAGES, type Faults } from './faults.js';
import { opaqueId, rfc3339, seededRandom, shuffleInPlace, unitHash } from './random.js';
import { EmulatedHttpError, validateParams, type BatchRequestInput } from './validate.js';

const HOUR = 3_600_000;
const PROCESSING_WINDOW_MS = 24 * HOUR;
const RESULTS_KEPT_MS = 29 * 24 * HOUR;
/** A cancel takes this long to settle into `ended`. */
const CANCEL_SETTLE_MS = 20;

export type ProcessingStatus = 'in_progress' | 'canceling' | 'ended';
export interface RequestCounts {
  processing: number;
  succeeded: number;
  errored: number;
  canceled: number;
  expired: number;
}
type ResultType = 'succeeded' | 'errored' | 'canceled' | 'expired';

/** One batch as the emulator keeps it. Results live on disk (one line per request), never in memory. */
interface StoredBatch {
  id: string;
  seq: number;
  createdAt: number;
  expiresAt: number;
  endedAt: number | null;
  cancelInitiatedAt: number | null;
  status: ProcessingStatus;
  total: number;
  processingMs: number;
  neverFinish: boolean;
  counts: RequestCounts;
  notFoundLeft: number;
}

export interface StoreOptions {
  dir: string;
  now: () => number;
  processingMs: (batchIndex: number) => number;
  faults: () => Faults;
  models: ReadonlySet<string>;
  seed: number;
  shuffleResults: boolean;
  keepRequests: boolean;
  minCacheableTokens: number;
  persist: boolean;
}

export interface MessageBatchView {
  id: string;
  type: 'message_batch';
  processing_status: ProcessingStatus;
  request_counts: RequestCounts;
  created_at: string;
  expires_at: string;
  ended_at: string | null;
  cancel_initiated_at: string | null;
  archived_at: string | null;
  results_url: string | null;
}

const notFound = () => new EmulatedHttpError(404, 'not_found_error', 'Not found');
const zeroCounts = (): RequestCounts => ({ processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 });

/** Batches and their lifecycle: in_progress → (canceling →) ended, driven lazily by the (virtual) clock. */
export class BatchStore {
  private readonly batches = new Map<string, StoredBatch>();
  private readonly requests = new Map<string, BatchRequestInput[]>();
  private readonly finalizing = new Map<string, Promise<void>>();
  private readonly failedTimes = new Map<string, number>();
  private readonly submitted = new Map<string, number>();
  private readonly cachedPrefixes = new Map<string, number>();
  private seq = 0;

  constructor(private readonly options: StoreOptions) {
    // Inside the destination's control folder when embedded: private, like the rest of the bookkeeping.
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    if (options.persist) this.load();
  }

  private load(): void {
    for (const name of readdirSync(this.options.dir)) {
      if (!name.endsWith('.meta.json')) continue;
      const batch = JSON.parse(readFileSync(join(this.options.dir, name), 'utf8')) as StoredBatch;
      this.batches.set(batch.id, batch);
      this.seq = Math.max(this.seq, batch.seq + 1);
    }
  }

  private save(batch: StoredBatch): void {
    if (this.options.persist) writeFileSync(join(this.options.dir, `${batch.id}.meta.json`), JSON.stringify(batch), { mode: 0o600 });
  }

  private pendingPath(id: string) {
    return join(this.options.dir, `${id}.pending`);
  }
  resultsPath(id: string) {
    return join(this.options.dir, `${id}.jsonl`);
  }

  /** How many times each custom_id has been submitted, across all batches. */
  submissions(): ReadonlyMap<string, number> {
    return this.submitted;
  }

  requestsOf(id: string): BatchRequestInput[] | undefined {
    return this.requests.get(id);
  }

  all(): StoredBatch[] {
    return [...this.batches.values()].sort((a, b) => a.seq - b.seq);
  }

  async create(requests: BatchRequestInput[]): Promise<StoredBatch> {
    const now = this.options.now();
    const faults = this.options.faults();
    const id = opaqueId('msgbatch_');
    const batch: StoredBatch = {
      id,
      seq: this.seq++,
      createdAt: now,
      expiresAt: now + PROCESSING_WINDOW_MS,
      endedAt: null,
      cancelInitiatedAt: null,
      status: 'in_progress',
      total: requests.length,
      processingMs: this.options.processingMs(this.seq - 1),
      neverFinish: faults.neverFinish,
      counts: zeroCounts(),
      notFoundLeft: faults.notFoundAfterCreate,
    };
    // Answers are decided now, in request order (so prompt-cache writes precede reads), then shuffled.
    const lines = requests.map((request, index) => `${index}\t${this.decide(request, faults)}`);
    if (this.options.shuffleResults) shuffleInPlace(lines, seededRandom(this.options.seed + batch.seq));
    const out = createWriteStream(this.pendingPath(id), { mode: 0o600 });
    for (const line of lines) if (!out.write(line + '\n')) await once(out, 'drain');
    out.end();
    await once(out, 'finish');
    for (const r of requests) this.submitted.set(r.custom_id, (this.submitted.get(r.custom_id) ?? 0) + 1);
    if (this.options.keepRequests) this.requests.set(id, requests);
    this.batches.set(id, batch);
    this.save(batch);
    return batch;
  }

  /** `type \t custom_id \t result-line` for one request. */
  private decide(request: BatchRequestInput, faults: Faults): string {
    const id = request.custom_id;
    const line = (type: ResultType, result: unknown) => `${type}\t${id}\t${JSON.stringify({ custom_id: id, result })}`;
    const failsFirst = (kind: string, share: number, attempts: number) => {
      if (share <= 0 || unitHash(kind, id) >= share) return false;
      const key = `${kind}:${id}`;
      const times = this.failedTimes.get(key) ?? 0;
      if (times >= attempts) return false;
      this.failedTimes.set(key, times + 1);
      return true;
    };
    const problem = validateParams(request.params, this.options.models);
    if (problem) return line('errored', errorBody(problem.type, problem.message));
    if (failsFirst('errored', faults.erroredShare, faults.erroredAttempts)) {
      return line('errored', errorBody(faults.erroredType, ERROR_MESSAGES[faults.erroredType] ?? 'Error'));
    }
    if (failsFirst('expired', faults.expiredShare, faults.expiredAttempts)) return line('expired', { type: 'expired' });
    const params = request.params as unknown as ResponderParams;
    const invalidOutput = faults.invalidOutputShare > 0 && unitHash('invalid', id) < faults.invalidOutputShare;
    const a = answer(params, this.cacheBook(), this.options.minCacheableTokens, invalidOutput);
    return line('succeeded', {
      type: 'succeeded',
      message: {
        id: opaqueId('msg_emulator_'),
        type: 'message',
        role: 'assistant',
        model: params.model,
        content: [{ type: 'text', text: a.text, citations: null }],
        stop_reason: a.stopReason,
        stop_sequence: null,
        stop_details: null,
        container: null,
        diagnostics: null,
        usage: {
          input_tokens: a.inputTokens,
          output_tokens: a.outputTokens,
          cache_creation_input_tokens: a.cacheWriteTokens,
          cache_read_input_tokens: a.cacheReadTokens,
          cache_creation: {
            ephemeral_1h_input_tokens: a.cacheTtl === '1h' ? a.cacheWriteTokens : 0,
            ephemeral_5m_input_tokens: a.cacheTtl === '5m' ? a.cacheWriteTokens : 0,
          },
          inference_geo: null,
          output_tokens_details: null,
          server_tool_use: null,
          service_tier: 'batch',
          speed: null,
        },
      },
    });
  }

  private cacheBook(): CacheBook {
    const now = this.options.now();
    return {
      touch: (key, ttlMs) => {
        const until = this.cachedPrefixes.get(key);
        this.cachedPrefixes.set(key, Math.max(until ?? 0, now + ttlMs));
        if (this.cachedPrefixes.size > 10_000) this.cachedPrefixes.delete(this.cachedPrefixes.keys().next().value!);
        return until !== undefined && until > now;
      },
    };
  }

  /** The batch as of now: moves it along its lifecycle first. 404 for unknown or deleted ids. */
  async get(id: string, countsAsEarlyLookup = false): Promise<StoredBatch> {
    const batch = this.batches.get(id);
    if (!batch) throw notFound();
    if (countsAsEarlyLookup && batch.notFoundLeft > 0) {
      batch.notFoundLeft--;
      throw notFound();
    }
    await this.advance(batch);
    return batch;
  }

  /**
   * Ends the batch if, by now, it has ended: at whichever comes first of finishing, a cancel settling, or the
   * 24 h deadline. `ended_at` is that moment, not the moment someone happened to look.
   */
  private async advance(batch: StoredBatch): Promise<void> {
    if (batch.status === 'ended') return;
    const processedShare = (at: number) =>
      batch.neverFinish ? 0 : batch.processingMs <= 0 ? 1 : Math.min(1, (at - batch.createdAt) / batch.processingMs);
    const finishAt = batch.neverFinish ? Infinity : batch.createdAt + Math.max(0, batch.processingMs);
    const cancelAt = batch.cancelInitiatedAt === null ? Infinity : batch.cancelInitiatedAt + CANCEL_SETTLE_MS;
    const endAt = Math.min(finishAt, cancelAt, batch.expiresAt);
    if (this.options.now() < endAt) return;
    if (endAt === finishAt) await this.finalize(batch, 'expired', 1, endAt);
    else if (endAt === cancelAt) await this.finalize(batch, 'canceled', processedShare(batch.cancelInitiatedAt!), endAt);
    else await this.finalize(batch, 'expired', processedShare(batch.expiresAt), endAt);
  }

  /** Writes the final results file: requests not processed by now become `unprocessedAs`. */
  private finalize(batch: StoredBatch, unprocessedAs: 'canceled' | 'expired', processedShare: number, endedAt: number): Promise<void> {
    const running = this.finalizing.get(batch.id);
    if (running) return running;
    const done = (async () => {
      const processed = Math.floor(batch.total * processedShare);
      const counts = zeroCounts();
      const out = createWriteStream(this.resultsPath(batch.id), { mode: 0o600 });
      const damage = this.resultsDamage(batch);
      const lines = createInterface({ input: createReadStream(this.pendingPath(batch.id)), crlfDelay: Infinity });
      for await (const line of lines) {
        const [index, type, customId] = line.split('\t', 3) as [string, ResultType, string];
        let text: string;
        let finalType = type;
        if (Number(index) < processed) text = line.slice(index.length + type.length + customId.length + 3);
        else {
          finalType = unprocessedAs;
          text = JSON.stringify({ custom_id: customId, result: { type: unprocessedAs } });
        }
        counts[finalType]++;
        for (const piece of damage.line(customId, text)) if (!out.write(piece)) await once(out, 'drain');
      }
      for (const piece of damage.end()) if (!out.write(piece)) await once(out, 'drain');
      out.end();
      await once(out, 'finish');
      rmSync(this.pendingPath(batch.id), { force: true });
      batch.counts = counts;
      batch.status = 'ended';
      batch.endedAt = endedAt;
      this.save(batch);
    })();
    this.finalizing.set(batch.id, done);
    return done.finally(() => this.finalizing.delete(batch.id));
  }

  /**
   * The results-file faults for one batch, as a filter over its lines in file order: each line comes out as
   * itself, as junk, or not at all; stray lines for custom_ids never sent are spread through the file. Counts
   * (request_counts) are not changed: the file disagrees with them, as a damaged download would.
   */
  private resultsDamage(batch: StoredBatch): { line: (customId: string, text: string) => Array<string | Buffer>; end: () => Array<string | Buffer> } {
    const f = this.options.faults();
    const random = seededRandom(this.options.seed * 31 + batch.seq);
    let written = 0;
    let malformed = 0;
    let strays = Math.max(0, Math.floor(f.resultsStrayLines));
    // Spread the stray lines: each of the batch's lines is followed by one with this chance.
    const strayChance = batch.total > 0 ? strays / batch.total : 1;
    const hit = (customId: string): boolean => {
      const key = `results:${customId}`;
      const times = this.failedTimes.get(key) ?? 0;
      if (times >= f.resultsFaultAttempts) return false;
      this.failedTimes.set(key, times + 1);
      return true;
    };
    const stray = (): string => {
      const customId = `stray_${opaqueId('', 12)}`;
      const message = {
        id: opaqueId('msg_emulator_'),
        type: 'message',
        role: 'assistant',
        model: 'claude-haiku-4-5',
        content: [{ type: 'text', text: '[emulator] an answer to a request nobody sent', citations: null }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: 10, output_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      };
      return JSON.stringify({ custom_id: customId, result: { type: 'succeeded', message } }) + '\n';
    };
    const straysAfter = (): string[] => {
      const out: string[] = [];
      if (strays > 0 && random() < strayChance) {
        strays--;
        out.push(stray());
      }
      return out;
    };
    return {
      line: (customId, text) => {
        const truncated = f.resultsTruncateAfterLines !== undefined && written >= f.resultsTruncateAfterLines;
        if (truncated && hit(customId)) return [];
        if (f.resultsMissingShare > 0 && unitHash('results-missing', customId) < f.resultsMissingShare && hit(customId)) return straysAfter();
        if (malformed < f.resultsMalformedLines && hit(customId)) {
          written++;
          return [malformedLine(customId, text, malformed++), ...straysAfter()];
        }
        if (f.resultsUnknownTypeShare > 0 && unitHash('results-unknown', customId) < f.resultsUnknownTypeShare) {
          text = JSON.stringify({ custom_id: customId, result: { type: 'deferred', deferred_until: rfc3339(this.options.now() + HOUR) } });
        }
        written++;
        return [text + '\n', ...straysAfter()];
      },
      end: () => {
        const out: string[] = [];
        // Strays not placed yet go last (unless the file was cut short: it ends where it was cut).
        if (f.resultsTruncateAfterLines === undefined) while (strays-- > 0) out.push(stray());
        return out;
      },
    };
  }

  async cancel(id: string): Promise<StoredBatch> {
    const batch = await this.get(id);
    if (batch.status === 'ended') throw new EmulatedHttpError(400, 'invalid_request_error', `Batch ${id} has already ended and cannot be canceled`);
    if (batch.status === 'in_progress') {
      batch.status = 'canceling';
      batch.cancelInitiatedAt = this.options.now();
      this.save(batch);
    }
    return batch;
  }

  async delete(id: string): Promise<void> {
    const batch = await this.get(id);
    if (batch.status !== 'ended') {
      throw new EmulatedHttpError(400, 'invalid_request_error', `Batch ${id} is still processing; cancel it and wait for it to end before deleting`);
    }
    this.batches.delete(id);
    this.requests.delete(id);
    for (const path of [this.resultsPath(id), join(this.options.dir, `${id}.meta.json`)]) rmSync(path, { force: true });
  }

  /** The results file of an ended batch, or the API's refusal. */
  async resultsFile(id: string): Promise<string> {
    const batch = await this.get(id, true);
    if (batch.status !== 'ended') throw new EmulatedHttpError(400, 'invalid_request_error', `Batch ${id} has not finished processing; results are not available yet`);
    if (this.isArchived(batch) || !existsSync(this.resultsPath(id))) throw notFound();
    return this.resultsPath(id);
  }

  private isArchived(batch: StoredBatch): boolean {
    return this.options.now() >= batch.createdAt + RESULTS_KEPT_MS;
  }

  view(batch: StoredBatch, origin: string): MessageBatchView {
    const ended = batch.status === 'ended';
    return {
      id: batch.id,
      type: 'message_batch',
      processing_status: batch.status,
      request_counts: ended ? { ...batch.counts } : { ...zeroCounts(), processing: batch.total },
      created_at: rfc3339(batch.createdAt),
      expires_at: rfc3339(batch.expiresAt),
      ended_at: batch.endedAt === null ? null : rfc3339(batch.endedAt),
      cancel_initiated_at: batch.cancelInitiatedAt === null ? null : rfc3339(batch.cancelInitiatedAt),
      archived_at: this.isArchived(batch) ? rfc3339(batch.createdAt + RESULTS_KEPT_MS) : null,
      results_url: ended ? `${origin}/v1/messages/batches/${batch.id}/results` : null,
    };
  }

  close(removeFiles: boolean): void {
    if (removeFiles) rmSync(this.options.dir, { recursive: true, force: true });
  }
}

/** The n-th junk line that stands in for a real one: what a damaged results file can hold. */
function malformedLine(customId: string, text: string, n: number): string | Buffer {
  switch (n % 6) {
    case 0:
      return text.slice(0, Math.max(1, Math.floor(text.length / 2))) + '\n'; // cut off mid-object
    case 1:
      return '<html><body>502 Bad Gateway</body></html>\n'; // not JSON at all
    case 2:
      return Buffer.concat([Buffer.from(`{"custom_id":"${customId}","result":{"type":"succeeded","note":"`), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}}\n')]);
    case 3:
      return JSON.stringify({ custom_id: customId }) + '\n'; // JSON, but no result
    case 4:
      return JSON.stringify([customId, 'succeeded']) + '\n'; // JSON, not an object
    default:
      return '\n'; // a blank line (the SDK's JSONL decoder throws on it)
  }
}

export function errorBody(type: string, message: string): Record<string, unknown> {
  return { type: 'errored', error: { type: 'error', error: { type, message }, request_id: null } };
}
